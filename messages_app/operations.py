"""Operators' use cases: verify and migrate body storage, purge, export and import.

These are services (the management commands are thin shells around them). Each one streams
over the database in chunks and over storage in listing order, so memory stays flat with
millions of messages.
"""

import hashlib
import itertools
import json
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, TextIO

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.color import no_style
from django.db import DatabaseError, connection, transaction
from django.db.models import Exists, F, Model, OuterRef
from django.db.models.functions import Collate
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from messages_app import bodies
from messages_app.errors import InvalidBody
from messages_app.models import Message, Revision
from messages_app.services import body_validate, subject_validate

Progress = Callable[[int], object]
CHUNK = 1000
# A file younger than this may belong to a save still in flight: not yet an orphan.
ORPHAN_GRACE_SECONDS = 3600


def _no_progress(_: int) -> None:
    return None


@dataclass(frozen=True, slots=True)
class StorageFinding:
    kind: Literal["missing", "orphan", "size", "checksum", "current"]
    key: str
    detail: str
    revision_id: int | None = None
    actual_size: int | None = None
    actual_sha256: str | None = None


@dataclass(slots=True)
class StorageReport:
    revisions: int = 0
    files: int = 0
    young_files: int = 0
    findings: list[StorageFinding] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for finding in self.findings if finding.kind == kind)


def _revisions_in_key_order() -> Iterator[tuple[int, str, int, str]]:
    # Storage lists keys in byte order; PostgreSQL's default collation does not sort that way.
    key_order = Collate("body", "C") if connection.vendor == "postgresql" else "body"
    return Revision.objects.order_by(key_order).values_list("id", "body", "size", "sha256").iterator(chunk_size=CHUNK)


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
    *, checksums: bool = True, orphan_grace_seconds: int = ORPHAN_GRACE_SECONDS, progress: Progress = _no_progress
) -> StorageReport:
    """Compare every revision with the body files: missing files, orphans, size and sha256 mismatches."""
    report = StorageReport()
    now = time.time()
    for revision, listed in _merged_by_key(_revisions_in_key_order(), bodies.body_listing()):
        if listed is None:
            revision_id, key, _, _ = revision
            report.revisions += 1
            report.findings.append(StorageFinding("missing", key, "no file for this revision", revision_id))
            progress(1)
        elif revision is None:
            report.files += 1
            if now - listed.modified_at < orphan_grace_seconds:
                report.young_files += 1
            else:
                report.findings.append(StorageFinding("orphan", listed.key, "no revision points to this file"))
        else:
            revision_id, key, size, sha256 = revision
            report.revisions += 1
            report.files += 1
            report.findings.extend(_check_file(revision_id, key, size, sha256, listed.size, checksums))
            progress(1)
    report.findings.extend(_messages_not_at_their_current_revision())
    return report


def _check_file(revision_id: int, key: str, size: int, sha256: str, listed_size: int, checksums: bool):
    if listed_size != size:
        yield StorageFinding(
            "size", key, f"file has {listed_size} bytes, the revision says {size}", revision_id, actual_size=listed_size
        )
        return
    if checksums:
        actual = hashlib.sha256(bodies.body_read_bytes(key)).hexdigest()
        if actual != sha256:
            yield StorageFinding(
                "checksum",
                key,
                f"sha256 {actual} differs from the recorded {sha256}",
                revision_id,
                actual_size=listed_size,
                actual_sha256=actual,
            )


def _messages_not_at_their_current_revision() -> Iterator[StorageFinding]:
    current = Revision.objects.filter(message=OuterRef("pk"), version=OuterRef("version"), body=OuterRef("body"))
    mismatched = Message.objects.filter(~Exists(current)).values_list("id", "version", "body")
    for message_id, version, key in mismatched.iterator(chunk_size=CHUNK):
        yield StorageFinding("current", key, f"message {message_id} points at no revision {version} with this file")


