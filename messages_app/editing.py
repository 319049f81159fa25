"""Editing a message: the edit page's and the API's use cases, from taking the lease to the save.

- ``message_edit_open``: take the lease and read what is edited (the edit page's GET).
- ``message_edit_save``: publish a new version under the save protocol (docs/DESIGN.md): the body
  file is written and made durable first, then one statement (``protocol_sql.save_publish``) moves
  the message to it if the version and the lease still allow; a refused save writes nothing.
- ``message_revert``: an old version saved again as the new one, by the same rules.
- ``message_merge``: the caller's text, started from an older version, merged with the current
  one (merge.py) when the version moved on: offered, never saved, until the person has seen it.
- The lease calls around them: acquire, renew, release, and a moderator's break.

Every hand-written statement these run is in ``protocol_sql.py``, beside the lease rules in ``leases.py``.
"""

import functools
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from messages_app import bodies, events, leases, metrics, permissions, protocol_sql, selectors, services
from messages_app.errors import (
    DRAFT_BASE_INVALID,
    AlreadyCurrent,
    InvalidInput,
    LeaseHeld,
    LeaseLost,
    MessageGone,
    MessageNotFound,
    VersionConflict,
)
from messages_app.history_selectors import revision_body, revision_get
from messages_app.leases import LeaseGrant
from messages_app.merge import Conflict, TextMerge, merge_text
from messages_app.models import LeaseEvent, Message
from messages_app.selectors import MessageRow, message_must_be_visible, message_state

# A save refused by a lease that is gone a moment later is tried again this many times in all.
SAVE_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class OpenedEditor:
    """What the edit form shows: the message as it is under the caller's new lease, and its body."""

    message: MessageRow
    body: str
    lease: LeaseGrant


@dataclass(frozen=True, slots=True)
class SavedEdit:
    message_id: int
    version: int
    subject: str
    size: int
    sha256: str
    updated_at: datetime


@events.logged("edit.open")
def message_edit_open(*, message_id: int, user) -> OpenedEditor:
    """Take the message's lease for the user and read the message and its body under it.

    Read after the lease is the user's: no one else can publish a version until it ends, so
    the form starts from the version the save will be checked against. Raises what taking
    the lease raises (LeaseHeld, TooManyLeases, LeaseCooldown, NotAllowed, MessageGone,
    MessageNotFound). Someone else holding the lease, or having it kept for their turn, puts
    the user in line for it (leases.py, "the queue").
    """
    try:
        grant = message_lease_acquire(message_id=message_id, user=user)
    except LeaseHeld:
        leases.queue_join(message_id=message_id, user=user)
        raise
    message = selectors.message_get(message_id=message_id, viewer=user)
    return OpenedEditor(message=message, body=selectors.message_body(message), lease=grant)


