"""Read queries. Each page's data comes from one query; none of them counts or offsets."""

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Case, F, Q, QuerySet, When
from django.db.models.functions import Now
from django.utils.dateparse import parse_datetime

from messages_app import bodies, diffs, permissions
from messages_app.errors import (
    MessageGone,
    MessageNotFound,
    RevisionNotFound,
)
from messages_app.leases import LeaseInfo, fits_integer_column, lease_current, now_sql
from messages_app.models import EditLease, LeaseEvent, Message, Revision

HISTORY_PAGE_SIZE = 100
LEASE_EVENT_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class MessagePage:
    items: list["MessageRow"]
    next_before: int | None


@dataclass(frozen=True, slots=True)
class RevisionPage:
    items: list[Revision]
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

    @property
    def pk(self) -> int:
        return self.id


# The hot pages' two queries, written out: built with the ORM each request, they cost several
# times what running them does (benchmarks/load.py). tests/unit/test_selectors.py holds both
# against the ORM querysets they replace. Named placeholders work on both databases, and spare
# Django's SQLite cursor its rewriting of "%s" placeholders on every execution.
def _message_select(where: str, *, tail: str = "") -> str:
    # The message rows first, chosen by ``where`` (and ``tail``: order and limit) from the table's
    # own indexes, and only then the joins: no plan can read more messages than it returns,
    # whatever the planner's statistics say.
    users = get_user_model()._meta.db_table
    username = get_user_model()._meta.get_field(get_user_model().USERNAME_FIELD).column
    valid = f"lease.expires_at > {now_sql()}"
    return (
        f"SELECT m.id, m.subject, m.version, m.size, m.sha256, m.protected, m.created_at, m.updated_at, "
        f"m.author_id, m.deleted_at, m.body, author.{username}, editor.{username}, "
        f"CASE WHEN {valid} THEN holder.{username} END, CASE WHEN {valid} THEN lease.expires_at END "
        f"FROM (SELECT id, subject, version, size, sha256, protected, created_at, updated_at, author_id, "
        f"updated_by_id, deleted_at, body FROM {Message._meta.db_table} WHERE {where}{tail}) m "
        f"JOIN {users} author ON author.id = m.author_id "
        f"LEFT JOIN {users} editor ON editor.id = m.updated_by_id "
        f"LEFT JOIN {EditLease._meta.db_table} lease ON lease.message_id = m.id "
        f"LEFT JOIN {users} holder ON holder.id = lease.holder_id"
    )


@cache
def _message_by_id_sql(vendor: str) -> str:
    return _message_select("id = %(id)s")


@cache
def _message_list_sql(vendor: str, *, keyset: bool) -> str:
    older = " AND id < %(before)s" if keyset else ""
    newest_first = _message_select(f"deleted_at IS NULL{older}", tail=" ORDER BY id DESC LIMIT %(limit)s")
    return newest_first + " ORDER BY m.id DESC"


def _message_rows(sql: str, params: dict) -> list[MessageRow]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [
        MessageRow(
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
        )
        for row in rows
    ]


def _aware(value: datetime | str | None) -> datetime | None:
    # SQLite hands back text where a column's type is lost (a CASE), and naive UTC elsewhere.
    if value is None:
        return None
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def message_list_page(*, before: int | None = None, limit: int | None = None) -> MessagePage:
    """Return visible messages newest first, older than ``before`` when given."""
    limit = limit or settings.MESSAGEBOARD_PAGE_SIZE
    if before is not None and not fits_integer_column(before):
        return MessagePage(items=[], next_before=None)
    # One row more than the page tells whether an older page exists, without counting.
    sql = _message_list_sql(connection.vendor, keyset=before is not None)
    rows = _message_rows(sql, {"before": before, "limit": limit + 1})
    items = rows[:limit]
    next_before = items[-1].pk if len(rows) > limit else None
    return MessagePage(items=items, next_before=next_before)


def message_get(*, message_id: int, include_deleted: bool = False) -> Message:
    """Return one message with its author, editor and current lease holder.

    Raises MessageNotFound, or MessageGone for a deleted message unless include_deleted.
    """
    if not fits_integer_column(message_id):
        raise MessageNotFound()
    rows = _message_rows(_message_by_id_sql(connection.vendor), {"id": message_id})
    if not rows:
        raise MessageNotFound()
    message = rows[0]
    if message.deleted_at is not None and not include_deleted:
        raise MessageGone()
    return message


