"""Packing old versions: many small files become a few packs (packs.py), without a moment unreadable.

Each pack is made in three steps, in this order, so a crash anywhere leaves every version
readable: (1) the pack is written and made durable under a new key; (2) one transaction points
the versions at their ranges in it (and drops the rows of packs it empties); (3) the files the
versions left, or the packs they left, are deleted. A crash after (1) leaves a pack nobody
points to, after (2) files nobody points to: verify_storage --delete-orphans removes both. A
reader that read a row before (2) and finds its file gone after (3) reads the row again
(history_selectors.revision_body).
"""

import itertools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from messages_app import bodies, packs
from messages_app.models import Message, Pack, Revision
from messages_app.operations.common import CHUNK, Progress, no_progress

# A pack closes once it holds this many bytes or versions: a repack rewrites at most this much,
# the packer's memory stays within one pack whatever the board's size, and the transaction
# pointing a pack's versions at it is short (on SQLite a save waits for it).
PACK_TARGET_BYTES = 8 << 20
PACK_MAX_VERSIONS = 5_000
# A pack whose live versions fall below this share of those written is rewritten. At 1, any
# version purge_deleted removed (or a run beside this one packed first) gets the pack
# rewritten at the next run, so a purged message's text leaves the disk within a night.
REPACK_BELOW = 1.0


@dataclass(slots=True)
class PackReport:
    versions: int = 0  # versions moved into new packs (repacked ones included)
    text_bytes: int = 0  # their size as text
    packs_written: int = 0
    pack_bytes: int = 0
    packs_retired: int = 0
    files_deleted: int = 0
    file_errors: int = 0
    skipped: list[str] = field(default_factory=list)  # versions left where they are, and why


@dataclass(frozen=True, slots=True)
class _Version:
    revision_id: int
    message_id: int
    version: int
    key: str
    size: int
    sha256: str
    pack_id: int | None  # where it is now: None for its own file


@dataclass(slots=True)
class _Batch:
    builder: packs.PackBuilder = field(default_factory=packs.PackBuilder)
    placed: list[tuple[_Version, packs.PackedRange]] = field(default_factory=list)


def revisions_pack(
    *,
    older_than: timedelta,
    dry_run: bool = False,
    jobs: int = 4,
    repack_below: float = REPACK_BELOW,
    progress: Progress = no_progress,
) -> PackReport:
    """Pack every version that is no longer current and older than ``older_than``, then repack
    packs that purges have thinned below ``repack_below`` of their versions.

    Resumable: each pack is committed on its own, and a version already packed is not read
    again. Runs beside a live board: the save path never waits for it (it locks only the rows
    of old versions, which no save changes). ``jobs`` files are read and deleted at once.
    """
    report = PackReport()
    cutoff = timezone.now() - older_than
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        _pack_loose(cutoff, report, pool, dry_run, progress)
        _repack_thinned(repack_below, report, pool, dry_run, progress)
    return report


def _pack_loose(cutoff, report: PackReport, pool: ThreadPoolExecutor, dry_run: bool, progress: Progress) -> None:
    batch = _Batch()
    for chunk in _chunks(_loose_versions(cutoff)):
        if dry_run:
            report.versions += len(chunk)
            report.text_bytes += sum(version.size for version in chunk)
            progress(len(chunk))
            continue
        texts = pool.map(_read_loose, chunk)
        for version, text in zip(chunk, texts, strict=True):
            _place(batch, version, text, report)
            if batch.builder.size >= PACK_TARGET_BYTES or batch.builder.versions >= PACK_MAX_VERSIONS:
                _commit(batch, report, pool)
                batch = _Batch()
        progress(len(chunk))
    if batch.placed:
        _commit(batch, report, pool)


