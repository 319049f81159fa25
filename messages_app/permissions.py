"""Who may do what on which board and message: the one place every page, API call, admin action and service asks.

A board grants levels to audiences (BoardGrant): everyone (visitors included), members (anyone
signed in) and groups. Levels include the ones below them:

- ``read``: see the board's messages, their history, diffs and lease holders;
- ``post``: also post messages, and edit and delete one's own;
- ``edit``: also edit anyone's messages (unless the message names its editors);
- ``moderate``: also delete, restore, protect, move and break leases on the board's messages.

Site moderators (the moderators group, roles.py) moderate every board. A board nobody may read
hides its messages as if they did not exist: the selectors raise MessageNotFound (404).

Each rule is a ``may_*`` predicate (for the pages, which show only the buttons that will
work) and, where a service refuses, an ``ensure_*`` twin raising NotAllowed with the
sentence the person reads. The predicates take the few facts they need (a message's board,
author, protection), so a page can ask with what it already loaded and a service with one row.
"""

import contextlib
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Q

from messages_app.errors import (
    BREAK_NOT_ALLOWED,
    DELETE_NOT_ALLOWED,
    DELETE_PROTECTED,
    EDIT_NOT_ALLOWED,
    EDITORS_LOCKED,
    EDITORS_NOT_ALLOWED,
    LEASE_EVENTS_NOT_ALLOWED,
    MOVE_NOT_ALLOWED,
    NOT_A_NAMED_EDITOR,
    POST_NOT_ALLOWED,
    PROTECT_NOT_ALLOWED,
    PROTECTED,
    RESTORE_MODERATED,
    RESTORE_NOT_ALLOWED,
    MessageNotFound,
    NotAllowed,
)
from messages_app.models import AccessGeneration, Board, BoardGrant, MessageEditor

MODERATE_PERMISSION = "messages_app.moderate_message"

READ = BoardGrant.Level.READ.value
POST = BoardGrant.Level.POST.value
EDIT = BoardGrant.Level.EDIT.value
MODERATE = BoardGrant.Level.MODERATE.value
LEVELS = {label: value for value, label in BoardGrant.Level.choices}


class MessageFacts(Protocol):
    """What the rules ask about a message: a model, a selector's row or a state all answer it."""

    pk: int
    board_id: int
    author_id: int
    protected: bool
    editors_restricted: bool


@dataclass(frozen=True, slots=True)
class Facts:
    """MessageFacts gathered from another row (a revision annotated with its message's columns)."""

    pk: int
    board_id: int
    author_id: int
    protected: bool
    editors_restricted: bool


def is_moderator(user) -> bool:
    """Return whether the user is a site moderator: one who may act on any message of any board.

    Moderators are staff (roles.moderator_add makes them so, and the admin needs it): a member
    is answered without the permission look-up's queries, on every page that shows buttons.
    """
    return bool(user.is_authenticated and user.is_active and user.is_staff and user.has_perm(MODERATE_PERMISSION))


# --- Board levels -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Access:
    """One user's levels on every board, for one request."""

    generation: int
    user_id: int | None
    site_moderator: bool
    group_ids: frozenset[int]
    levels: Mapping[int, int]  # board id -> level; boards missing here are out of reach
    readable: tuple[int, ...]  # the boards this user may read, ascending

    def level(self, board_id: int) -> int:
        return MODERATE if self.site_moderator else self.levels.get(board_id, 0)


@dataclass(frozen=True, slots=True)
class BoardInfo:
    """A board as the pages name it, kept with the grants (its counters are not: they move with every post)."""

    id: int
    slug: str
    name: str
    description: str

    @property
    def pk(self) -> int:
        return self.id


class _Snapshot:
    """Every board and its grants, and the groups of users asked about, as of one access generation."""

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.grants = list(BoardGrant.objects.values_list("board_id", "audience", "group_id", "level"))
        # Site moderators read every board, granted or not; rows and pages name boards by these.
        self.boards = {
            row[0]: BoardInfo(*row) for row in Board.objects.values_list("id", "slug", "name", "description")
        }
        self.by_slug = {board.slug: board for board in self.boards.values()}
        self.labels = {board.id: (board.slug, board.name) for board in self.boards.values()}
        self.all_boards = tuple(sorted(self.boards))
        self.levels: dict[tuple[bool, frozenset[int]], dict[int, int]] = {}
        self.groups: dict[int, frozenset[int]] = {}
        self.visitor: Access | None = None