def storage_delete_orphans(report: StorageReport) -> int:
    """Delete the orphan files a verification found; return how many went."""
    deleted = 0
    for finding in report.findings:
        if finding.kind == "orphan":
            bodies.body_delete(finding.key)
            deleted += 1
    return deleted


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
            Message.objects.filter(body=finding.key).update(size=size, sha256=sha256)
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


def storage_migrate(*, to: str, jobs: int = 8, progress: Progress = _no_progress) -> MigrationReport:
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
    pairs = _merged_by_key(_revisions_in_key_order(), bodies.body_listing(target))
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


@dataclass(slots=True)
class PurgeReport:
    messages: int = 0
    revisions: int = 0
    files: int = 0
    file_errors: int = 0


def message_purge_deleted(
    *, older_than: timedelta, dry_run: bool = False, batch_size: int = 500, progress: Progress = _no_progress
) -> PurgeReport:
    """Remove messages soft-deleted before now - older_than, with their revisions and files.

    Runs in autocommit, never inside a transaction (RuntimeError): a batch's files go only
    once the deletion of its rows has committed, so a crash leaves orphan files, which
    verify_storage removes, and never a row without its file.
    """
    cutoff = timezone.now() - older_than
    report = PurgeReport()
    last_id = 0
    while True:
        candidates = list(
            Message.objects.filter(deleted_at__lt=cutoff, id__gt=last_id)
            .order_by("id")
            .values_list("id", flat=True)[:batch_size]
        )
        if not candidates:
            return report
        last_id = candidates[-1]
        if dry_run:
            purged = len(candidates)
            keys = list(Revision.objects.filter(message_id__in=candidates).values_list("body", flat=True))
        else:
            purged, keys = _purge_rows(candidates, cutoff)
        report.messages += purged
        report.revisions += len(keys)
        progress(purged)
        if dry_run:
            report.files += len(keys)
            continue
        for key in keys:
            try:
                bodies.body_delete(key)
                report.files += 1
            except OSError:
                report.file_errors += 1


def _purge_rows(candidates: list[int], cutoff: datetime) -> tuple[int, list[str]]:
    """Delete the rows of the candidates still deleted before the cutoff; return how many and their files' keys."""
    # Durable: when this block ends the deletion has committed, and only then may the caller
    # delete the files.
    with transaction.atomic(durable=True):
        # The candidates were listed outside this transaction: any of them may have been
        # restored (or deleted again) since. Re-checked on rows locked until the commit. On
        # PostgreSQL a restore's UPDATE conflicts with FOR UPDATE: it waits for this commit
        # and then finds no row, or this waits for the restore's commit and re-evaluates the
        # condition on the row as restored, leaving it out. SQLite's transactions are IMMEDIATE
        # (settings), so this one holds the database's write lock before it re-checks, and
        # no restore can commit until it has.
        doomed = list(
            Message.objects.filter(id__in=candidates, deleted_at__lt=cutoff)
            .order_by("id")
            .select_for_update()
            .values_list("id", flat=True)
        )
        if not doomed:
            return 0, []
        # Only the locked rows' files: a message left alone keeps every one of its files.
        keys = list(Revision.objects.filter(message_id__in=doomed).values_list("body", flat=True))
        # Revisions, its lease and lease history go with each message (on_delete=CASCADE).
        Message.objects.filter(id__in=doomed).delete()
    return len(doomed), keys