def _loose_versions(cutoff) -> Iterator[_Version]:
    """Yield the versions in files of their own that stopped being current before the cutoff.

    A version stopped being current when the next one was saved: a version saved long ago but
    replaced a moment ago is still what readers who read the message a moment ago will open.
    Messages are walked a batch at a time by primary key, then their loose versions through
    the index of loose versions in keyset pages: whatever plan a database picks, a query takes
    in the rows of one batch of messages, never every loose version (a run after a crash, or
    the next night's, reads the current versions and what is left, not the millions packed).
    """
    replaced_before_cutoff = Revision.objects.filter(
        message_id=OuterRef("message_id"), version=OuterRef("version") + 1, created_at__lt=cutoff
    )
    loose = (
        Revision.objects.filter(pack__isnull=True)
        .filter(Exists(replaced_before_cutoff))
        .order_by("message_id", "version")
    )
    fields = ("id", "message_id", "version", "body_key", "size", "sha256")
    walked = 0
    while batch := list(Message.objects.filter(id__gt=walked).order_by("id").values_list("id", flat=True)[:CHUNK]):
        highest = batch[-1]
        message_id, version = walked, 0
        while True:
            rows = []
            if version:
                rows = list(loose.filter(message_id=message_id, version__gt=version).values_list(*fields)[:CHUNK])
            if not rows:
                rows = list(
                    loose.filter(message_id__gt=message_id, message_id__lte=highest).values_list(*fields)[:CHUNK]
                )
            if not rows:
                break
            for row in rows:
                yield _Version(*row, pack_id=None)
            message_id, version = rows[-1][1], rows[-1][2]
        walked = highest


def _chunks(versions: Iterator[_Version]) -> Iterator[list[_Version]]:
    while chunk := list(itertools.islice(versions, CHUNK)):
        yield chunk


def _read_loose(version: _Version) -> bytes | str:
    """Return a version's bytes, or why it stays where it is."""
    try:
        return bodies.body_read_bytes(version.key)
    except FileNotFoundError:
        return f"{version.key}: no file (verify_storage reports it)"
    except OSError as error:
        return f"{version.key}: {error}"


def _place(batch: _Batch, version: _Version, text: bytes | str, report: PackReport) -> None:
    if isinstance(text, str):
        report.skipped.append(text)
        return
    if len(text) > packs.MAX_TEXT_BYTES:
        report.skipped.append(f"{version.key}: {len(text)} bytes, over what a pack holds; left in its file")
        return
    try:
        packed = batch.builder.add(version.message_id, text, version.sha256)
    except packs.PackDamaged:
        report.skipped.append(f"{version.key}: does not match its sha256 (verify_storage reports it)")
        return
    batch.placed.append((version, packed))


def _commit(batch: _Batch, report: PackReport, pool: ThreadPoolExecutor) -> None:
    """Write the batch's pack, point its versions at it, then delete what they leave behind."""
    stored = bodies.pack_save(batch.builder.data())
    moved, emptied_packs = _point_at_pack(stored, batch)
    if not moved:
        # Another run packed these versions first: this pack holds nothing anyone reads.
        bodies.pack_delete(stored.key)
        return
    report.packs_written += 1
    report.pack_bytes += stored.size
    report.versions += len(moved)
    report.text_bytes += sum(version.size for version in moved)
    leftovers = iter([version.key for version in moved if version.pack_id is None] + emptied_packs)
    # A chunk at a time: a future per file of a pack's fifty thousand would cost more memory than the pack.
    while keys := list(itertools.islice(leftovers, CHUNK)):
        for deleted in pool.map(_delete_quietly, keys):
            if deleted:
                report.files_deleted += 1
            else:
                report.file_errors += 1
    report.packs_retired += len(emptied_packs)


def _point_at_pack(stored: bodies.StoredBody, batch: _Batch) -> tuple[list[_Version], list[str]]:
    """In one transaction: point the versions still where the batch found them at the new pack.

    Returns the versions moved and the keys of the packs this left without versions (their
    rows are deleted in the same transaction; their files may go once it commits).
    """
    ranges = {version.revision_id: (version, packed) for version, packed in batch.placed}
    with transaction.atomic(durable=True):
        # Locked and re-checked: a purge may have removed some, or a run beside this one
        # packed them. Only rows still where the batch read them move.
        still_there = []
        # In id order, as every packer and purge locks them: two never wait on each other in a circle.
        for ids in itertools.batched(sorted(ranges), CHUNK):
            rows = Revision.objects.filter(id__in=ids).order_by("id").select_for_update().values_list("id", "pack_id")
            still_there += [revision_id for revision_id, pack_id in rows if pack_id == ranges[revision_id][0].pack_id]
        if not still_there:
            return [], []
        pack = Pack.objects.create(key=stored.key, size=stored.size, sha256=stored.sha256, versions=len(ranges))
        for ids in itertools.batched(still_there, CHUNK):
            _point_rows(pack.pk, [(revision_id, ranges[revision_id][1]) for revision_id in ids])
        sources = {ranges[revision_id][0].pack_id for revision_id in still_there} - {None}
        emptied = list(
            Pack.objects.filter(pk__in=sources)
            .exclude(pk__in=Revision.objects.filter(pack_id__in=sources).values("pack_id"))
            .values_list("pk", "key")
        )
        Pack.objects.filter(pk__in=[pk for pk, _ in emptied]).delete()
    return [ranges[revision_id][0] for revision_id in still_there], [key for _, key in emptied]


