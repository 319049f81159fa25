"""Body storage against the database: verify every file and pack, remove orphans, repair checksums, migrate."""

import hashlib
import itertools
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.db.models.functions import Collate

from messages_app import bodies, packs, search
from messages_app.models import Message, Pack, Revision
from messages_app.operations.common import CHUNK, Progress, no_progress
from messages_app.operations.packing import packs_retire_unused

# A file younger than this may belong to a save still in flight: not yet an orphan.
ORPHAN_GRACE_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class StorageFinding:
    kind: Literal["missing", "orphan", "size", "checksum", "current", "pack", "packed", "unused"]
    key: str
    detail: str
    revision_id: int | None = None
    pack_id: int | None = None
    actual_size: int | None = None
    actual_sha256: str | None = None


@dataclass(slots=True)
class StorageReport:
    revisions: int = 0
    files: int = 0
    packs: int = 0
    young_files: int = 0
    findings: list[StorageFinding] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for finding in self.findings if finding.kind == kind)


def _in_key_order(field: str):
    # Storage lists keys in byte order; PostgreSQL's default collation does not sort that way.
    return Collate(field, "C") if connection.vendor == "postgresql" else field


def _revisions_in_key_order() -> Iterator[tuple[int, str, int, str]]:
    """Yield the versions in files of their own (packed ones are checked pack by pack)."""
    return (
        Revision.objects.filter(pack__isnull=True)
        .order_by(_in_key_order("body_key"))
        .values_list("id", "body_key", "size", "sha256")
        .iterator(chunk_size=CHUNK)
    )


def _packs_in_key_order() -> Iterator[tuple[int, str, int, str]]:
    return Pack.objects.order_by(_in_key_order("key")).values_list("id", "key", "size", "sha256").iterator(CHUNK)


def _merged_by_key(
    revisions: Iterator[tuple[int, str, int, str]], files: Iterator[bodies.ListedBody]
) -> Iterator[tuple[tuple[int, str, int, str] | None, bodies.ListedBody | None]]:
    """Pair revisions with listed files, both sorted by key in byte order.

    Yields (revision, file) for a key both have, and None on the side that lacks it. A merge
    of two sorted streams: neither side is ever loaded whole.
    """
    revision = next(revisions, None)
    listed = next(files, None)
    while revision is not None or listed is not None:
        if listed is None or (revision is not None and revision[1] < listed.key):
            yield revision, None
            revision = next(revisions, None)
        elif revision is None or listed.key < revision[1]:
            yield None, listed
            listed = next(files, None)
        else:
            yield revision, listed
            revision = next(revisions, None)
            listed = next(files, None)


def storage_verify(
    *, checksums: bool = True, orphan_grace_seconds: int = ORPHAN_GRACE_SECONDS, progress: Progress = no_progress
) -> StorageReport:
    """Compare every revision with the body files: missing files, orphans, size and sha256 mismatches."""
    report = StorageReport()
    now = time.time()
    for revision, listed in _merged_by_key(_revisions_in_key_order(), bodies.body_listing()):
        if listed is None:
            revision_id, key, _, _ = revision
            report.revisions += 1
            if _still_in_its_file(revision_id):
                report.findings.append(StorageFinding("missing", key, "no file for this revision", revision_id))
            progress(1)
        elif revision is None:
            _unclaimed(report, listed, now - orphan_grace_seconds, "no revision points to this file")
        else:
            revision_id, key, size, sha256 = revision
            report.revisions += 1
            report.files += 1
            report.findings.extend(_check_file(revision_id, key, size, sha256, listed.size, checksums))
            progress(1)
    for pack, listed in _merged_by_key(_packs_in_key_order(), bodies.pack_listing()):
        if pack is None:
            # A young one may still be written, or written and not yet pointed at.
            _unclaimed(report, listed, now - orphan_grace_seconds, "a pack no version points into")
            continue
        report.packs += 1
        report.files += listed is not None
        checked = _check_pack(pack, listed, checksums, report.findings)
        report.revisions += checked
        progress(checked)
    report.findings.extend(_messages_not_at_their_current_revision())
    return report