@events.logged("save")
def message_edit_save(
    *,
    message_id: int,
    user,
    base_version: int,
    lease_token: str | None,
    subject: str | None,
    body: str,
    release_lease: bool = False,
    consumes_draft: bool = True,
    draft_seq: int = 0,
) -> SavedEdit:
    """Publish a new version of a message, written by the caller from base_version.

    With a lease token the caller must hold that valid lease; without one nobody may hold a
    valid lease. Refused saves change nothing and raise VersionConflict, LeaseLost,
    LeaseHeld, MessageGone or MessageNotFound. A published edit ends the user's draft of the
    message (drafts.py) unless ``consumes_draft`` is false; ``draft_seq`` is the last draft
    number the saving page gave out, so none of its heartbeats still on the way revives it.
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
        services.subject_validate(subject)
    data = services.body_validate(body)
    new_version = base_version + 1
    now = timezone.now()
    writing = time.perf_counter()
    stored = bodies.body_save(message_id=message_id, version=new_version, data=data, text=body)
    metrics.SAVE_SECONDS.labels("body_write").observe(time.perf_counter() - writing)
    publish = functools.partial(
        protocol_sql.save_publish,
        message_id=message_id,
        base_version=base_version,
        lease_token=lease_token,
        user=user,
        subject=subject,
        stored=stored,
        text=body,
        now=now,
    )
    published = block_done = False
    draft_key = None
    try:
        for _attempt in range(SAVE_ATTEMPTS):
            block_done = False
            committing = time.perf_counter()
            with transaction.atomic():
                protocol_sql.lock_message_row(message_id)
                published_subject = publish(protected=False)
                if published_subject is None and permissions.moderates(
                    user, message_state(message_id=message_id).board_id
                ):
                    # A protected message is frozen for everyone but moderators. Asked only after a
                    # refusal: the permission look-up costs queries the usual save does not need.
                    published_subject = publish(protected=True)
                published = published_subject is not None
                if published:
                    subject = published_subject
                    if release_lease and lease_token:
                        leases.lease_release_published(message_id=message_id, token=lease_token)
                    if consumes_draft:
                        draft_key = protocol_sql.draft_consume(
                            message_id=message_id, user_id=user.pk, seq=draft_seq, now=now
                        )
                block_done = True
            if published:
                metrics.SAVE_SECONDS.labels("commit").observe(time.perf_counter() - committing)
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
            bodies.body_delete_unpublished(stored.key)
    if draft_key:
        bodies.draft_delete(draft_key)
    return SavedEdit(message_id, new_version, subject, stored.size, stored.sha256, now)


def _save_refusal(*, message_id: int, user, base_version: int, lease_token: str | None) -> Exception | None:
    """Return why a save of this request would be refused now, or None if it would be accepted.

    The order is the API's: the message exists, is not deleted, the user may edit it, then
    the version, then the lease the request names (or, naming none, that nobody holds one).
    """
    state = protocol_sql.save_state(message_id=message_id)
    if state is None:
        return MessageNotFound()
    # The generation came with the state: the right is answered from what this process keeps.
    if not permissions.may_read(user, state.board_id, generation=state.access_generation):
        return MessageNotFound()
    if state.deleted:
        return MessageGone()
    refusal = permissions.edit_refusal(user, state)
    if refusal is not None:
        return refusal
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


@events.logged("revert")
def message_revert(*, message_id: int, user, version: int, base_version: int, lease_token: str | None) -> SavedEdit:
    """Publish an old version's subject and body as a new version by the user.

    History is never rewritten: the old version is copied forward. The rules are an edit's
    (message_edit_save publishes it), and reverting to the current version is refused with
    AlreadyCurrent.
    """
    state = message_state(message_id=message_id, viewer=user)
    # Permission right after the message is found: which version is named tells nothing.
    permissions.ensure_may_edit(user, state)
    revision = revision_get(message_id=message_id, version=version)
    if version == revision.message_version:
        raise AlreadyCurrent()
    return message_edit_save(
        message_id=message_id,
        user=user,
        base_version=base_version,
        lease_token=lease_token,
        subject=revision.subject,
        body=revision_body(revision),
        # The user's draft is their own text, which a restored old version does not save.
        consumes_draft=False,
    )


@dataclass(frozen=True, slots=True)
class MergedEdit:
    """The caller's text merged onto the current version: what to show before anything is saved."""

    version: int  # the current version the text is now based on
    subject: TextMerge
    body: TextMerge

    @property
    def conflicts(self) -> list[tuple[str, Conflict]]:
        return [("subject", c) for c in self.subject.conflicts] + [("body", c) for c in self.body.conflicts]

    @property
    def clean(self) -> bool:
        return self.subject.clean and self.body.clean


def message_merge(*, message_id: int, user, base_version: int, subject: str | None, body: str) -> MergedEdit:
    """Merge the user's subject and body, written from base_version, with the message's current version.

    Checked in the API's order: the message (MessageNotFound, MessageGone), the right to edit
    it (NotAllowed), then the input (InvalidInput, BodyTooLarge; a base_version the message
    never had). Nothing is written. A merge costs bounded work whatever the texts (merge.py).
    """
    current = selectors.message_get(message_id=message_id, viewer=user)
    permissions.ensure_may_edit(user, current)
    return merge_onto(current, selectors.message_body(current), base_version=base_version, subject=subject, body=body)


def merge_onto(
    current: MessageRow, current_body: str, *, base_version: int, subject: str | None, body: str
) -> MergedEdit:
    """Merge text written from base_version onto the current version, already read by a caller who may edit it.

    The editor passes what it opened under the lease, so a merge reads only the base version.
    Raises InvalidInput (BodyTooLarge) for text that could never be saved or a base_version the
    message never had.
    """
    if subject is not None:
        services.subject_validate(subject)
    services.body_validate(body)
    if isinstance(base_version, bool) or not 1 <= base_version <= current.version:
        raise InvalidInput(DRAFT_BASE_INVALID, field="base_version")
    if base_version == current.version:
        base_subject, base_body = current.subject, current_body
    else:
        base = revision_get(message_id=current.pk, version=base_version)
        base_subject, base_body = base.subject, revision_body(base)
    mine_subject = current.subject if subject is None else subject
    return MergedEdit(
        version=current.version,
        subject=merge_text(base_subject, mine_subject, current.subject),
        body=merge_text(base_body, body, current_body),
    )


