"""Import a JSON Lines export, validated as the services validate a post or an edit.

Apart from the export because the import is most of the work: parsing, the services' rules,
the id and version ranges, and writing each batch all or nothing.
"""

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils.dateparse import parse_datetime

from messages_app import boards, bodies, pagecache, search
from messages_app.errors import InvalidInput
from messages_app.models import Board, Message, Revision
from messages_app.operations.common import (
    CHUNK,
    Progress,
    analyze_loaded,
    ensure_users,
    no_progress,
    reset_sequences,
)
from messages_app.services import body_validate, subject_validate


class ImportRefused(ValueError):
    """A line of an import file that cannot be imported; nothing of that batch was written."""


def messages_import(*, lines: Iterable[str], progress: Progress = no_progress) -> int:
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
    reset_sequences()
    analyze_loaded()
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
    board: str | None
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
            ensure_users(set().union(*(message.names() for message in parsed)) - users.keys(), users)
            board_ids = _board_ids(parsed)
            messages, revisions = _rows(parsed, keys, users, board_ids)
            Message.objects.bulk_create(messages, batch_size=CHUNK)
            Revision.objects.bulk_create(revisions, batch_size=CHUNK)
            search.documents_put(
                [
                    (
                        message.id,
                        len(message.revisions),
                        stored[-1].sha256,
                        message.subject,
                        message.revisions[-1].data.decode(),
                    )
                    for message, stored in zip(parsed, keys, strict=True)
                ]
            )
            added: dict[int, tuple[int, int]] = {}
            for message in messages:
                if message.deleted_at is None:
                    count, newest = added.get(message.board_id, (0, 0))
                    added[message.board_id] = (count + 1, max(newest, message.id))
            boards.counters_bulk_added(added)
            pagecache.list_changed()
    except DatabaseError as error:
        _forget_import(written, users, known)
        lines = f"{parsed[0].number}-{parsed[-1].number}"
        raise ImportRefused(f"lines {lines}: the database refused them ({error})") from error
    except BaseException:
        _forget_import(written, users, known)
        raise
    return len(parsed)


def _board_ids(parsed: list[_ImportedMessage]) -> dict[str | None, int]:
    """Map each board a batch names (None: the default board) to its id; a board missing here refuses the batch."""
    named = {message.board for message in parsed} - {None}
    found = dict(Board.objects.filter(slug__in=named).values_list("slug", "id"))
    for message in parsed:
        if message.board is not None and message.board not in found:
            raise ImportRefused(
                f"line {message.number}: there is no board {message.board!r} here: make it first (board_create)"
            )
    found[None] = boards.default_board().pk
    return found


def _forget_import(written: list[str], users: dict[str, int], known: set[str]) -> None:
    for key in written:
        bodies.body_delete(key)
    # The people created with the batch were rolled back with it.
    for name in set(users) - known:
        del users[name]


def _board_slug(line: str, slug) -> str | None:
    if slug is None:
        return None
    if not isinstance(slug, str):
        raise ImportRefused(f"{line}: board is not a slug: {slug!r}")
    return slug


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
            board=_board_slug(line, record.get("board")),
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
    except InvalidInput as error:
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


def _rows(
    parsed: list[_ImportedMessage],
    keys: list[list[bodies.StoredBody]],
    users: dict[str, int],
    board_ids: dict[str | None, int],
):
    messages, revisions = [], []
    for message, stored in zip(parsed, keys, strict=True):
        for revision, body in zip(message.revisions, stored, strict=True):
            revisions.append(
                Revision(
                    message_id=message.id,
                    version=revision.version,
                    subject=revision.subject,
                    body_key=body.key,
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
                body_key=current.key,
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
                board_id=board_ids[message.board],
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
