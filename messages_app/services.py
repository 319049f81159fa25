"""The use cases: every write to messages goes through one of these functions."""

import functools
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from messages_app import bodies, leases, pagecache, permissions
from messages_app.errors import (
    BODY_EMPTY,
    NOT_TEXT,
    NUL_NOT_ALLOWED,
    PROTECTED,
    RESTORE_NOT_ALLOWED,
    SUBJECT_EMPTY,
    SUBJECT_TOO_LONG,
    AlreadyCurrent,
    BodyTooLarge,
    InvalidInput,
    LeaseHeld,
    LeaseLost,
    MessageGone,
    MessageNotFound,
    NotAllowed,
    VersionConflict,
)
from messages_app.history_selectors import revision_body, revision_get
from messages_app.leases import LeaseGrant
from messages_app.models import Message, Revision
from messages_app.selectors import (
    message_must_be_visible,
    message_state,
)

logger = logging.getLogger(__name__)

SUBJECT_MAX_LENGTH = 200
# A save refused by a lease that is gone a moment later is tried again this many times in all.
SAVE_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class SavedEdit:
    message_id: int
    version: int
    subject: str
    size: int
    sha256: str
    updated_at: datetime


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


def message_create(*, author, subject: str, body: str) -> Message:
    """Post a new message at version 1 and return it."""
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
            pagecache.list_changed()
            block_done = True
    except BaseException:
        # Only an error inside the block surely rolled the row back; a failed commit may
        # have landed, and then the file must stay (at worst an orphan for verify_storage).
        if stored is not None and not block_done:
            _body_delete_quietly(stored.key)
        raise
    return message


def message_save_edit(
    *,
    message_id: int,
    user,
    base_version: int,
    lease_token: str | None,
    subject: str | None,
    body: str,
    release_lease: bool = False,
) -> SavedEdit:
    """Publish a new version of a message, written by the caller from base_version.

    With a lease token the caller must hold that valid lease; without one nobody may hold a
    valid lease. Refused saves change nothing and raise VersionConflict, LeaseLost,
    LeaseHeld, MessageGone or MessageNotFound.
    """
    if not leases.fits_integer_column(message_id):
        raise MessageNotFound()
    version_field = Message._meta.get_field("version")
    if not all(leases.fits_integer_column(version, version_field) for version in (base_version, base_version + 1)):
        # No version is that large: refused for whatever makes the message unsavable, or as stale.
        refusal = _save_refusal(message_id=message_id, user=user, base_version=base_version, lease_token=lease_token)
        raise refusal or VersionConflict()
    # Checked cheaply before the file is written, so a save that would be refused writes
    # nothing; the conditional UPDATE below stays the rule, for what changes in between.
    refusal = _save_refusal(message_id=message_id, user=user, base_version=base_version, lease_token=lease_token)
    if refusal is not None:
        raise refusal
    if subject is not None:
        subject_validate(subject)
    data = body_validate(body)
    new_version = base_version + 1
    now = timezone.now()
    stored = bodies.body_save(message_id=message_id, version=new_version, data=data, text=body)
    publish = functools.partial(
        leases.save_publish,
        message_id=message_id,
        base_version=base_version,
        lease_token=lease_token,
        user=user,
        subject=subject,
        stored=stored,
        now=now,
    )
    published = block_done = False
    try:
        for _attempt in range(SAVE_ATTEMPTS):
            block_done = False
            with transaction.atomic():
                _lock_message_row(message_id)
                published_subject = publish(protected=False)
                if published_subject is None and permissions.is_moderator(user):
                    # A protected message is frozen for everyone but moderators. Asked only after a
                    # refusal: the permission look-up costs queries the usual save does not need.
                    published_subject = publish(protected=True)
                published = published_subject is not None
                if published:
                    subject = published_subject
                    if release_lease and lease_token:
                        leases.lease_release_published(message_id=message_id, token=lease_token)
                block_done = True
            if published:
                break
            refusal = _save_refusal(
                message_id=message_id, user=user, base_version=base_version, lease_token=lease_token
            )
            if refusal is not None:
                raise refusal
            # Every condition holds again: the lease that refused the statement was released or
            # ran out since. The request as sent is valid now, so it is tried again rather than
            # refused for a lease it never named.
        else:
            raise LeaseLost() if lease_token else LeaseHeld("another user", timezone.now())
    finally:
        # An error inside the block rolled the row back, so the file was never published
        # either. Only a failed commit keeps it: the commit may have landed all the same.
        if not (published and block_done):
            _body_delete_quietly(stored.key)
    return SavedEdit(message_id, new_version, subject, stored.size, stored.sha256, now)


