"""Read queries. Each page's data comes from one query; none of them counts or offsets."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from weakref import WeakKeyDictionary

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Case, F, Model, Q, QuerySet, When
from django.db.models.functions import Now
from django.utils.dateparse import parse_datetime

from messages_app import bodies, diffs, permissions
from messages_app.errors import (
    MessageGone,
    MessageNotFound,
    RevisionNotFound,
)
from messages_app.leases import LeaseInfo, fits_integer_column, lease_current
from messages_app.models import LeaseEvent, Message, Revision

HISTORY_PAGE_SIZE = 100
LEASE_EVENT_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class MessagePage:
    items: list[Message]
    next_before: int | None


@dataclass(frozen=True, slots=True)
class RevisionPage:
    items: list[Revision]
    next_before: int | None


class PreparedQuery:
    """A queryset compiled to SQL once per database vendor, then run with new values.

    Building and compiling the hot pages' ORM queries cost several times what running their
    SQL does (benchmarks/load.py measures the pages). The builder gets stand-in values,
    whose places in the compiled parameters are then filled with the real ones.
    """

    _STAND_INS = (-7_340_001, -7_340_002, -7_340_003)

    def __init__(self, build: Callable[..., QuerySet]) -> None:
        self._build = build
        self._compiled: dict[str, tuple[type[Model], str, tuple, list[int]]] = {}
        # One per connection (each thread has its own): the converters are the backend's.
        self._readers: WeakKeyDictionary = WeakKeyDictionary()

    def fetch(self, *values) -> list:
        if not all(fits_integer_column(value) for value in values if isinstance(value, int)):
            return []
        database = connections[DEFAULT_DB_ALIAS]
        vendor = database.vendor
        compiled = self._compiled.get(vendor)
        if compiled is None:
            stand_ins = self._STAND_INS[: len(values)]
            queryset = self._build(*stand_ins)
            sql, params = queryset.query.sql_with_params()
            positions = [params.index(stand_in) for stand_in in stand_ins]
            compiled = self._compiled[vendor] = (queryset.model, sql, tuple(params), positions)
        model, sql, params, positions = compiled
        params = list(params)
        for position, value in zip(positions, values, strict=True):
            params[position] = value
        if vendor == "sqlite":
            sql, params = _named_placeholders(sql), {f"p{index}": value for index, value in enumerate(params)}
        with database.cursor() as cursor:
            cursor.execute(sql, params)
            columns = [column[0] for column in cursor.description]
            rows = cursor.fetchall()
        reader = self._readers.get(database)
        if reader is None:
            reader = self._readers[database] = _RowReader(model, columns, database)
        return [reader.instance(row) for row in rows]


@lru_cache(maxsize=64)
def _named_placeholders(sql: str) -> str:
    """Return the SQL with its "%s" placeholders named %(p0)s, %(p1)s, … in order.

    Django's SQLite cursor turns "%s" into "?" with a regular expression over the whole SQL on
    every execution; named placeholders take a plain % substitution instead.
    """
    parts = _POSITIONAL_PLACEHOLDER.split(sql)
    named = [part + f"%(p{index})s" for index, part in enumerate(parts[:-1])]
    return "".join(named) + parts[-1]


_POSITIONAL_PLACEHOLDER = re.compile(r"(?<!%)%s")


class _RowReader:
    """Turn rows of one compiled query into model instances, as Model.objects.raw() would.

    raw() works out which column is which field, and each field's converters, on every
    query: a sixth of a message page. They are the same for every run of the same SQL.
    """

    def __init__(self, model: type[Model], columns: list[str], database) -> None:
        self.model = model
        self.database = database
        position = {name: index for index, name in enumerate(columns)}
        # In the model's field order, as Model.from_db() expects them.
        fields = [field for field in model._meta.concrete_fields if field.column in position]
        self.field_names = [field.attname for field in fields]
        self.field_positions = [position[field.column] for field in fields]
        taken = {field.column for field in fields}
        self.annotations = [(index, name) for index, name in enumerate(columns) if name not in taken]
        self.converters = []
        for field in fields:
            column = field.get_col(model._meta.db_table)
            converters = database.ops.get_db_converters(column) + column.get_db_converters(database)
            if converters:
                self.converters.append((position[field.column], converters, column))

    def instance(self, row: tuple) -> Model:
        row = list(row)
        for index, converters, column in self.converters:
            value = row[index]
            for convert in converters:
                value = convert(value, column, self.database)
            row[index] = value
        instance = self.model.from_db(self.database.alias, self.field_names, [row[i] for i in self.field_positions])
        for index, name in self.annotations:
            setattr(instance, name, row[index])
        # Raw SQL skips the ORM's converters for annotations; SQLite hands datetimes back as text.
        expires = getattr(instance, "lease_expires_at", None)
        if isinstance(expires, str):
            instance.lease_expires_at = _aware(parse_datetime(expires))
        return instance


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _with_lease_and_names(queryset: QuerySet) -> QuerySet:
    lease_is_valid = {"lease__expires_at__gt": Now()}
    return queryset.annotate(
        author_name=F("author__username"),
        updated_by_name=F("updated_by__username"),
        lease_holder=Case(When(**lease_is_valid, then=F("lease__holder__username")), default=None),
        lease_expires_at=Case(When(**lease_is_valid, then=F("lease__expires_at")), default=None),
    )


@cache
def _message_list_query(*, limit: int, keyset: bool) -> PreparedQuery:
    def build(*before: int) -> QuerySet:
        queryset = Message.objects.visible().order_by("-id")
        if keyset:
            queryset = queryset.filter(id__lt=before[0])
        queryset = _with_lease_and_names(queryset).only(
            "id", "subject", "version", "size", "sha256", "protected", "created_at", "updated_at"
        )
        # One row more than the page tells whether an older page exists, without counting.
        return queryset[: limit + 1]

    return PreparedQuery(build)


_MESSAGE_BY_ID = PreparedQuery(lambda message_id: _with_lease_and_names(Message.objects.filter(pk=message_id)))


def message_list_page(*, before: int | None = None, limit: int | None = None) -> MessagePage:
    """Return visible messages newest first, older than ``before`` when given."""
    limit = limit or settings.MESSAGEBOARD_PAGE_SIZE
    if before is None:
        rows = _message_list_query(limit=limit, keyset=False).fetch()
    else:
        rows = _message_list_query(limit=limit, keyset=True).fetch(before)
    items = rows[:limit]
    next_before = items[-1].pk if len(rows) > limit else None
    return MessagePage(items=items, next_before=next_before)


def message_get(*, message_id: int, include_deleted: bool = False) -> Message:
    """Return one message with its author, editor and current lease holder.

    Raises MessageNotFound, or MessageGone for a deleted message unless include_deleted.
    """
    rows = _MESSAGE_BY_ID.fetch(message_id)
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


def message_body(message: Message) -> str:
    """Return the text of a message's current version."""
    return bodies.body_read(message.body.name)


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
    return bodies.body_read(revision.body.name)


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
    return LineChanges(
        hunks=hunks,
        skipped_after=skipped_after,
        removed=removed,
        added=added,
        exact=exact,
        lines_not_shown=not_shown,
    )
