"""Posting, deleting, restoring and protecting messages, and the rules of what a subject and body may be.

Editing (the lease and the save) is in editing.py. Every write to messages goes through one of
the two modules.
"""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from messages_app import boards, bodies, leases, pagecache, permissions, protocol_sql, search
from messages_app.errors import (
    BODY_EMPTY,
    NOT_TEXT,
    NUL_NOT_ALLOWED,
    RESTORE_NOT_ALLOWED,
    SUBJECT_EMPTY,
    SUBJECT_TOO_LONG,
    BodyTooLarge,
    InvalidInput,
    LeaseHeld,
    MessageGone,
    NotAllowed,
    VersionConflict,
)
from messages_app.models import Message, Revision
from messages_app.selectors import message_must_be_visible, message_state

SUBJECT_MAX_LENGTH = 200


def subject_validate(subject: str) -> str:
    """Return the subject unchanged, or raise InvalidInput saying what is wrong with it."""
    _text_validate(subject, field="subject")
    if not subject.strip():
        raise InvalidInput(SUBJECT_EMPTY, field="subject")
    if len(subject) > SUBJECT_MAX_LENGTH:
        raise InvalidInput(SUBJECT_TOO_LONG, field="subject")
    return subject


def body_validate(body: str) -> bytes:
    """Return the body as UTF-8 bytes, or raise InvalidInput or BodyTooLarge."""
    data = _text_validate(body, field="body")
    if not body.strip():
        raise InvalidInput(BODY_EMPTY, field="body")
    limit = settings.MESSAGEBOARD_MAX_BODY_BYTES
    if len(data) > limit:
        raise BodyTooLarge(limit)
    return data


def _text_validate(text: str, *, field: str) -> bytes:
    if not isinstance(text, str):
        raise InvalidInput(NOT_TEXT.format(field=field), field=field)
    if "\x00" in text:
        raise InvalidInput(NUL_NOT_ALLOWED.format(field=field), field=field)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates, as JSON's "\ud800" can carry, are not text.
        raise InvalidInput(NOT_TEXT.format(field=field), field=field) from None


def message_create(*, author, subject: str, body: str, board_slug: str | None = None) -> Message:
    """Post a new message at version 1 to a board (the default board when none is named) and return it.

    Raises BoardNotFound (also for a board the author may not read) or NotAllowed (may not post there).
    """
    board = boards.board_for_post(slug=board_slug, user=author)
    subject_validate(subject)
    data = body_validate(body)
    now = timezone.now()
    stored = None
    block_done = False
    try:
        with transaction.atomic():
            # The key names the message id, so the row comes first; readers cannot see it
            # before the transaction, which only commits once the file is durable.
            message = Message.objects.create(
                board=board,
                subject=subject,
                body_key="",
                version=1,
                size=0,
                sha256="",
                author=author,
                created_at=now,
                updated_at=now,
                updated_by=author,
            )
            stored = bodies.body_save(message_id=message.pk, version=1, data=data, text=body)
            message.body_key = stored.key
            message.size = stored.size
            message.sha256 = stored.sha256
            message.save(update_fields=["body_key", "size", "sha256"])
            Revision.objects.create(
                message=message,
                version=1,
                subject=subject,
                body_key=stored.key,
                size=stored.size,
                sha256=stored.sha256,
                author=author,
                created_at=now,
            )
            search.document_put(message_id=message.pk, version=1, subject=subject, body=body, sha256=stored.sha256)
            boards.counters_added(board_id=board.pk, message_id=message.pk)
            pagecache.list_changed()
            block_done = True
    except BaseException:
        # Only an error inside the block surely rolled the row back; a failed commit may
        # have landed, and then the file must stay (at worst an orphan for verify_storage).
        if stored is not None and not block_done:
            bodies.body_delete_unpublished(stored.key)
        raise
    return message


def message_delete(*, message_id: int, user, base_version: int | None = None) -> None:
    """Soft-delete a message without reading its file; its author (unless protected) or a moderator may."""
    state = message_state(message_id=message_id, viewer=user)
    permissions.ensure_may_delete(user, board_id=state.board_id, author_id=state.author_id, protected=state.protected)
    # The rule again, in the statement: a moderator may protect the message (or the message
    # change hands) between the check above and the UPDATE.
    query = Message.objects.filter(permissions.deletable_by(user), pk=message_id, deleted_at__isnull=True).filter(
        ~leases.lease_held_by_other(user=user)
    )
    if base_version is not None:
        query = query.filter(version=base_version)
    with transaction.atomic():
        protocol_sql.lock_message_row(message_id)
        deleted = query.update(deleted_at=timezone.now(), deleted_by=user)
        if deleted:
            # The caller's own lease, if any, dies with the message (recorded as released).
            leases.lease_drop(message_id=message_id)
            boards.counters_removed(board_id=state.board_id, message_id=message_id)
            pagecache.list_changed()
    if deleted:
        return
    state = message_state(message_id=message_id)
    permissions.ensure_may_delete(user, board_id=state.board_id, author_id=state.author_id, protected=state.protected)
    if base_version is not None and state.version != base_version:
        raise VersionConflict(state.version)
    holder = leases.lease_current(message_id=message_id)
    if holder is not None:
        raise LeaseHeld(holder.holder, holder.expires_at)
    raise MessageGone()


def message_restore(*, message_id: int, user) -> bool:
    """Bring back a soft-deleted message; return whether it was deleted.

    A moderator may restore any message; its author only one they deleted themselves.
    """
    state = message_state(message_id=message_id, viewer=user, include_deleted=True)
    if state.deleted_at is None:
        if state.author_id != user.pk and not permissions.moderates(user, state.board_id):
            raise NotAllowed(RESTORE_NOT_ALLOWED)
        return False
    permissions.ensure_may_restore(
        user, board_id=state.board_id, author_id=state.author_id, deleted_by_id=state.deleted_by_id
    )
    # Only the delete that was checked is undone: a moderator deleting it again in between wins.
    with transaction.atomic():
        restored = Message.objects.filter(
            pk=message_id, deleted_at__isnull=False, deleted_by_id=state.deleted_by_id
        ).update(deleted_at=None, deleted_by=None)
        if restored:
            boards.counters_added(board_id=state.board_id, message_id=message_id)
            pagecache.list_changed()
    return bool(restored)


def message_protect(*, message_id: int, user) -> bool:
    """Freeze a message so that only moderators can edit it; return whether it changed.

    A member's lease on it ends (recorded as broken by the moderator): it would otherwise
    keep the moderator out of the message they just froze.
    """
    return _message_set_protected(message_id=message_id, user=user, protected=True)


def message_unprotect(*, message_id: int, user) -> bool:
    """Let everyone edit a protected message again; return whether it changed."""
    return _message_set_protected(message_id=message_id, user=user, protected=False)


def _message_set_protected(*, message_id: int, user, protected: bool) -> bool:
    # Deleted before forbidden, as for every call on a message.
    state = message_must_be_visible(message_id, viewer=user)
    permissions.ensure_may_protect(user, state.board_id)
    changed = Message.objects.filter(pk=message_id, deleted_at__isnull=True, protected=not protected)
    with transaction.atomic():
        # After the UPDATE: on PostgreSQL a grant under way holds the row's share lock, so the
        # UPDATE waits for it and the look-up below sees its lease; later grants see "protected".
        updated = bool(changed.update(protected=protected))
        if protected:
            lease = leases.lease_current_holder(message_id=message_id)
            if lease is not None and not permissions.moderates(lease, state.board_id):
                leases.lease_break(message_id=message_id, by=user, holder_id=lease.pk)
    return updated