# Grants are a few rows per board; users' groups are kept up to this many users per process.
_MAX_CACHED_USERS = 20_000
_snapshot: _Snapshot | None = None
_snapshot_lock = threading.Lock()
# Moved by every change made in this process, so a user object that outlives a request (a
# service called twice in a test, a command) never answers from before the change.
_local_changes = 0


def access(user, *, generation: int | None = None) -> Access:
    """Return the user's levels: one indexed read of the access generation, the rest kept per process.

    Kept on the user object for the request (until this process changes a grant), so the pages
    that ask several rules read the generation once. The hot statements read the generation
    along with their rows and pass it (``generation``): those pages need no read of their own.
    """
    kept = getattr(user, "_messageboard_access", None)
    if kept is not None and kept[0] == _local_changes and generation in (None, kept[1].generation):
        return kept[1]
    snapshot = _current_snapshot(generation)
    if user.is_authenticated:
        result = _access_of(snapshot, user, site_moderator=is_moderator(user), authenticated=user.is_active)
    else:
        # Every visitor has the same levels: built once per snapshot, not once per page view.
        if snapshot.visitor is None:
            snapshot.visitor = _access_of(snapshot, user, site_moderator=False, authenticated=False)
        result = snapshot.visitor
    with contextlib.suppress(AttributeError):  # an object that takes no attributes: asked again next time
        user._messageboard_access = (_local_changes, result)
    return result


def _access_of(snapshot: _Snapshot, user, *, site_moderator: bool, authenticated: bool) -> Access:
    groups = _groups_of(snapshot, user.pk) if authenticated else frozenset()
    levels = _levels_for(snapshot, authenticated, groups)
    return Access(
        generation=snapshot.generation,
        user_id=user.pk if authenticated else None,
        site_moderator=site_moderator,
        group_ids=groups,
        levels=levels,
        readable=snapshot.all_boards
        if site_moderator
        else tuple(sorted(board for board, level in levels.items() if level >= READ)),
    )


def every_board(generation: int) -> tuple[int, ...]:
    """Return the ids of every board, as of the access generation (kept per process)."""
    return _current_snapshot(generation).all_boards


def board_named(slug: str, *, generation: int | None = None) -> BoardInfo | None:
    """Return the board with this slug as of the access generation (kept per process), or None."""
    return _current_snapshot(generation).by_slug.get(slug)


def board_label(board_id: int, *, generation: int) -> tuple[str, str]:
    """Return a board's slug and name, kept with the grants: message rows join no board table."""
    label = _current_snapshot(generation).labels.get(board_id)
    if label is None:  # made after the generation was read: asked of the table
        label = tuple(Board.objects.filter(pk=board_id).values_list("slug", "name").first() or ("", ""))
    return label


def access_moved(user) -> bool:
    """Return whether a grant or membership changed since the user's levels were read (one indexed read).

    For a decision that must not rest on levels read earlier in the request: a lease just granted.
    """
    kept = getattr(user, "_messageboard_access", None)
    if kept is None or access_generation() == kept[1].generation:
        return False
    user._messageboard_access = None
    return True


def _current_snapshot(generation: int | None = None) -> _Snapshot:
    global _snapshot
    if generation is None:
        generation = access_generation()
    snapshot = _snapshot
    if snapshot is None or snapshot.generation != generation:
        with _snapshot_lock:
            snapshot = _snapshot
            if snapshot is None or snapshot.generation != generation:
                snapshot = _snapshot = _Snapshot(generation)
    return snapshot


def _groups_of(snapshot: _Snapshot, user_id: int) -> frozenset[int]:
    groups = snapshot.groups.get(user_id)
    if groups is None:
        through = get_user_model().groups.through
        groups = frozenset(through.objects.filter(user_id=user_id).values_list("group_id", flat=True))
        if len(snapshot.groups) >= _MAX_CACHED_USERS:
            snapshot.groups.clear()
        snapshot.groups[user_id] = groups
    return groups


def _levels_for(snapshot: _Snapshot, authenticated: bool, groups: frozenset[int]) -> dict[int, int]:
    key = (authenticated, groups)
    levels = snapshot.levels.get(key)
    if levels is None:
        levels = {}
        for board_id, audience, group_id, level in snapshot.grants:
            applies = (
                audience == "everyone"
                or (audience == "members" and authenticated)
                or (group_id is not None and group_id in groups)
            )
            if applies and level > levels.get(board_id, 0):
                levels[board_id] = level
        if not authenticated:
            # A visitor reads at most: posting and editing need an account whatever a board grants.
            levels = {board_id: min(level, READ) for board_id, level in levels.items()}
        if len(snapshot.levels) >= _MAX_CACHED_USERS:
            snapshot.levels.clear()
        snapshot.levels[key] = levels
    return levels


