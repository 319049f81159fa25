"""Boards: making them, who may do what on them, moving messages between them, and naming a message's editors.

The rules themselves (who may read, post, edit, moderate) are in permissions.py; this module
changes what they read and keeps each board's counters. Every change of a grant or a
membership moves the access generation and ends the leases of those who may no longer edit.
"""

import re
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.signals import m2m_changed, post_delete
from django.dispatch import receiver

from messages_app import leases, pagecache, permissions
from messages_app.errors import BoardExists, BoardNotFound, InvalidInput, MessageGone, MessageNotFound, UnknownAudience
from messages_app.models import Board, BoardGrant, EditLease, Message, MessageEditor
from messages_app.selectors import message_state

SLUG_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
SLUG_MAX_LENGTH = Board._meta.get_field("slug").max_length
NAME_MAX_LENGTH = Board._meta.get_field("name").max_length
DESCRIPTION_MAX_LENGTH = Board._meta.get_field("description").max_length
# Names one message's editors list may hold: each is looked up on every restricted edit.
MAX_EDITORS = 50


# --- Reading boards -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BoardSummary:
    """A board as the boards page and the API list it."""

    id: int
    slug: str
    name: str
    description: str
    messages: int
    may_post: bool
    newest_id: int | None
    newest_subject: str | None
    newest_updated_at: datetime | None


def default_board() -> Board:
    """Return the board messages go to when none is named, making it (open as before boards) if it is gone.

    Migration 0012 makes it; a database emptied since (a test's flush) gets it back here.
    """
    slug = settings.MESSAGEBOARD_DEFAULT_BOARD
    board = Board.objects.filter(slug=slug).first()
    if board is not None:
        return board
    with transaction.atomic():
        board, created = Board.objects.get_or_create(
            slug=slug, defaults={"name": slug.replace("-", " ").capitalize(), "description": ""}
        )
        if created:
            BoardGrant.objects.create(board=board, audience=BoardGrant.Audience.EVERYONE, level=permissions.READ)
            BoardGrant.objects.create(board=board, audience=BoardGrant.Audience.MEMBERS, level=permissions.EDIT)
            permissions.access_changed()
    return board


def board_get(*, slug: str, viewer=None) -> Board:
    """Return the board with this slug; BoardNotFound also when ``viewer`` may not read it (no private board leaks)."""
    board = Board.objects.filter(slug=slug).first() if isinstance(slug, str) and len(slug) <= SLUG_MAX_LENGTH else None
    if board is None or (viewer is not None and not permissions.may_read(viewer, board.pk)):
        raise BoardNotFound()
    return board


def board_list(*, viewer, generation: int | None = None) -> list[BoardSummary]:
    """Return the boards the viewer may read, by name, with their counters and newest message: one query."""
    readable = permissions.readable_boards(viewer, generation=generation)
    if not readable:
        return []
    rows = (
        Board.objects.filter(pk__in=readable)
        .order_by("name", "id")
        .values_list(
            "id",
            "slug",
            "name",
            "description",
            "message_count",
            "newest_message_id",
            "newest_message__subject",
            "newest_message__updated_at",
        )
    )
    return [
        BoardSummary(
            id=board_id,
            slug=slug,
            name=name,
            description=description,
            messages=count,
            may_post=permissions.may_post(viewer, board_id),
            newest_id=newest_id,
            newest_subject=newest_subject,
            newest_updated_at=newest_updated_at,
        )
        for board_id, slug, name, description, count, newest_id, newest_subject, newest_updated_at in rows
    ]


def postable_boards(*, user) -> list[Board]:
    """Return the boards the user may post to, by name (the new-message form's choices)."""
    if not user.is_authenticated:
        return []
    found = permissions.access(user)
    if found.site_moderator:
        return list(Board.objects.order_by("name", "id"))
    allowed = [board_id for board_id, level in found.levels.items() if level >= permissions.POST]
    return list(Board.objects.filter(pk__in=allowed).order_by("name", "id"))


def board_for_post(*, slug: str | None, user) -> Board:
    """Return the board a new message goes to (the default one when none is named).

    Raises BoardNotFound, or NotAllowed unless the user may post there.
    """
    board = default_board() if slug is None else board_get(slug=slug, viewer=user)
    permissions.ensure_may_post(user, board.pk)
    return board


# --- Counters -----------------------------------------------------------------------------------


def counters_added(*, board_id: int, message_id: int) -> None:
    """Count a message that became visible on the board (posted, restored or moved in), in its transaction."""
    table = Board._meta.db_table
    with connection.cursor() as cursor:
        # The greater id wins: two posts committing out of order keep the newest.
        cursor.execute(
            f"UPDATE {table} SET message_count = message_count + 1, newest_message_id = CASE "
            f"WHEN newest_message_id IS NULL OR newest_message_id < %s THEN %s ELSE newest_message_id END "
            f"WHERE id = %s",
            [message_id, message_id, board_id],
        )