def _unclaimed(report: StorageReport, listed: bodies.ListedBody, grace_ends: float, detail: str) -> None:
    """Count a file no row points to: an orphan, unless younger than the grace (a write in flight)."""
    report.files += 1
    if listed.modified_at > grace_ends:
        report.young_files += 1
    else:
        report.findings.append(StorageFinding("orphan", listed.key, detail))


def _check_pack(pack: tuple[int, str, int, str], listed, checksums: bool, findings: list[StorageFinding]) -> int:
    """Check one pack file and, when reading, every version in it; return how many versions it holds."""
    pack_id, key, size, sha256 = pack
    versions = list(
        Revision.objects.filter(pack_id=pack_id)
        .order_by("pack_offset")
        .values_list("id", "body_key", "sha256", "pack_offset", "pack_length")
    )
    if (not versions or listed is None) and not Pack.objects.filter(pk=pack_id).exists():
        return 0  # retired by pack_revisions since the packs were read
    if not versions:
        findings.append(StorageFinding("unused", key, "no version points into this pack", pack_id=pack_id))
    if listed is None:
        detail = f"the pack is missing: {len(versions)} versions cannot be read"
        findings.append(StorageFinding("missing", key, detail, pack_id=pack_id))
        return len(versions)
    if listed.size != size:
        findings.append(
            StorageFinding("pack", key, f"pack has {listed.size} bytes, the database says {size}", pack_id=pack_id)
        )
    if not checksums:
        return len(versions)
    try:
        data = bodies.pack_read(key)
    except FileNotFoundError:
        if Pack.objects.filter(pk=pack_id).exists():
            detail = f"the pack is missing: {len(versions)} versions cannot be read"
            findings.append(StorageFinding("missing", key, detail, pack_id=pack_id))
        return len(versions)
    if hashlib.sha256(data).hexdigest() != sha256:
        detail = f"the pack's sha256 differs from the recorded {sha256}"
        findings.append(StorageFinding("pack", key, detail, pack_id=pack_id))
    for revision_id, body_key, version_sha256, offset, length in versions:
        problem = _packed_version_problem(data[offset : offset + length], length, version_sha256)
        if problem:
            findings.append(
                StorageFinding("packed", key, f"{body_key} ({problem})", revision_id=revision_id, pack_id=pack_id)
            )
    return len(versions)


def _packed_version_problem(data: bytes, length: int, sha256: str) -> str | None:
    if len(data) != length:
        return "its range runs past the end of the pack"
    try:
        text = packs.version_decode(data)
    except packs.PackDamaged as error:
        return f"does not decode: {error}"
    if hashlib.sha256(text).hexdigest() != sha256:
        return f"decodes to other text than its sha256 {sha256}"
    return None


def _check_file(revision_id: int, key: str, size: int, sha256: str, listed_size: int, checksums: bool):
    if listed_size != size:
        yield StorageFinding(
            "size", key, f"file has {listed_size} bytes, the revision says {size}", revision_id, actual_size=listed_size
        )
        return
    if checksums:
        try:
            actual = hashlib.sha256(bodies.body_read_bytes(key)).hexdigest()
        except FileNotFoundError:
            if _still_in_its_file(revision_id):
                yield StorageFinding("missing", key, "no file for this revision", revision_id)
            return
        if actual != sha256:
            yield StorageFinding(
                "checksum",
                key,
                f"sha256 {actual} differs from the recorded {sha256}",
                revision_id,
                actual_size=listed_size,
                actual_sha256=actual,
            )


def _still_in_its_file(revision_id: int) -> bool:
    # The rows and the listing are read over minutes: pack_revisions may have packed the
    # version (and deleted its file), or purge_deleted removed it, since its row was read.
    return Revision.objects.filter(pk=revision_id, pack__isnull=True).exists()


def _messages_not_at_their_current_revision() -> Iterator[StorageFinding]:
    current = Revision.objects.filter(
        message=OuterRef("pk"), version=OuterRef("version"), body_key=OuterRef("body_key")
    )
    mismatched = Message.objects.filter(~Exists(current)).values_list("id", "version", "body_key")
    for message_id, version, key in mismatched.iterator(chunk_size=CHUNK):
        yield StorageFinding("current", key, f"message {message_id} points at no revision {version} with this file")