@events.logged("lease.acquire")
def message_lease_acquire(*, message_id: int, user) -> LeaseGrant:
    """Take a message's editing lease for the user (a new token each time).

    Only those who may edit the message may (NotAllowed; MessageNotFound for those who may not
    read its board). A user holds at most MESSAGEBOARD_MAX_LEASES_PER_USER leases
    (TooManyLeases), and may not take back a lease a moderator broke for
    MESSAGEBOARD_BREAK_COOLDOWN_SECONDS (LeaseCooldown).
    """
    state = message_must_be_visible(message_id, viewer=user)
    permissions.ensure_may_edit(user, state)
    # The statement itself refuses a protected message to anyone but the board's moderators,
    # so a moderator protecting it between the check and the grant still wins.
    moderator = permissions.moderates(user, state.board_id)
    grant = leases.lease_acquire(message_id=message_id, user=user, include_protected=moderator)
    if grant is None:
        permissions.ensure_may_edit(user, message_must_be_visible(message_id, viewer=user))
        raise MessageGone()
    if permissions.access_moved(user):
        # A grant changed while the lease was being taken: a revoke's end of leases may have
        # run before this grant, so the right is asked again and the lease given back if gone.
        refusal = permissions.edit_refusal(user, message_must_be_visible(message_id, viewer=user))
        if refusal is not None:
            leases.lease_release(message_id=message_id, user=user, token=grant.token)
            raise refusal
    return grant


def message_lease_wait(*, message_id: int, user) -> leases.QueueState:
    """Tell a person waiting for a visible message's lease who holds it, their place, and whose turn it is."""
    message_must_be_visible(message_id, viewer=user)
    return leases.queue_state(message_id=message_id, user=user)


@events.logged("lease.renew")
def message_lease_renew(*, message_id: int, user, token: str) -> LeaseGrant:
    """Extend the user's lease on a message, up to MESSAGEBOARD_LEASE_MAX_HOLD_SECONDS since taken or saved.

    A lease a moderator broke says so, and by whom: the holder's page tells them their text is
    kept as their draft.
    """
    try:
        return leases.lease_renew(message_id=message_id, user=user, token=token)
    except LeaseLost:
        state = message_must_be_visible(message_id, viewer=user)
        if not permissions.may_edit(user, state):
            raise LeaseLost(
                "You may no longer edit this message: who may edit it changed. Your text is safe: it is kept "
                "as your draft."
            ) from None
        broken = _broken_by_moderator(message_id=message_id, user=user)
        if broken is not None:
            moderator, at = broken
            raise LeaseLost(
                f"{moderator}, a moderator, took over editing this message at {at:%H:%M:%S} UTC. Your text is "
                "safe: it is kept as your draft, offered when you open the editor again."
            ) from None
        raise


def _broken_by_moderator(*, message_id: int, user) -> tuple[str, datetime] | None:
    """Return who broke the user's lease on the message and when, if that is the last thing that happened to it."""
    last = (
        LeaseEvent.objects.filter(message_id=message_id, user=user)
        .order_by("-id")
        .values_list("event", "by__username", "at")
        .first()
    )
    if last is None or last[0] != LeaseEvent.Kind.BROKEN or last[1] is None:
        return None
    return last[1], last[2]


@events.logged("lease.release")
def message_lease_release(*, message_id: int, user, token: str | None) -> None:
    """Give up the user's lease; without a token a moderator breaks whoever holds it."""
    if token:
        try:
            leases.lease_release(message_id=message_id, user=user, token=token)
        except LeaseLost:
            message_must_be_visible(message_id, viewer=user)
            raise
        return
    message_lease_break(message_id=message_id, user=user)


@events.logged("lease.break")
def message_lease_break(*, message_id: int, user) -> bool:
    """Break whoever's lease a message has (moderators only); return whether a valid one was broken."""
    state = message_must_be_visible(message_id, viewer=user)
    permissions.ensure_may_break_lease(user, state.board_id)
    return leases.lease_break(message_id=message_id, by=user)
