"""Read queries of messages as they are now: the list, one message, its lease and state, moderation's search.

Each page's data comes from one query; none of them counts or offsets. A message's past (its
versions, their diffs, its lease events) is read in history_selectors.py.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Case, F, Q, QuerySet, When
from django.db.models.functions import Now
from django.utils.dateparse import parse_datetime

from messages_app import bodies, permissions
from messages_app.errors import (
    MessageGone,
    MessageNotFound,
)
from messages_app.leases import LeaseInfo, fits_integer_column, lease_current
from messages_app.models import EditLease, Message, Revision
from messages_app.protocol_sql import now_sql


@dataclass(frozen=True, slots=True)
class MessagePage:
    items: list["MessageRow"]
    next_before: int | None


@dataclass(frozen=True, slots=True)
class MessageRow:
    """A message as the pages and the API show it: its row, its people's names and its lease."""

    id: int
    subject: str
    version: int
    size: int
    sha256: str
    protected: bool
    created_at: datetime
    updated_at: datetime
    author_id: int
    deleted_at: datetime | None
    body_key: str
    author_name: str
    updated_by_name: str | None
    lease_holder: str | None  # None unless someone holds a valid lease
    lease_expires_at: datetime | None
    board_id: int
    board_slug: str
    board_name: str
    editors_restricted: bool
    editors_locked: bool

    @property
    def pk(self) -> int:
        return self.id


# The hot pages' two queries, written out: built with the ORM each request, they cost several
# times what running them does (benchmarks/load.py). tests/unit/test_selectors.py holds both
# against the ORM querysets they replace. Named placeholders work on both databases, and spare
# Django's SQLite cursor its rewriting of "%s" placeholders on every execution.
MESSAGE_COLUMNS = (
    "id, subject, version, size, sha256, protected, created_at, updated_at, author_id, updated_by_id, "
    "deleted_at, body, board_id, editors_restricted, editors_locked"
)


def _message_select(inner: str) -> str:
    # The message rows first, chosen by ``inner`` (a SELECT of MESSAGE_COLUMNS with its own order
    # and limit) from the table's own indexes, and only then the joins: no plan can read more
    # messages than it returns, whatever the planner's statistics say. The board's slug and name
    # come from the grants kept per process (permissions.board_label), not from a join.
    users = get_user_model()._meta.db_table
    username = get_user_model()._meta.get_field(get_user_model().USERNAME_FIELD).column
    valid = f"lease.expires_at > {now_sql()}"
    return (
        f"SELECT m.id, m.subject, m.version, m.size, m.sha256, m.protected, m.created_at, m.updated_at, "
        f"m.author_id, m.deleted_at, m.body, author.{username}, editor.{username}, "
        f"CASE WHEN {valid} THEN holder.{username} END, CASE WHEN {valid} THEN lease.expires_at END, "
        f"m.board_id, m.editors_restricted, m.editors_locked, {permissions.GENERATION_SQL} "
        f"FROM ({inner}) m "
        f"JOIN {users} author ON author.id = m.author_id "
        f"LEFT JOIN {users} editor ON editor.id = m.updated_by_id "
        f"LEFT JOIN {EditLease._meta.db_table} lease ON lease.message_id = m.id "
        f"LEFT JOIN {users} holder ON holder.id = lease.holder_id"
    )


def _messages_where(where: str, tail: str = "") -> str:
    return f"SELECT {MESSAGE_COLUMNS} FROM {Message._meta.db_table} WHERE {where}{tail}"


@cache
def _message_by_id_sql(vendor: str) -> str:
    return _message_select(_messages_where("id = %(id)s"))


# How a list chooses its boards (ListShape.mode), so that its plan walks an index in id order:
ALL_BOARDS = "all"  # the reader reads every board: no board condition
ALL_BUT = "all-but"  # most boards: board_id NOT IN (the few others), kept selective-looking to no planner
ONE_BOARD = "one"  # one board: its own (board_id, id) index
SOME_BOARDS = "some"  # a minority of boards: each board's newest through its index, then the newest of those


@cache
def _message_list_sql(vendor: str, *, keyset: bool, mode: str, count: int) -> str:
    """The list's statement for one shape (named placeholders board0, board1, …), built once per shape."""
    older = " AND id < %(before)s" if keyset else ""
    newest = " ORDER BY id DESC LIMIT %(limit)s"
    names = ", ".join(f"%(board{index})s" for index in range(count))
    if mode == ALL_BOARDS:
        inner = _messages_where(f"deleted_at IS NULL{older}", newest)
    elif mode == ALL_BUT:
        inner = _messages_where(f"deleted_at IS NULL AND board_id NOT IN ({names}){older}", newest)
    elif mode == ONE_BOARD:
        inner = _messages_where(f"deleted_at IS NULL AND board_id = %(board0)s{older}", newest)
    else:
        branches = " UNION ALL ".join(
            f"SELECT * FROM ({_messages_where(f'deleted_at IS NULL AND board_id = %(board{index})s{older}', newest)})"
            f" b{index}"
            for index in range(count)
        )
        inner = f"SELECT * FROM ({branches}) each_board ORDER BY id DESC LIMIT %(limit)s"
    return _message_select(inner) + " ORDER BY m.id DESC"