def message_lease(*, message_id: int) -> LeaseInfo | None:
    """Return who holds a visible message's valid lease and until when, or None."""
    message_must_be_visible(message_id)
    return lease_current(message_id=message_id)


def message_body(message: Message | MessageRow) -> str:
    """Return the text of a message's current version."""
    return bodies.body_read(message.body_key)


def revision_list(*, message_id: int, before: int | None = None, limit: int = HISTORY_PAGE_SIZE) -> RevisionPage:
    """Return a message's versions newest first, older than version ``before`` when given."""
    if not fits_integer_column(message_id):
        raise MessageNotFound()
    queryset = Revision.objects.filter(message_id=message_id).order_by("-version")
    if before is not None:
        queryset = queryset.filter(version__lt=before)
    queryset = queryset.annotate(author_name=F("author__username"), message_deleted_at=F("message__deleted_at"))
    rows = list(queryset[: limit + 1])
    if not rows:
        # Every message has a version 1, so no rows means no message (or an empty page).
        message_must_be_visible(message_id)
        return RevisionPage(items=[], next_before=None)
    if rows[0].message_deleted_at is not None:
        raise MessageGone()
    items = rows[:limit]
    return RevisionPage(items=items, next_before=items[-1].version if len(rows) > limit else None)


def revision_get(*, message_id: int, version: int) -> Revision:
    """Return one version of a message with its author's name and the message's current version."""
    if not fits_integer_column(message_id):
        raise MessageNotFound()
    if version < 1 or not fits_integer_column(version, Revision._meta.get_field("version")):
        message_must_be_visible(message_id)
        raise RevisionNotFound()
    revision = (
        Revision.objects.filter(message_id=message_id, version=version)
        .annotate(
            author_name=F("author__username"),
            message_deleted_at=F("message__deleted_at"),
            message_version=F("message__version"),
            message_protected=F("message__protected"),
        )
        .first()
    )
    if revision is None:
        message_must_be_visible(message_id)
        raise RevisionNotFound()
    if revision.message_deleted_at is not None:
        raise MessageGone()
    return revision


def revision_body(revision: Revision) -> str:
    """Return the text of one version of a message."""
    return bodies.body_read(revision.body_key)


@dataclass(frozen=True, slots=True)
class MessageState:
    """What the permission rules ask about a message, without its body."""

    author_id: int
    version: int
    protected: bool
    deleted_at: datetime | None
    deleted_by_id: int | None


def message_state(*, message_id: int, include_deleted: bool = False) -> MessageState:
    """Return a message's author, version, protection and deletion, or raise MessageNotFound (MessageGone)."""
    row = (
        Message.objects.filter(pk=message_id)
        .values_list("author_id", "version", "protected", "deleted_at", "deleted_by_id")
        .first()
        if fits_integer_column(message_id)
        else None
    )
    if row is None:
        raise MessageNotFound()
    state = MessageState(*row)
    if state.deleted_at is not None and not include_deleted:
        raise MessageGone()
    return state


def message_must_be_visible(message_id: int) -> None:
    """Raise MessageNotFound or MessageGone unless the message exists and is not deleted."""
    deleted_at = list(Message.objects.filter(pk=message_id).values_list("deleted_at", flat=True))
    if not deleted_at:
        raise MessageNotFound()
    if deleted_at[0] is not None:
        raise MessageGone()


@dataclass(frozen=True, slots=True)
class LeaseEventPage:
    items: list[LeaseEvent]
    next_before: int | None


def lease_event_list(
    *, message_id: int, viewer, before: int | None = None, limit: int = LEASE_EVENT_PAGE_SIZE
) -> LeaseEventPage:
    """Return a message's lease events newest first, older than event ``before`` when given.

    Only moderators may read them: others get NotAllowed (after MessageNotFound or MessageGone).
    """
    if not fits_integer_column(message_id):
        raise MessageNotFound()
    message_must_be_visible(message_id)
    permissions.ensure_may_read_lease_events(viewer)
    # Each transition is recorded in the transaction that makes it, under the lease row's
    # lock, so ids order one message's events as they happened.
    queryset = LeaseEvent.objects.filter(message_id=message_id).order_by("-id")
    if before is not None:
        queryset = queryset.filter(id__lt=before)
    queryset = queryset.annotate(user_name=F("user__username"), by_name=F("by__username"))
    rows = list(queryset[: limit + 1])
    items = rows[:limit]
    return LeaseEventPage(items=items, next_before=items[-1].pk if len(rows) > limit else None)


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