def _save_refusal(*, message_id: int, user, base_version: int, lease_token: str | None) -> Exception | None:
    """Return why a save of this request would be refused now, or None if it would be accepted.

    The order is the API's: the message exists, is not deleted, the user may edit it, then
    the version, then the lease the request names (or, naming none, that nobody holds one).
    """
    state = leases.save_state(message_id=message_id)
    if state is None:
        return MessageNotFound()
    if state.deleted:
        return MessageGone()
    if state.protected and not permissions.may_edit(user, protected=True):
        return NotAllowed(PROTECTED)
    if state.version != base_version:
        return VersionConflict(state.version)
    if lease_token:
        held = state.lease_holder_id == user.pk and state.lease_token is not None
        # Bytes: compare_digest refuses str with anything but ASCII, and a client sends what it likes.
        sent = lease_token.encode("utf-8", "surrogatepass")
        if not (held and secrets.compare_digest(state.lease_token.encode(), sent)):
            return LeaseLost()
        return None
    if state.lease_holder_id is not None:
        holder = leases.lease_current(message_id=message_id)
        return LeaseHeld(holder.holder, holder.expires_at) if holder else None
    return None


def message_delete(*, message_id: int, user, base_version: int | None = None) -> None:
    """Soft-delete a message without reading its file; its author (unless protected) or a moderator may."""
    state = message_state(message_id=message_id)
    permissions.ensure_may_delete(user, author_id=state.author_id, protected=state.protected)
    query = Message.objects.filter(pk=message_id, deleted_at__isnull=True).filter(
        ~leases.lease_held_by_other(user=user)
    )
    if not permissions.is_moderator(user):
        # A moderator may protect the message between the check above and this statement.
        query = query.filter(protected=False)
    if base_version is not None:
        query = query.filter(version=base_version)
    with transaction.atomic():
        _lock_message_row(message_id)
        deleted = query.update(deleted_at=timezone.now(), deleted_by=user)
        if deleted:
            # The caller's own lease, if any, dies with the message (recorded as released).
            leases.lease_drop(message_id=message_id)
            pagecache.list_changed()
    if deleted:
        return
    state = message_state(message_id=message_id)
    permissions.ensure_may_delete(user, author_id=state.author_id, protected=state.protected)
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
    state = message_state(message_id=message_id, include_deleted=True)
    if state.deleted_at is None:
        if state.author_id != user.pk and not permissions.is_moderator(user):
            raise NotAllowed(RESTORE_NOT_ALLOWED)
        return False
    permissions.ensure_may_restore(user, author_id=state.author_id, deleted_by_id=state.deleted_by_id)
    # Only the delete that was checked is undone: a moderator deleting it again in between wins.
    with transaction.atomic():
        restored = Message.objects.filter(
            pk=message_id, deleted_at__isnull=False, deleted_by_id=state.deleted_by_id
        ).update(deleted_at=None, deleted_by=None)
        if restored:
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
    message_must_be_visible(message_id)
    permissions.ensure_may_protect(user)
    changed = Message.objects.filter(pk=message_id, deleted_at__isnull=True, protected=not protected)
    with transaction.atomic():
        # After the UPDATE: on PostgreSQL a grant under way holds the row's share lock, so the
        # UPDATE waits for it and the look-up below sees its lease; later grants see "protected".
        updated = bool(changed.update(protected=protected))
        if protected:
            lease = leases.lease_current_holder(message_id=message_id)
            if lease is not None and not permissions.is_moderator(lease):
                leases.lease_break(message_id=message_id, by=user, holder_id=lease.pk)
    return updated