def counters_bulk_added(added: dict[int, tuple[int, int]]) -> None:
    """Count messages loaded in bulk: per board, how many and the greatest id (seed, import)."""
    for board_id, (count, newest) in added.items():
        Board.objects.filter(pk=board_id).update(message_count=F("message_count") + count)
        Board.objects.filter(pk=board_id).filter(
            Q(newest_message_id__isnull=True) | Q(newest_message_id__lt=newest)
        ).update(newest_message_id=newest)


def counters_removed(*, board_id: int, message_id: int) -> None:
    """Uncount a message that left the board (deleted or moved out), in its transaction.

    Only when it was the newest is the next newest looked up: one step down the board's index.
    """
    table, messages = Board._meta.db_table, Message._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET message_count = CASE WHEN message_count > 0 THEN message_count - 1 ELSE 0 END, "
            f"newest_message_id = CASE WHEN newest_message_id = %s THEN (SELECT id FROM {messages} "
            f"WHERE board_id = %s AND deleted_at IS NULL AND id <> %s ORDER BY id DESC LIMIT 1) "
            f"ELSE newest_message_id END WHERE id = %s",
            [message_id, board_id, message_id, board_id],
        )


# --- Making boards and granting levels ----------------------------------------------------------


def board_create(*, slug: str, name: str, description: str = "", private: bool = False) -> Board:
    """Make a board: read for everyone and edit for members, or, private, nothing for anyone yet."""
    if not isinstance(slug, str) or len(slug) > SLUG_MAX_LENGTH or not SLUG_PATTERN.fullmatch(slug):
        raise InvalidInput(
            f"The slug must be 1 to {SLUG_MAX_LENGTH} lowercase letters, digits and single hyphens.", field="slug"
        )
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX_LENGTH:
        raise InvalidInput(f"The name must be 1 to {NAME_MAX_LENGTH} characters.", field="name")
    if len(description or "") > DESCRIPTION_MAX_LENGTH:
        raise InvalidInput(f"The description must be at most {DESCRIPTION_MAX_LENGTH} characters.", field="description")
    with transaction.atomic():
        if Board.objects.select_for_update().filter(slug=slug).exists():
            raise BoardExists()
        board = Board.objects.create(slug=slug, name=name, description=description or "")
        if not private:
            BoardGrant.objects.create(board=board, audience=BoardGrant.Audience.EVERYONE, level=permissions.READ)
            BoardGrant.objects.create(board=board, audience=BoardGrant.Audience.MEMBERS, level=permissions.EDIT)
        permissions.access_changed()
    return board


def level_parse(level: str) -> int:
    value = permissions.LEVELS.get(level) if isinstance(level, str) else None
    if value is None:
        raise InvalidInput("The level must be read, post, edit or moderate.", field="level")
    return value


def _audience(audience: str) -> tuple[str, Group | None]:
    if audience in (BoardGrant.Audience.EVERYONE, BoardGrant.Audience.MEMBERS):
        return audience, None
    group = Group.objects.filter(name=audience).first() if isinstance(audience, str) else None
    if group is None:
        raise UnknownAudience(
            f"There is no group named {audience!r}: the audience must be everyone, members or a group."
        )
    return BoardGrant.Audience.GROUP, group


def board_grant(*, slug: str, audience: str, level: str) -> BoardGrant:
    """Give an audience (everyone, members or a group's name) a level on a board, replacing its previous one."""
    value = level_parse(level)
    board = board_get(slug=slug)
    kind, group = _audience(audience)
    with transaction.atomic():
        grant, _created = BoardGrant.objects.update_or_create(
            board=board, audience=kind, group=group, defaults={"level": value}
        )
        permissions.access_changed()
        leases_recheck(board_id=board.pk)
    return grant


def board_revoke(*, slug: str, audience: str) -> bool:
    """Take an audience's level on a board away; return whether it had one."""
    board = board_get(slug=slug)
    kind, group = _audience(audience)
    with transaction.atomic():
        deleted, _ = BoardGrant.objects.filter(board=board, audience=kind, group=group).delete()
        permissions.access_changed()
        leases_recheck(board_id=board.pk)
    return bool(deleted)


def grants_changed(*, board_id: int | None = None) -> None:
    """After grants changed another way (the admin's forms): move the generation and end leases no longer allowed."""
    with transaction.atomic():
        permissions.access_changed()
        leases_recheck(board_id=board_id)


def leases_recheck(*, board_id: int | None = None, message_id: int | None = None, user_id: int | None = None) -> int:
    """End the leases (of a board, a message or a user) whose holders may no longer edit; return how many.

    Leases are the few messages being edited right now, so each is asked about in turn. A
    lease ended so is recorded as broken by nobody; its holder's page says the lease was lost,
    and their text stays in their draft.
    """
    held = EditLease.objects.select_related("holder")
    if board_id is not None:
        held = held.filter(message__board_id=board_id)
    if message_id is not None:
        held = held.filter(message_id=message_id)
    if user_id is not None:
        held = held.filter(holder_id=user_id)
    ended = 0
    for lease in held:
        try:
            state = message_state(message_id=lease.message_id, include_deleted=True)
        except MessageNotFound:
            continue
        if not permissions.may_edit(lease.holder, state):
            ended += leases.lease_break(message_id=lease.message_id, holder_id=lease.holder_id)
    return ended