def storage_delete_orphans(report: StorageReport) -> int:
    """Delete the orphan files a verification found, and retire the packs no version points into.

    Returns how many files went. A leftover of a packed version is an orphan like any other:
    its row points into a pack, and a reader that still held the old row reads it again.
    """
    deleted = 0
    for finding in report.findings:
        if finding.kind == "orphan":
            bodies.body_delete(finding.key)
            deleted += 1
    unused = [finding.pack_id for finding in report.findings if finding.kind == "unused"]
    return deleted + (packs_retire_unused(unused) if unused else 0)


def storage_repair_checksums(report: StorageReport) -> int:
    """Record the files' actual size and sha256 where they differ: the file is the truth."""
    repaired = 0
    for finding in report.findings:
        if finding.kind not in {"size", "checksum"}:
            continue
        data = bodies.body_read_bytes(finding.key)
        size, sha256 = len(data), hashlib.sha256(data).hexdigest()
        with transaction.atomic():
            Revision.objects.filter(pk=finding.revision_id).update(size=size, sha256=sha256)
            for message in Message.objects.filter(body_key=finding.key):
                message.size, message.sha256 = size, sha256
                message.save(update_fields=["size", "sha256"])
                # The text searched is the file's too, under the same version.
                search.document_put(
                    message_id=message.pk,
                    version=message.version,
                    subject=message.subject,
                    body=data.decode("utf-8", errors="replace"),
                    sha256=sha256,
                )
        # A text cached before the damage would keep some readers on other content than the
        # recorded checksum now describes.
        bodies.body_uncache(finding.key)
        repaired += 1
    return repaired


@dataclass(slots=True)
class MigrationReport:
    copied: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)


class StorageUnreachable(Exception):
    """The storage to migrate to does not answer: nothing was copied."""


def storage_migrate(*, to: str, jobs: int = 8, progress: Progress = no_progress) -> MigrationReport:
    """Copy every body file from the storage in use to the ``to`` storage, verifying each copy.

    Keys already there with the right sha256 are skipped, so an interrupted run resumes.
    Nothing is deleted from the source. Object stores answer in tens of milliseconds, so
    ``jobs`` copies run at once; at most a few chunks of keys are in flight at any time.
    """
    target = bodies.storage_for(to)
    source = bodies.messages_storage()
    try:
        # A wrong bucket or credentials would otherwise fail once per file, millions of times.
        next(bodies.body_listing(target), None)
    except Exception as error:
        raise StorageUnreachable(f"the {to!r} storage cannot be listed: {error}") from error
    report = MigrationReport()
    # Keys the target lists already are read back to compare checksums; the others are copied
    # straight away: a fresh migration costs a write and a read-back per file, not three requests.
    pairs = itertools.chain(
        _merged_by_key(_revisions_in_key_order(), bodies.body_listing(target)),
        _merged_by_key(_packs_in_key_order(), bodies.pack_listing(target)),
    )
    copies = ((revision, listed is not None) for revision, listed in pairs if revision is not None)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        while chunk := list(itertools.islice(copies, CHUNK)):
            outcomes = pool.map(lambda copy: _copy_one(copy[0][1], copy[0][3], copy[1], source, target), chunk)
            for outcome in outcomes:
                if outcome == "copied":
                    report.copied += 1
                elif outcome == "skipped":
                    report.skipped += 1
                else:
                    report.failures.append(outcome)
            progress(len(chunk))
    return report


def _copy_one(key: str, sha256: str, listed_in_target: bool, source, target) -> str:
    try:
        if listed_in_target and _sha256_of(key, target) == sha256:
            return "skipped"
        try:
            data = bodies.body_read_bytes(key, source)
        except FileNotFoundError:
            return f"{key}: missing from the source"
        if hashlib.sha256(data).hexdigest() != sha256:
            return f"{key}: the source file does not match its recorded sha256; not copied"
        bodies.body_copy(key, data, to=target)
        if _sha256_of(key, target) != sha256:
            return f"{key}: the copy does not read back with the recorded sha256"
    except Exception as error:
        # One file's dropped connection or throttled request must not stop a copy of millions:
        # it is reported, the run exits non-zero, and the next run copies what is left.
        return f"{key}: {type(error).__name__}: {error}"
    return "copied"


def _sha256_of(key: str, storage) -> str | None:
    try:
        return hashlib.sha256(bodies.body_read_bytes(key, storage)).hexdigest()
    except FileNotFoundError:
        return None