def message_revert(*, message_id: int, user, version: int, base_version: int, lease_token: str | None) -> SavedEdit:
    """Publish an old version's subject and body as a new version by the user.

    History is never rewritten: the old version is copied forward. The rules are an edit's
    (message_save_edit publishes it), and reverting to the current version is refused with
    AlreadyCurrent.
    """
    state = message_state(message_id=message_id)
    # Permission right after the message is found: which version is named tells nothing.
    permissions.ensure_may_edit(user, protected=state.protected)
    revision = revision_get(message_id=message_id, version=version)
    if version == revision.message_version:
        raise AlreadyCurrent()
    return message_save_edit(
        message_id=message_id,
        user=user,
        base_version=base_version,
        lease_token=lease_token,
        subject=revision.subject,
        body=revision_body(revision),
    )


def message_lease_acquire(*, message_id: int, user) -> LeaseGrant:
    """Take a message's editing lease for the user (a new token each time).

    A protected message's lease is only for moderators: others get NotAllowed. A user holds
    at most MESSAGEBOARD_MAX_LEASES_PER_USER leases (TooManyLeases), and may not take back a
    lease a moderator broke for MESSAGEBOARD_BREAK_COOLDOWN_SECONDS (LeaseCooldown).
    """
    grant = leases.lease_acquire(message_id=message_id, user=user, include_protected=False)
    if grant is not None:
        return grant
    # A visible message refused to the statement was protected. The permission is looked up
    # only now, as in message_save_edit: the usual grant costs no such queries.
    message_must_be_visible(message_id)
    if not permissions.may_edit(user, protected=True):
        raise NotAllowed(PROTECTED)
    grant = leases.lease_acquire(message_id=message_id, user=user, include_protected=True)
    if grant is None:
        message_must_be_visible(message_id)
        raise MessageGone()
    return grant


def message_lease_renew(*, message_id: int, user, token: str) -> LeaseGrant:
    """Extend the user's lease on a message, up to MESSAGEBOARD_LEASE_MAX_HOLD_SECONDS since taken or saved."""
    try:
        return leases.lease_renew(message_id=message_id, user=user, token=token)
    except LeaseLost:
        message_must_be_visible(message_id)
        raise


def message_lease_release(*, message_id: int, user, token: str | None) -> None:
    """Give up the user's lease; without a token a moderator breaks whoever holds it."""
    if token:
        try:
            leases.lease_release(message_id=message_id, user=user, token=token)
        except LeaseLost:
            message_must_be_visible(message_id)
            raise
        return
    message_lease_break(message_id=message_id, user=user)


def message_lease_break(*, message_id: int, user) -> bool:
    """Break whoever's lease a message has (moderators only); return whether a valid one was broken."""
    message_must_be_visible(message_id)
    permissions.ensure_may_break_lease(user)
    return leases.lease_break(message_id=message_id, by=user)


def _lock_message_row(message_id: int) -> None:
    # Taken before the statement that checks the lease, so its snapshot includes every lease
    # granted before the lock: lease_acquire shares this lock (see leases._share_lock_sql).
    # Without it, on PostgreSQL a lease-less save or a delete could commit after a lease was
    # granted, under the new holder's feet. SQLite's single writer makes it unnecessary.
    if connection.vendor == "postgresql":
        list(Message.objects.select_for_update(no_key=True).filter(pk=message_id).values_list("pk", flat=True))


def _body_delete_quietly(key: str) -> None:
    try:
        bodies.body_delete(key)
    except Exception:
        # The DB never pointed at this file, so it is only an orphan; verify_storage finds it.
        logger.warning("could not delete unpublished body %s", key, exc_info=True)