@receiver(m2m_changed, sender=get_user_model().groups.through)
def _membership_changed(sender, instance, action: str, reverse: bool, pk_set, **kwargs) -> None:
    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    permissions.access_changed()
    if action == "post_add":
        return  # joining a group takes no right away
    if not reverse:
        leases_recheck(user_id=instance.pk)
    elif pk_set:
        for user_id in pk_set:
            leases_recheck(user_id=user_id)
    else:
        leases_recheck()


@receiver(post_delete, sender=Group)
def _group_deleted(sender, **kwargs) -> None:
    permissions.access_changed()
    leases_recheck()


# --- Moving messages ----------------------------------------------------------------------------


def message_move(*, message_id: int, board_slug: str, user) -> bool:
    """Move a message to another board, with its history; return whether it moved. Moderators of both boards may."""
    state = message_state(message_id=message_id, viewer=user)
    target = board_get(slug=board_slug, viewer=user)
    permissions.ensure_may_move(user, from_board=state.board_id, to_board=target.pk)
    if target.pk == state.board_id:
        return False
    with transaction.atomic():
        moved = Message.objects.filter(pk=message_id, board_id=state.board_id, deleted_at__isnull=True).update(
            board_id=target.pk
        )
        if not moved:
            raise MessageGone()
        counters_removed(board_id=state.board_id, message_id=message_id)
        counters_added(board_id=target.pk, message_id=message_id)
        pagecache.list_changed()
        leases_recheck(message_id=message_id)
    return True


# --- A message's named editors ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Editors:
    """Who a message names as its editors; both empty: whoever the board lets edit."""

    users: list[str]
    groups: list[str]


def message_editors(*, message_id: int, viewer) -> Editors:
    """Return the editors a message names (anyone who may read it may see them)."""
    message_state(message_id=message_id, viewer=viewer)
    return editors_of(message_id)


def editors_of(message_id: int) -> Editors:
    """Return the editors a message names (the caller has checked it may be read)."""
    rows = MessageEditor.objects.filter(message_id=message_id).values_list("user__username", "group__name")
    users = sorted(user for user, _group in rows if user is not None)
    groups = sorted(group for _user, group in rows if group is not None)
    return Editors(users=users, groups=groups)


def message_editors_set(*, message_id: int, user, users: list[str], groups: list[str]) -> Editors:
    """Name who may edit a message (empty lists lift the restriction); its author or a moderator may.

    Every name must be a user or group the board lets edit (a name the board would refuse is a
    clear error, not a silent no-op). The author and the board's moderators always may edit.
    """
    state = message_state(message_id=message_id, viewer=user)
    permissions.ensure_may_set_editors(user, state)
    users, groups = _distinct(users, "users"), _distinct(groups, "groups")
    if len(users) + len(groups) > MAX_EDITORS:
        raise InvalidInput(f"A message names at most {MAX_EDITORS} editors.", field="users")
    user_model = get_user_model()
    found_users = {
        account.get_username(): account
        for account in user_model.objects.filter(**{f"{user_model.USERNAME_FIELD}__in": users}, is_active=True)
    }
    missing = [name for name in users if name not in found_users]
    if missing:
        raise InvalidInput(f"No such user: {', '.join(sorted(missing))}.", field="users")
    found_groups = {group.name: group for group in Group.objects.filter(name__in=groups)}
    missing = [name for name in groups if name not in found_groups]
    if missing:
        raise InvalidInput(f"No such group: {', '.join(sorted(missing))}.", field="groups")
    refused = [
        name
        for name, account in found_users.items()
        if permissions.access(account).level(state.board_id) < permissions.EDIT
    ]
    if refused:
        raise InvalidInput(f"This board does not let {', '.join(sorted(refused))} edit.", field="users")
    refused = [
        name
        for name, group in found_groups.items()
        if permissions.group_level(group.pk, state.board_id) < permissions.EDIT
    ]
    if refused:
        raise InvalidInput(f"This board does not let the group {', '.join(sorted(refused))} edit.", field="groups")
    # A moderator naming someone else's editors locks them against the author.
    locked = user.pk != state.author_id and permissions.moderates(user, state.board_id)
    with transaction.atomic():
        if not Message.objects.filter(pk=message_id, deleted_at__isnull=True).update(
            editors_restricted=bool(users or groups), editors_locked=locked and bool(users or groups)
        ):
            raise MessageGone()
        MessageEditor.objects.filter(message_id=message_id).delete()
        MessageEditor.objects.bulk_create(
            [MessageEditor(message_id=message_id, user=account) for account in found_users.values()]
            + [MessageEditor(message_id=message_id, group=group) for group in found_groups.values()]
        )
        pagecache.list_changed()
        leases_recheck(message_id=message_id)
    return editors_of(message_id)


def _distinct(names, field: str) -> list[str]:
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise InvalidInput(f"{field} must be a list of names.", field=field)
    return sorted(set(names))