GENERATION_SQL = f"(SELECT value FROM {AccessGeneration._meta.db_table} WHERE id = 1)"


def access_generation() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {GENERATION_SQL}")
        row = cursor.fetchone()
    return row[0] or 0


def access_changed() -> None:
    """Move the access generation: call it in the transaction that changes a grant or a membership.

    The new number is random, not the old one plus one: a change rolled back takes its number
    with it, and a later change must not meet a process that kept grants under that number.
    """
    global _local_changes
    _local_changes += 1
    table = AccessGeneration._meta.db_table
    value = secrets.randbits(62) + 1
    with connection.cursor() as cursor:
        # An upsert: a flushed table (as tests between transactional cases) has no row.
        cursor.execute(
            f"INSERT INTO {table} (id, value) VALUES (1, %s) ON CONFLICT (id) DO UPDATE SET value = %s",
            [value, value],
        )
    if connection.in_atomic_block:
        # Another request of this process may have read the old grants before the commit.
        transaction.on_commit(_forget_local)


def _forget_local() -> None:
    global _local_changes, _snapshot
    _local_changes += 1
    _snapshot = None


def forget() -> None:
    """Forget every kept grant of this process (tests, between databases that roll back)."""
    _forget_local()


def readable_boards(user, *, generation: int | None = None) -> tuple[int, ...]:
    """Return the ids of the boards the user may read: what every list filters on."""
    return access(user, generation=generation).readable


def may_read(user, board_id: int, *, generation: int | None = None) -> bool:
    return access(user, generation=generation).level(board_id) >= READ


def ensure_may_read(user, board_id: int, *, generation: int | None = None) -> None:
    """Raise MessageNotFound unless the user may read the board: a private board's messages do not exist to others."""
    if not may_read(user, board_id, generation=generation):
        raise MessageNotFound()


def may_post(user, board_id: int) -> bool:
    return bool(user.is_authenticated) and access(user).level(board_id) >= POST


def ensure_may_post(user, board_id: int) -> None:
    if not may_post(user, board_id):
        raise NotAllowed(POST_NOT_ALLOWED)


def moderates(user, board_id: int) -> bool:
    """Return whether the user moderates the board: a site moderator, or granted ``moderate`` there."""
    return bool(user.is_authenticated) and access(user).level(board_id) >= MODERATE


def moderated_boards(user) -> tuple[int, ...] | None:
    """Return the boards the user moderates, or None for a site moderator (every board)."""
    found = access(user)
    if found.site_moderator:
        return None
    return tuple(board_id for board_id, level in found.levels.items() if level >= MODERATE)


# --- Messages -----------------------------------------------------------------------------------


def may_edit(user, message: MessageFacts) -> bool:
    """Return whether the user may edit (and take the lease of, and revert) a message."""
    if not user.is_authenticated:
        return False
    found = access(user)
    level = found.level(message.board_id)
    if level >= MODERATE:
        return True
    if message.protected:
        return False
    own = user.pk == message.author_id
    if level >= EDIT:
        return own or not message.editors_restricted or _named_editor(found, message.pk)
    return level >= POST and own


def _named_editor(found: Access, message_id: int) -> bool:
    return MessageEditor.objects.filter(
        Q(user_id=found.user_id) | Q(group_id__in=found.group_ids), message_id=message_id
    ).exists()


def offers_edit(user, message: MessageFacts) -> bool:
    """Return whether a page offers the Edit button: to whoever may edit, and to visitors (asked to sign in).

    A visitor is offered it where signing in as a member would allow it: not on a protected
    message, nor on a board members may not edit.
    """
    if user.is_authenticated:
        return may_edit(user, message)
    members = _levels_for(_current_snapshot(access(user).generation), True, frozenset())
    return not message.protected and not message.editors_restricted and members.get(message.board_id, 0) >= EDIT


def group_level(group_id: int, board_id: int) -> int:
    """Return the level a member of the group has on the board (with what every member has)."""
    return _levels_for(_current_snapshot(), True, frozenset({group_id})).get(board_id, 0)


def edit_refusal(user, message: MessageFacts) -> NotAllowed | None:
    """Return why the user may not edit the message, or None when they may."""
    if may_edit(user, message):
        return None
    if message.protected:
        return NotAllowed(PROTECTED)
    if message.editors_restricted and access(user).level(message.board_id) >= EDIT:
        return NotAllowed(NOT_A_NAMED_EDITOR)
    return NotAllowed(EDIT_NOT_ALLOWED)


def ensure_may_edit(user, message: MessageFacts) -> None:
    refusal = edit_refusal(user, message)
    if refusal is not None:
        raise refusal