def messages_export(*, out: TextIO, progress: Progress = _no_progress) -> int:
    """Write every message with all its revisions as JSON Lines; return how many."""
    exported = 0
    last_id = 0
    while True:
        messages = list(
            Message.objects.filter(id__gt=last_id)
            .order_by("id")
            .values(
                "id",
                "subject",
                "version",
                "protected",
                "created_at",
                "updated_at",
                "deleted_at",
                author_name=F("author__username"),
                updated_by_name=F("updated_by__username"),
                deleted_by_name=F("deleted_by__username"),
            )[:CHUNK]
        )
        if not messages:
            return exported
        last_id = messages[-1]["id"]
        revisions: dict[int, list[dict]] = {}
        for revision in (
            Revision.objects.filter(message_id__in=[m["id"] for m in messages])
            .order_by("message_id", "version")
            .values(
                "message_id",
                "version",
                "subject",
                "body",
                "size",
                "sha256",
                "created_at",
                author_name=F("author__username"),
            )
        ):
            revisions.setdefault(revision["message_id"], []).append(revision)
        for message in messages:
            record = {
                "id": message["id"],
                "subject": message["subject"],
                "version": message["version"],
                "author": message["author_name"],
                "created_at": message["created_at"].isoformat(),
                "updated_at": message["updated_at"].isoformat(),
                "updated_by": message["updated_by_name"],
                "deleted_at": message["deleted_at"].isoformat() if message["deleted_at"] else None,
                "deleted_by": message["deleted_by_name"],
                "protected": message["protected"],
                "revisions": [
                    {
                        "version": revision["version"],
                        "subject": revision["subject"],
                        "author": revision["author_name"],
                        "created_at": revision["created_at"].isoformat(),
                        "size": revision["size"],
                        "sha256": revision["sha256"],
                        "body": _exported_body(message["id"], revision),
                    }
                    for revision in revisions.get(message["id"], [])
                ],
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            exported += 1
            progress(1)


class ExportFailed(Exception):
    """A body that cannot go into an export as it is: the export would not import again."""


def _exported_body(message_id: int, revision: dict) -> str:
    where = f"message {message_id} version {revision['version']}: its body file {revision['body']}"
    try:
        data = bodies.body_read_bytes(revision["body"])
    except FileNotFoundError:
        raise ExportFailed(f"{where} is missing; verify_storage lists every damaged file") from None
    if hashlib.sha256(data).hexdigest() != revision["sha256"]:
        raise ExportFailed(f"{where} does not match its sha256; verify_storage lists every damaged file")
    return data.decode("utf-8")


class ImportRefused(ValueError):
    """A line of an import file that cannot be imported; nothing of that batch was written."""


def messages_import(*, lines: Iterable[str], progress: Progress = _no_progress) -> int:
    """Import JSON Lines written by messages_export, keeping ids; return how many messages."""
    imported = 0
    users: dict[str, int] = {}
    batch: list[tuple[int, dict]] = []
    with bodies.batched_durability():
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                batch.append((number, json.loads(line)))
            except json.JSONDecodeError as error:
                raise ImportRefused(f"line {number}: not JSON ({error.msg})") from None
            if len(batch) >= CHUNK:
                imported += _import_batch(batch, users)
                progress(len(batch))
                batch = []
        if batch:
            imported += _import_batch(batch, users)
            progress(len(batch))
    _reset_sequences()
    return imported


@dataclass(slots=True)
class _ImportedRevision:
    version: int
    subject: str
    author: str
    created_at: datetime
    data: bytes


@dataclass(slots=True)
class _ImportedMessage:
    number: int
    id: int
    subject: str
    author: str
    created_at: datetime
    updated_at: datetime
    updated_by: str
    deleted_at: datetime | None
    deleted_by: str | None
    protected: bool
    revisions: list[_ImportedRevision]

    def names(self) -> set[str]:
        names = {self.author, self.updated_by, *(revision.author for revision in self.revisions)}
        return names | ({self.deleted_by} if self.deleted_by else set())


def _import_batch(batch: list[tuple[int, dict]], users: dict[str, int]) -> int:
    # Everything that can be checked is checked before anything is written, and the rows
    # (people included) go in one transaction: a refused batch leaves nothing behind.
    parsed = [_parse_record(number, record) for number, record in batch]
    seen: dict[int, int] = {}
    for message in parsed:
        if message.id in seen:
            raise ImportRefused(
                f"line {message.number}: message {message.id} appears twice (first on line {seen[message.id]})"
            )
        seen[message.id] = message.number
    taken = set(Message.objects.filter(id__in=seen).values_list("id", flat=True))
    if taken:
        raise ImportRefused(f"messages {sorted(taken)[:10]} already exist: import into an empty board")
    written: list[str] = []
    known = set(users)
    try:
        keys = []
        for message in parsed:
            keys.append([])
            for revision in message.revisions:
                stored = bodies.body_save(message_id=message.id, version=revision.version, data=revision.data)
                written.append(stored.key)
                keys[-1].append(stored)
        with transaction.atomic():
            _ensure_users(set().union(*(message.names() for message in parsed)) - users.keys(), users)
            messages, revisions = _rows(parsed, keys, users)
            Message.objects.bulk_create(messages, batch_size=CHUNK)
            Revision.objects.bulk_create(revisions, batch_size=CHUNK)
    except DatabaseError as error:
        _forget_import(written, users, known)
        lines = f"{parsed[0].number}-{parsed[-1].number}"
        raise ImportRefused(f"lines {lines}: the database refused them ({error})") from error
    except BaseException:
        _forget_import(written, users, known)
        raise
    return len(parsed)


def _forget_import(written: list[str], users: dict[str, int], known: set[str]) -> None:
    for key in written:
        bodies.body_delete(key)
    # The people created with the batch were rolled back with it.
    for name in set(users) - known:
        del users[name]


def _parse_record(number: int, record: dict) -> _ImportedMessage:
    # The services' rules, so that nothing imported is what a post or an edit would refuse.
    line = f"line {number}"
    try:
        message_id = _integer(record["id"])
        highest_id = import_id_max()
        if not 1 <= message_id <= highest_id:
            raise ImportRefused(f"{line}: id {message_id} is out of range: imported ids run from 1 to {highest_id}")
        version = _integer(record["version"])
        highest_version = import_version_max()
        if not 1 <= version <= highest_version:
            raise ImportRefused(
                f"{line}: version {version} is out of range: imported versions run from 1 to {highest_version}"
            )
        if not isinstance(record["revisions"], list):
            raise TypeError(f"revisions is not a list: {record['revisions']!r}")
        revisions = sorted((_parse_revision(line, revision) for revision in record["revisions"]), key=_version_of)
        # The count first: a record claiming billions of versions must not build a list that long.
        if len(revisions) != version or [revision.version for revision in revisions] != list(range(1, version + 1)):
            raise ImportRefused(f"{line}: versions are not 1..{version}")
        deleted_by = record.get("deleted_by")
        return _ImportedMessage(
            number=number,
            id=message_id,
            subject=_checked(line, subject_validate, record["subject"]),
            author=_username(f"{line}: author", record["author"]),
            created_at=_timestamp(record["created_at"]),
            updated_at=_timestamp(record["updated_at"]),
            updated_by=_username(f"{line}: updated_by", record["updated_by"]),
            deleted_at=_timestamp(record["deleted_at"]) if record.get("deleted_at") is not None else None,
            deleted_by=_username(f"{line}: deleted_by", deleted_by) if deleted_by is not None else None,
            protected=_boolean(record.get("protected", False)),
            revisions=revisions,
        )
    except ImportRefused:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ImportRefused(f"{line}: not a message record ({error!r})") from None


def _parse_revision(line: str, revision: dict) -> _ImportedRevision:
    version = _integer(revision["version"])
    where = f"{line}, version {version}"
    data = _checked(where, body_validate, revision["body"])
    if hashlib.sha256(data).hexdigest() != revision["sha256"]:
        raise ImportRefused(f"{line}: version {version}'s body does not match its sha256")
    return _ImportedRevision(
        version=version,
        subject=_checked(where, subject_validate, revision["subject"]),
        author=_username(f"{where}: author", revision["author"]),
        created_at=_timestamp(revision["created_at"]),
        data=data,
    )


def _version_of(revision: _ImportedRevision) -> int:
    return revision.version


# The largest integer a JavaScript client reads exactly (the API hands ids out as JSON numbers),
# and far below the end of the 64-bit id column: an imported id of 2^63 - 1 left SQLite's
# AUTOINCREMENT no id for the next post, which then failed for everyone.
IMPORT_MAX_ID = 2**53 - 1


def import_id_max() -> int:
    """Return the largest message id an import accepts, leaving room for every later post."""
    _, highest = connection.ops.integer_field_range(Message._meta.pk.get_internal_type())
    # On a narrower column, half of it stays for new posts.
    return min(IMPORT_MAX_ID, highest // 2)


def import_version_max() -> int:
    """Return the largest version an import accepts: one an edit can still follow."""
    _, highest = connection.ops.integer_field_range(Message._meta.get_field("version").get_internal_type())
    return highest - 1


def _checked(where: str, validate: Callable, value):
    try:
        return validate(value)
    except InvalidBody as error:
        raise ImportRefused(f"{where}: {error}") from None


def _username(where: str, name) -> str:
    # As sign-up would store it: the user model's validators (Django's UnicodeUsernameValidator
    # and the length limit) and its Unicode normalization, so that no imported name can pass
    # for another person's.
    user_model = get_user_model()
    if not isinstance(name, str):
        raise ImportRefused(f"{where} is not a username: {name!r}")
    try:
        user_model._meta.get_field(user_model.USERNAME_FIELD).clean(name, None)
    except ValidationError as error:
        raise ImportRefused(f"{where} {name!r} is not a valid username: {' '.join(error.messages)}") from None
    if user_model.normalize_username(name) != name:
        raise ImportRefused(f"{where} {name!r} is not a valid username: it is not in Unicode normal form NFKC")
    return name


def _rows(parsed: list[_ImportedMessage], keys: list[list[bodies.StoredBody]], users: dict[str, int]):
    messages, revisions = [], []
    for message, stored in zip(parsed, keys, strict=True):
        for revision, body in zip(message.revisions, stored, strict=True):
            revisions.append(
                Revision(
                    message_id=message.id,
                    version=revision.version,
                    subject=revision.subject,
                    body=body.key,
                    size=body.size,
                    sha256=body.sha256,
                    author_id=users[revision.author],
                    created_at=revision.created_at,
                )
            )
        current = stored[-1]
        messages.append(
            Message(
                id=message.id,
                subject=message.subject,
                body=current.key,
                version=len(message.revisions),
                size=current.size,
                sha256=current.sha256,
                author_id=users[message.author],
                created_at=message.created_at,
                updated_at=message.updated_at,
                updated_by_id=users[message.updated_by],
                deleted_at=message.deleted_at,
                deleted_by_id=users[message.deleted_by] if message.deleted_by else None,
                protected=message.protected,
            )
        )
    return messages, revisions


def _integer(value) -> int:
    # JSON's true is an int to Python, and 1.5 would be truncated: both are malformed here.
    if type(value) is not int:
        raise TypeError(f"not an integer: {value!r}")
    return value


def _boolean(value) -> bool:
    # bool("false") is true: only JSON's true and false are flags.
    if type(value) is not bool:
        raise TypeError(f"not true or false: {value!r}")
    return value


def _timestamp(value: str) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValueError(f"not a timestamp: {value!r}")
    if parsed.tzinfo is None:
        # Every time the board records is aware; a naive one would be read in some zone or other.
        raise ValueError(f"a timestamp without a UTC offset: {value!r}")
    return parsed


def _ensure_users(names: set[str], users: dict[str, int]) -> None:
    user_model = get_user_model()
    field = user_model.USERNAME_FIELD
    for user_id, name in user_model.objects.filter(**{f"{field}__in": names}).values_list("id", field):
        users[name] = user_id
    for name in sorted(names - users.keys()):
        user = user_model(**{field: name})
        # Imported people sign in only after resetting a password.
        user.set_unusable_password()
        user.save()
        users[name] = user.pk


def _reset_sequences() -> None:
    # Explicit ids leave PostgreSQL's sequence behind; the next post would collide.
    statements = connection.ops.sequence_reset_sql(no_style(), [Message])
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


_SEED_VOCABULARY = """
the board message edit lease version history save body file storage people read write reply thanks
question answer because when where which while about after again against between through during
before under over above below more most other some such only own same than too very can will just
should now meeting project release draft review change idea plan update note list team
"""
WORDS = _SEED_VOCABULARY.split()


def _seed_corpus(random, size: int = 1 << 20) -> str:
    # Words with a full stop after about one in twelve, and a line break after half of those.
    endings = random.choices(["", ".", ".\n"], weights=[92, 4, 4], k=size // 6)
    return " ".join(word + ending for word, ending in zip(random.choices(WORDS, k=size // 6), endings, strict=True))


def _seed_text(random, corpus: str, size: int) -> str:
    # A slice of a pre-made text: picking words one by one cost more than writing the files.
    size = min(size, len(corpus) // 2)
    start = random.randrange(len(corpus) - size)
    return corpus[start : start + size].strip() + "\n"


def messages_seed(
    *, count: int, revisions: int = 1, users: int = 10, seed: int = 0, progress: Progress = _no_progress
) -> int:
    """Bulk-create ``count`` realistic messages with ``revisions`` versions each; return how many.

    Bodies are real files written through the file handler, durable all at once at the end
    (one sync instead of an fsync per file); rows go in with bulk inserts, a batch per
    transaction.
    """
    import random as random_module

    random = random_module.Random(seed)
    corpus = _seed_corpus(random)
    names = [f"seed-user-{n}" for n in range(1, users + 1)]
    user_ids: dict[str, int] = {}
    _ensure_users(set(names), user_ids)
    author_ids = [user_ids[name] for name in names]
    created = 0
    batch_size = 1000
    with bodies.batched_durability():
        while created < count:
            size = min(batch_size, count - created)
            with transaction.atomic():
                first_id = _reserve_message_ids()
                message_rows, revision_rows = [], []
                for message_id in range(first_id, first_id + size):
                    now = connection.ops.adapt_datetimefield_value(timezone.now())
                    author_id = random.choice(author_ids)
                    subject = " ".join(random.choices(WORDS, k=random.randint(2, 8))).capitalize()
                    editor_id = author_id
                    for version in range(1, revisions + 1):
                        text = _seed_text(random, corpus, int(random.lognormvariate(6.5, 1.0)) + 20)
                        stored = bodies.body_save(message_id=message_id, version=version, data=text.encode())
                        if version > 1:
                            editor_id = random.choice(author_ids)
                        revision_rows.append(
                            (message_id, version, subject, stored.key, stored.size, stored.sha256, editor_id, now)
                        )
                    message_rows.append(
                        (
                            *(message_id, subject, stored.key, revisions, stored.size, stored.sha256),
                            *(author_id, now, now, editor_id, False),
                        )
                    )
                # Rows as tuples in one executemany per table: bulk_create built and compiled
                # model instances at three times the cost of writing the files.
                _insert_rows(Message, SEED_MESSAGE_FIELDS, message_rows)
                _insert_rows(Revision, SEED_REVISION_FIELDS, revision_rows)
            created += size
            progress(size)
    _reset_sequences()
    return created


SEED_MESSAGE_FIELDS = (
    "id",
    "subject",
    "body",
    "version",
    "size",
    "sha256",
    "author",
    "created_at",
    "updated_at",
    "updated_by",
    "protected",
)
SEED_REVISION_FIELDS = ("message", "version", "subject", "body", "size", "sha256", "author", "created_at")


def _insert_rows(model: type[Model], fields: tuple[str, ...], rows: list[tuple]) -> None:
    """Insert rows of ready database values (datetimes already adapted) with one executemany."""
    columns = ", ".join(model._meta.get_field(name).column for name in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {model._meta.db_table} ({columns}) VALUES ({placeholders})", rows)


def _reserve_message_ids() -> int:
    # Inside the batch's transaction: SQLite's IMMEDIATE transactions and this lock on
    # PostgreSQL keep any other writer from taking ids until the batch commits.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {Message._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")
    last = Message.objects.order_by("-id").values_list("id", flat=True).first()
    return (last or 0) + 1