def _point_rows(pack_id: int, rows: list[tuple[int, packs.PackedRange]]) -> None:
    """Point revisions at their ranges of a pack in one statement.

    One statement, not one per row: PostgreSQL's storage-counter trigger on revisions runs once
    per statement (migration 0016), and a pack holds thousands of versions.
    """
    table = Revision._meta.db_table
    # Cast on both databases: PostgreSQL types a VALUES list of bound parameters as text.
    values = ", ".join(["(CAST(%s AS bigint), CAST(%s AS bigint), CAST(%s AS integer))"] * len(rows))
    parameters = [pack_id]
    for revision_id, packed in rows:
        parameters += (revision_id, packed.offset, packed.length)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET pack_id = %s, pack_offset = v.column2, pack_length = v.column3 "
            f"FROM (VALUES {values}) AS v WHERE {table}.id = v.column1",
            parameters,
        )


def _delete_quietly(key: str) -> bool:
    try:
        bodies.body_delete(key)
    except OSError:
        return False
    return True


def _repack_thinned(
    repack_below: float, report: PackReport, pool: ThreadPoolExecutor, dry_run: bool, progress: Progress
) -> None:
    """Rewrite the packs whose live versions fell below ``repack_below``; retire those with none."""
    batch = _Batch()
    for pack_id, key, live in _thinned_packs(repack_below):
        if dry_run:
            report.packs_retired += 1
            report.versions += live
            continue
        if live == 0:
            report.packs_retired += packs_retire_unused([pack_id])
            continue
        try:
            data = bodies.pack_read(key)
        except OSError as error:
            report.skipped.append(f"{key}: cannot be read for repacking: {error}")
            continue
        for version, text in _versions_of_pack(pack_id, data):
            _place(batch, version, text, report)
        if batch.builder.size >= PACK_TARGET_BYTES or batch.builder.versions >= PACK_MAX_VERSIONS:
            _commit(batch, report, pool)
            batch = _Batch()
        progress(live)
    if batch.placed:
        _commit(batch, report, pool)


def _thinned_packs(repack_below: float) -> Iterator[tuple[int, str, int]]:
    # Pages by id, each a list: the caller commits between them, which SQLite would not allow
    # beside a cursor still reading.
    thinned = (
        Pack.objects.annotate(live=Count("revisions"))
        .filter(Q(live=0) | Q(live__lt=F("versions") * repack_below))
        .order_by("id")
        .values_list("id", "key", "live")
    )
    last_id = 0
    while page := list(thinned.filter(id__gt=last_id)[:CHUNK]):
        yield from page
        last_id = page[-1][0]


def _versions_of_pack(pack_id: int, data: bytes) -> Iterator[tuple[_Version, bytes | str]]:
    # At most PACK_MAX_VERSIONS small tuples: a pack's rows are read in one go.
    rows = list(
        Revision.objects.filter(pack_id=pack_id)
        .order_by("message_id", "version")
        .values_list("id", "message_id", "version", "body_key", "size", "sha256", "pack_offset", "pack_length")
    )
    for *fields, offset, length in rows:
        version = _Version(*fields, pack_id=pack_id)
        try:
            yield version, packs.version_decode(data[offset : offset + length])
        except packs.PackDamaged as error:
            yield version, f"{version.key} in pack {pack_id}: {error}"


def packs_retire_unused(pack_ids: list[int]) -> int:
    """Retire the packs among ``pack_ids`` that no version points into: the row, then the file.

    No version is ever pointed at an existing pack (only at a new one), so a pack found empty
    stays empty; deleting its row first means no reader can be sent to the file afterwards.
    """
    retired = 0
    for pack_id, key in Pack.objects.filter(pk__in=pack_ids).values_list("pk", "key"):
        with transaction.atomic(durable=True):
            if Revision.objects.filter(pack_id=pack_id).exists():
                continue
            if not Pack.objects.filter(pk=pack_id).delete()[0]:
                continue
        _delete_quietly(key)
        retired += 1
    return retired