def _list_shape(readable: tuple[int, ...], every: tuple[int, ...], board_id: int | None) -> tuple[str, tuple]:
    """Return the list statement's mode and the boards it names, from what the reader may read."""
    if board_id is not None:
        return ONE_BOARD, (board_id,)
    if len(readable) == len(every):
        return ALL_BOARDS, ()
    if len(readable) == 1:
        return ONE_BOARD, readable
    others = tuple(sorted(set(every) - set(readable)))
    if len(others) <= len(readable):
        return ALL_BUT, others
    return SOME_BOARDS, readable


def _board_params(boards: tuple[int, ...]) -> dict:
    return {f"board{index}": board_id for index, board_id in enumerate(boards)}


def _message_rows(sql: str, params: dict) -> list[MessageRow]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [_message_row(row) for row in rows]


def _message_row(row: tuple) -> MessageRow:
    """Build a MessageRow from a row of the hot statements (their columns in the same order)."""
    return MessageRow(
        id=row[0],
        subject=row[1],
        version=row[2],
        size=row[3],
        sha256=row[4],
        protected=bool(row[5]),
        created_at=_aware(row[6]),
        updated_at=_aware(row[7]),
        author_id=row[8],
        deleted_at=_aware(row[9]),
        body_key=row[10],
        author_name=row[11],
        updated_by_name=row[12],
        lease_holder=row[13],
        lease_expires_at=_aware(row[14]),
        board_id=row[15],
        board_slug=(label := permissions.board_label(row[15], generation=row[18] or 0))[0],
        board_name=label[1],
        editors_restricted=bool(row[16]),
        editors_locked=bool(row[17]),
    )


def _aware(value: datetime | str | None) -> datetime | None:
    # SQLite hands back text where a column's type is lost (a CASE), and naive UTC elsewhere.
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def message_list_page(
    *,
    viewer,
    before: int | None = None,
    limit: int | None = None,
    board_id: int | None = None,
    generation: int | None = None,
) -> MessagePage:
    """Return the visible messages the viewer may read newest first (of one board if given), older than ``before``.

    ``generation`` is the access generation when the caller read it already (the list page).
    """
    limit = limit or settings.MESSAGEBOARD_PAGE_SIZE
    found = permissions.access(viewer, generation=generation)
    readable = found.readable
    if (board_id is not None and board_id not in readable) or not readable:
        return MessagePage(items=[], next_before=None)
    if before is not None and not fits_integer_column(before):
        return MessagePage(items=[], next_before=None)
    mode, named = _list_shape(readable, permissions.every_board(found.generation), board_id)
    # One row more than the page tells whether an older page exists, without counting.
    sql = _message_list_sql(connection.vendor, keyset=before is not None, mode=mode, count=len(named))
    rows = _message_rows(sql, {"before": before, "limit": limit + 1, **_board_params(named)})
    # A board made (private) after the grants were read is in no list of them: its rows go here.
    allowed = set(readable)
    rows = [row for row in rows if row.board_id in allowed]
    items = rows[:limit]
    next_before = items[-1].pk if len(rows) > limit else None
    return MessagePage(items=items, next_before=next_before)


def message_get(*, message_id: int, viewer=None, include_deleted: bool = False) -> MessageRow:
    """Return one message with its author, editor and current lease holder.

    Raises MessageNotFound (also when ``viewer`` may not read its board: a private board's
    messages do not exist to others), or MessageGone for a deleted message unless
    include_deleted. Without a viewer nothing is checked: for the services' own reads.
    """
    return message_from_row(message_fetch(message_id=message_id), viewer=viewer, include_deleted=include_deleted)


def message_fetch(*, message_id: int) -> tuple | None:
    """Return the message page's one statement's row as the database gives it, or None for no such message.

    The row holds everything the page shows but the body, which its version names, down to the
    access generation read with it: the message page keeps a visitor's whole page under it.
    """
    if not fits_integer_column(message_id):
        return None
    with connection.cursor() as cursor:
        cursor.execute(_message_by_id_sql(connection.vendor), {"id": message_id})
        return cursor.fetchone()


def message_from_row(row: tuple | None, *, viewer=None, include_deleted: bool = False) -> MessageRow:
    """Return the message of a message_fetch row, raising what message_get raises."""
    if row is None:
        raise MessageNotFound()
    message = _message_row(row)
    if viewer is not None:
        # The generation came with the row: the message page asks the database nothing more.
        permissions.ensure_may_read(viewer, message.board_id, generation=row[18] or 0)
    if message.deleted_at is not None and not include_deleted:
        raise MessageGone()
    return message


def message_lease(*, message_id: int, viewer=None) -> LeaseInfo | None:
    """Return who holds a visible message's valid lease and until when, or None."""
    message_must_be_visible(message_id, viewer=viewer)
    return lease_current(message_id=message_id)