def may_set_editors(user, message) -> bool:
    """Return whether the user may name a message's editors: its author (while they may edit it) or a moderator.

    ``message`` also answers ``editors_locked``: editors a moderator named, only a moderator renames.
    """
    if moderates(user, message.board_id):
        return True
    return user.pk == message.author_id and not message.editors_locked and may_edit(user, message)


def ensure_may_set_editors(user, message) -> None:
    if not may_set_editors(user, message):
        raise NotAllowed(EDITORS_LOCKED if message.editors_locked else EDITORS_NOT_ALLOWED)


def may_edit_board(levels: Mapping[int, int], board_id: int) -> bool:
    """Return whether levels (Access.levels of a named editor) let them edit others' messages there."""
    return levels.get(board_id, 0) >= EDIT


def may_delete(user, *, board_id: int, author_id: int, protected: bool) -> bool:
    """Return whether the user may delete a message: its author unless a moderator froze it, or a moderator."""
    if not user.is_authenticated:
        return False
    level = access(user).level(board_id)
    # The author's own case first: it needs no permission look-up (the message page asks this).
    return (user.pk == author_id and not protected and level >= POST) or level >= MODERATE


def deletable_by(user) -> Q:
    """Return may_delete's rule as a condition on messages, for the delete's own statement to re-check."""
    if not user.is_authenticated:
        return Q(pk__in=[])
    found = access(user)
    if found.site_moderator:
        return Q()
    moderated = [board_id for board_id, level in found.levels.items() if level >= MODERATE]
    posting = [board_id for board_id, level in found.levels.items() if level >= POST]
    return Q(board_id__in=moderated) | Q(author_id=user.pk, protected=False, board_id__in=posting)


def ensure_may_delete(user, *, board_id: int, author_id: int, protected: bool) -> None:
    if may_delete(user, board_id=board_id, author_id=author_id, protected=protected):
        return
    raise NotAllowed(DELETE_PROTECTED if protected and user.pk == author_id else DELETE_NOT_ALLOWED)


def may_restore(user, *, board_id: int, author_id: int, deleted_by_id: int | None) -> bool:
    """Return whether the user may restore a deleted message.

    The author may undo only their own delete: a message a moderator deleted stays deleted
    until a moderator says otherwise.
    """
    if not user.is_authenticated:
        return False
    level = access(user).level(board_id)
    if level >= MODERATE:
        return True
    return user.pk == author_id and deleted_by_id == author_id and level >= POST


def ensure_may_restore(user, *, board_id: int, author_id: int, deleted_by_id: int | None) -> None:
    if may_restore(user, board_id=board_id, author_id=author_id, deleted_by_id=deleted_by_id):
        return
    raise NotAllowed(RESTORE_MODERATED if user.pk == author_id else RESTORE_NOT_ALLOWED)


def may_protect(user, board_id: int) -> bool:
    """Return whether the user may protect or unprotect a message of the board."""
    return moderates(user, board_id)


def ensure_may_protect(user, board_id: int) -> None:
    if not may_protect(user, board_id):
        raise NotAllowed(PROTECT_NOT_ALLOWED)


def may_break_lease(user, board_id: int) -> bool:
    """Return whether the user may end someone else's editing lease on a message of the board."""
    return moderates(user, board_id)


def ensure_may_break_lease(user, board_id: int) -> None:
    if not may_break_lease(user, board_id):
        raise NotAllowed(BREAK_NOT_ALLOWED)


def may_read_lease_events(user, board_id: int) -> bool:
    """Return whether the user may read who held a message's lease and when."""
    return moderates(user, board_id)


def ensure_may_read_lease_events(user, board_id: int) -> None:
    if not may_read_lease_events(user, board_id):
        raise NotAllowed(LEASE_EVENTS_NOT_ALLOWED)


def may_move(user, *, from_board: int, to_board: int) -> bool:
    """Return whether the user may move a message between boards: a moderator of both."""
    return moderates(user, from_board) and moderates(user, to_board)


def ensure_may_move(user, *, from_board: int, to_board: int) -> None:
    if not may_move(user, from_board=from_board, to_board=to_board):
        raise NotAllowed(MOVE_NOT_ALLOWED)


def may_enter_admin(user) -> bool:
    """Return whether the user may use the moderators' admin: site moderators, and staff who moderate a board."""
    if is_moderator(user):
        return True
    return bool(user.is_authenticated and user.is_active and user.is_staff and moderated_boards(user))


def may_manage_boards(user) -> bool:
    """Return whether the user may create boards and change who may do what on them."""
    return is_moderator(user)