DIFF_CONTEXT_LINES = 3
# Lines one diff page shows at most: a person reads no more, and rendering each costs time.
DIFF_MAX_SHOWN_LINES = 5000


@dataclass(frozen=True, slots=True)
class DiffLine:
    kind: str  # "context", "removed" or "added"
    text: str
    old_number: int | None
    new_number: int | None


@dataclass(frozen=True, slots=True)
class DiffHunk:
    skipped_before: int  # unchanged lines left out before this hunk
    lines: list[DiffLine]


@dataclass(frozen=True, slots=True)
class RevisionDiff:
    """Two versions of one message to compare; their line changes are computed on request."""

    old: Revision
    new: Revision

    @property
    def cache_key(self) -> str:
        """Return what makes the changes between these versions differ: they never change."""
        return f"{self.old.message_id}:{self.old.version}:{self.old.sha256}:{self.new.version}:{self.new.sha256}"


@dataclass(frozen=True, slots=True)
class LineChanges:
    hunks: list[DiffHunk]
    skipped_after: int
    removed: int
    added: int
    exact: bool  # False: the exact line diff cost too much, and a coarser one is shown
    lines_not_shown: int  # lines of the diff past DIFF_MAX_SHOWN_LINES, left out of the hunks
    line_endings_only: bool = False  # the texts differ, but only in line endings or a final newline

    @property
    def identical(self) -> bool:
        return not self.hunks


def revision_diff(*, message_id: int, old_version: int, new_version: int) -> RevisionDiff:
    """Return two versions of a message to compare, without reading their bodies."""
    old = revision_get(message_id=message_id, version=old_version)
    new = old if new_version == old_version else revision_get(message_id=message_id, version=new_version)
    return RevisionDiff(old=old, new=new)


def revision_changes(diff: RevisionDiff) -> LineChanges:
    """Return the line changes from one version to the other, with a little unchanged context.

    Bounded work whatever the texts: diffs.line_diff falls back to a coarser diff (``exact``
    False) when the exact one would cost too much, and at most DIFF_MAX_SHOWN_LINES lines
    are listed (the counts of removed and added lines stay exact).
    """
    old_lines = revision_body(diff.old).splitlines()
    new_lines = old_lines if diff.new is diff.old else revision_body(diff.new).splitlines()
    hunks: list[DiffHunk] = []
    removed = added = 0
    room = DIFF_MAX_SHOWN_LINES
    not_shown = 0
    shown_until = 0  # old lines up to here are in a hunk or counted as skipped
    exact = True
    if old_lines != new_lines:
        line_diff = diffs.line_diff(old_lines, new_lines)
        exact = line_diff.exact
        for group in diffs.grouped_opcodes(line_diff.opcodes, DIFF_CONTEXT_LINES):
            lines: list[DiffLine] = []
            for tag, i1, i2, j1, j2 in group:
                if tag == diffs.EQUAL:
                    shown = min(i2 - i1, room)
                    lines += [DiffLine("context", old_lines[i], i + 1, i - i1 + j1 + 1) for i in range(i1, i1 + shown)]
                    not_shown += (i2 - i1) - shown
                    room -= shown
                    continue
                removed += i2 - i1
                added += j2 - j1
                shown_removed = min(i2 - i1, room)
                shown_added = min(j2 - j1, room - shown_removed)
                lines += [DiffLine("removed", old_lines[i], i + 1, None) for i in range(i1, i1 + shown_removed)]
                lines += [DiffLine("added", new_lines[j], None, j + 1) for j in range(j1, j1 + shown_added)]
                not_shown += (i2 - i1) + (j2 - j1) - shown_removed - shown_added
                room -= shown_removed + shown_added
            if lines:
                hunks.append(DiffHunk(skipped_before=group[0][1] - shown_until, lines=lines))
                shown_until = group[-1][2]
    skipped_after = len(old_lines) - shown_until if hunks and not not_shown else 0
    # splitlines() drops the line endings, so texts that differ only there compare equal.
    line_endings_only = not hunks and diff.old.sha256 != diff.new.sha256
    return LineChanges(
        line_endings_only=line_endings_only,
        hunks=hunks,
        skipped_after=skipped_after,
        removed=removed,
        added=added,
        exact=exact,
        lines_not_shown=not_shown,
    )