def message_body(message: Message | MessageRow) -> str:
    """Return the text of the message's version that was current when its row was read."""
    location = bodies.VersionLocation(key=message.body_key, sha256=message.sha256)
    # A save may have replaced that version since, and pack_revisions packed it: its revision
    # says where it went (never on the hot path: only after the file was not found).
    return read_following_moves(bodies.version_read, location, message.id, message.version)


def read_following_moves[T](
    read: Callable[[bodies.VersionLocation], T], location: bodies.VersionLocation, message_id: int, version: int
) -> T:
    """Return ``read(location)``, reading the version's revision again if its file or pack went meanwhile.

    pack_revisions moves a version that is no longer current into a pack (or repacks it), and
    then deletes the file (or pack) that rows read before the move still name: the revision
    says where the version went.
    """
    for _ in range(MOVES_FOLLOWED):
        try:
            return read(location)
        except FileNotFoundError:
            moved = version_location(message_id, version)
            if moved is None or moved == location:
                raise
            location = moved
    return read(location)


# Each move waits for a pack to be written and committed: more than two while one page reads is
# an operator running pack_revisions in a loop, and the reader then fails as for a missing file.
MOVES_FOLLOWED = 2


def version_location(message_id: int, version: int) -> bodies.VersionLocation | None:
    """Return where a version of a message is stored now (None when the message has no such version)."""
    row = (
        Revision.objects.filter(message_id=message_id, version=version)
        .values_list("body_key", "sha256", "pack__key", "pack_offset", "pack_length")
        .first()
    )
    if row is None:
        return None
    key, sha256, pack_key, offset, length = row
    return bodies.VersionLocation(key, sha256, pack_key, offset or 0, length or 0)


@dataclass(frozen=True, slots=True)
class MessageState:
    """What the permission rules ask about a message, without its body (permissions.MessageFacts)."""

    id: int
    author_id: int
    version: int
    protected: bool
    deleted_at: datetime | None
    deleted_by_id: int | None
    board_id: int
    editors_restricted: bool
    editors_locked: bool

    @property
    def pk(self) -> int:
        return self.id


def message_state(*, message_id: int, viewer=None, include_deleted: bool = False) -> MessageState:
    """Return a message's author, version, board, protection and deletion.

    Raises MessageNotFound (also when ``viewer`` may not read its board) or MessageGone. One
    written-out statement, which also reads the access generation: the lease, the drafts and
    the deletes ask it first, and the ORM's building of it cost more than the statement.
    """
    row = None
    if fits_integer_column(message_id):
        with connection.cursor() as cursor:
            cursor.execute(_message_state_sql(connection.vendor), {"id": message_id})
            row = cursor.fetchone()
    if row is None:
        raise MessageNotFound()
    message_id, author_id, version, protected, deleted_at, deleted_by_id, board_id, restricted, locked, generation = row
    state = MessageState(
        message_id,
        author_id,
        version,
        bool(protected),
        _aware(deleted_at),
        deleted_by_id,
        board_id,
        bool(restricted),
        bool(locked),
    )
    if viewer is not None:
        permissions.ensure_may_read(viewer, state.board_id, generation=generation or 0)
    if state.deleted_at is not None and not include_deleted:
        raise MessageGone()
    return state


@cache
def _message_state_sql(vendor: str) -> str:
    return (
        f"SELECT id, author_id, version, protected, deleted_at, deleted_by_id, board_id, editors_restricted, "
        f"editors_locked, {permissions.GENERATION_SQL} FROM {Message._meta.db_table} WHERE id = %(id)s"
    )


def message_must_be_visible(message_id: int, *, viewer=None) -> MessageState:
    """Raise MessageNotFound or MessageGone unless the message exists, is not deleted and the viewer may read it."""
    return message_state(message_id=message_id, viewer=viewer)


def message_moderation_queryset() -> QuerySet:
    """Return every message, deleted ones included, with its valid lease's holder and expiry."""
    lease_is_valid = {"lease__expires_at__gt": Now()}
    return Message.objects.annotate(
        lease_holder=Case(When(**lease_is_valid, then=F("lease__holder__username")), default=None),
        lease_expires_at=Case(When(**lease_is_valid, then=F("lease__expires_at")), default=None),
    )


# A search term matching more usernames than this is about subjects, not authors.
SEARCH_MAX_AUTHORS = 500


def message_moderation_search(queryset: QuerySet, terms: list[str]) -> QuerySet:
    """Narrow messages to those matching every term in the subject, the author's username or the id.

    Matching usernames are looked up first, so the scan of messages never joins the users
    table: with a million messages that join costs more than the rest of the search.
    """
    user_model = get_user_model()
    for term in terms:
        match = Q(subject__icontains=term)
        authors = list(
            user_model.objects.filter(**{f"{user_model.USERNAME_FIELD}__icontains": term}).values_list("pk", flat=True)[
                :SEARCH_MAX_AUTHORS
            ]
        )
        if authors:
            match |= Q(author_id__in=authors)
        if term.isascii() and term.isdigit() and fits_integer_column(int(term)):
            match |= Q(pk=int(term))
        queryset = queryset.filter(match)
    return queryset
