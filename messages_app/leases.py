"""The editing lease: who may edit a message now, and who is next.

Every decision is one atomic statement and every expiry is compared with the database's
clock, so any number of app servers with skewed clocks agree on who holds a lease. The
statements are written out in protocol_sql.py; the rules they carry out are here.

The queue: people kept waiting on the edit page line up in the order they opened it
(``queue_join``). When the lease frees, the first of them still there (their page asked
within MESSAGEBOARD_QUEUE_STALE_SECONDS) has it kept for MESSAGEBOARD_QUEUE_RESERVE_SECONDS:
the grant statement refuses everyone behind them and newcomers (LeaseReserved), their page
says it is their turn and opens the editor. A waiter who left, or let the turn pass, drops
out and the next one's turn comes.
"""

import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Case, Exists, F, Field, OuterRef, QuerySet, When
from django.db.models.functions import Now

from messages_app import metrics, protocol_sql
from messages_app.errors import LEASE_MAX_HOLD, LeaseCooldown, LeaseHeld, LeaseLost, LeaseReserved, TooManyLeases
from messages_app.models import EditLease, LeaseEvent, Message


@dataclass(frozen=True, slots=True)
class LeaseGrant:
    message_id: int
    holder: str
    token: str
    expires_at: datetime
    ttl_seconds: int


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    holder: str
    expires_at: datetime


def lease_ttl_seconds() -> int:
    """Return the lease time-to-live from settings."""
    return settings.MESSAGEBOARD_LEASE_SECONDS


def lease_acquire(*, message_id: int, user, include_protected: bool = True) -> LeaseGrant | None:
    """Take the message's lease for the user with a new token.

    The holder taking it again (another tab) gets a new token, and the old one dies. Raises
    LeaseHeld when someone else holds it; returns None when the message does not exist, is
    deleted, or is protected and include_protected is false. Records the transition as a
    LeaseEvent: ``acquired``, ``replaced`` (the holder again), or ``expired`` for the old
    holder followed by ``acquired`` (someone else's lease had run out).
    """
    if not fits_integer_column(message_id):
        return None
    ttl = lease_ttl_seconds()
    for _attempt in range(3):
        token = secrets.token_hex(16)
        expires_at = protocol_sql.grant(
            message_id=message_id, user=user, token=token, ttl=ttl, include_protected=include_protected
        )
        if expires_at is not None:
            return LeaseGrant(message_id, user.get_username(), token, expires_at, ttl)
        # Refused: say why, in one look-up. A message that may not be leased comes first, so
        # a protected message tells a member "protected", not who (a moderator) is editing it.
        state = _refusal_state(message_id)
        if state is None or state[0] is not None or (state[1] and not include_protected):
            return None
        if state[2] is not None and state[4] != user.pk:
            raise LeaseHeld(state[2], state[3])
        _raise_if_over_limits(message_id=message_id, user=user)
        _raise_if_someone_is_first(message_id=message_id, user=user)
        # The lease expired between our statement and the look-up: try again.
    raise LeaseHeld("another user", datetime.now(UTC))


def _refusal_state(message_id: int) -> tuple | None:
    valid = {"lease__expires_at__gt": Now()}
    return (
        Message.objects.filter(pk=message_id)
        .annotate(
            holder_name=Case(When(**valid, then=F("lease__holder__username")), default=None),
            held_until=Case(When(**valid, then=F("lease__expires_at")), default=None),
        )
        .values_list("deleted_at", "protected", "holder_name", "held_until", "lease__holder_id")
        .first()
    )


def _raise_if_over_limits(*, message_id: int, user) -> None:
    """Raise LeaseCooldown or TooManyLeases if one of them refused the user's grant."""
    cooldown = settings.MESSAGEBOARD_BREAK_COOLDOWN_SECONDS
    if cooldown:
        broken_at = (
            LeaseEvent.objects.filter(message_id=message_id, user=user, event=protocol_sql.BROKEN, by__isnull=False)
            .order_by("-id")
            .values_list("at", flat=True)
            .first()
        )
        if broken_at is not None:
            remaining = math.ceil((broken_at - datetime.now(UTC)).total_seconds()) + cooldown
            if remaining > 0:
                raise LeaseCooldown(remaining)
    most = settings.MESSAGEBOARD_MAX_LEASES_PER_USER
    if most:
        held = list(
            EditLease.objects.filter(holder=user, expires_at__gt=Now())
            .exclude(message_id=message_id)
            .order_by("message_id")
            .values_list("message_id", "message__subject")[:most]
        )
        if len(held) >= most:
            raise TooManyLeases(most, held)


def lease_renew(*, message_id: int, user, token: str) -> LeaseGrant:
    """Extend the caller's valid lease by one TTL, keeping its token, or raise LeaseLost.

    A lease renews only up to MESSAGEBOARD_LEASE_MAX_HOLD_SECONDS after it was taken or
    after its holder's last save of the message: a tab left open cannot hold it for ever.
    """
    if not fits_integer_column(message_id):
        raise LeaseLost()
    ttl = lease_ttl_seconds()
    max_hold = settings.MESSAGEBOARD_LEASE_MAX_HOLD_SECONDS
    expires_at = protocol_sql.renew(message_id=message_id, user=user, token=token, ttl=ttl, max_hold=max_hold)
    if expires_at is None:
        still_valid = EditLease.objects.filter(
            message_id=message_id, token=token, holder=user, expires_at__gt=Now()
        ).exists()
        raise LeaseLost(LEASE_MAX_HOLD) if still_valid else LeaseLost()
    return LeaseGrant(message_id, user.get_username(), token, expires_at, ttl)


def lease_release(*, message_id: int, user, token: str) -> None:
    """Give up the caller's valid lease (recorded as ``released``), or raise LeaseLost when the token is not it."""
    if not token or not fits_integer_column(message_id):
        raise LeaseLost()
    gone = protocol_sql.delete_recording(
        message_id=message_id, token=token, holder_id=user.pk, only_valid=True, event=protocol_sql.RELEASED
    )
    if gone is None:
        raise LeaseLost()


def lease_release_published(*, message_id: int, token: str) -> None:
    """Give up the lease a save was just published under, in that save's transaction.

    The save checked the lease; its expiry is not checked again, so a lease that runs out
    between the two statements cannot fail a save that already landed. The save moves the
    list generation itself, once for both.
    """
    protocol_sql.delete_recording(message_id=message_id, token=token, event=protocol_sql.RELEASED, moves_list=False)


def lease_drop(*, message_id: int) -> None:
    """Remove the lease of a message being deleted, in that delete's transaction.

    Only the deleting user's own valid lease can still be there (anyone else's refuses the
    delete): it is recorded as ``released``. An expired row goes without a record. The delete
    moves the list generation itself, once for both.
    """
    protocol_sql.delete_recording(message_id=message_id, event=protocol_sql.RELEASED, moves_list=False)


def lease_break(*, message_id: int, by=None, holder_id: int | None = None) -> bool:
    """Remove whatever lease the message has (only holder_id's, if given); return whether a valid one was broken.

    A broken valid lease is recorded as ``broken`` with the moderator ``by``; removing an
    expired row (nobody held the lease) records nothing.
    """
    if not fits_integer_column(message_id):
        return False
    gone = protocol_sql.delete_recording(
        message_id=message_id, holder_id=holder_id, event=protocol_sql.BROKEN, by_id=by.pk if by is not None else None
    )
    return bool(gone and gone[1])


@dataclass(frozen=True, slots=True)
class QueueState:
    """What a person waiting for a message's lease is told."""

    holder: LeaseInfo | None  # who holds the lease now, if anyone
    place: int | None  # the person's place in line (1: next), None when not in line
    turn_of: str | None  # whose turn it is, with the lease free and kept for them
    turn_until: datetime | None


# Places are counted no further: a line this long is told "more than this".
QUEUE_PLACES_COUNTED = 100


def queue_join(*, message_id: int, user) -> None:
    """Put the user in line for the message's lease (at the back, or where they already are)."""
    if fits_integer_column(message_id):
        protocol_sql.queue_join(message_id=message_id, user_id=user.pk)


def queue_state(*, message_id: int, user) -> QueueState:
    """Tell a waiting person where things stand, noting that their page asked (it keeps their place).

    With the lease free, the first waiter's turn starts now if it had not.
    """
    in_line = user.is_authenticated and protocol_sql.queue_seen(message_id=message_id, user_id=user.pk)
    protocol_sql.queue_start_turn(message_id=message_id)
    held, waiters = protocol_sql.queue_look(message_id=message_id, limit=QUEUE_PLACES_COUNTED)
    if held is None and waiters and waiters[0][2] is None:
        # Let go between the two statements: the first waiter's turn starts now, not at the next look.
        protocol_sql.queue_start_turn(message_id=message_id)
        held, waiters = protocol_sql.queue_look(message_id=message_id, limit=QUEUE_PLACES_COUNTED)
    holder = LeaseInfo(holder=held[0], expires_at=held[1]) if held else None
    place = next((i for i, row in enumerate(waiters, 1) if row[0] == user.pk), None) if in_line else None
    if in_line and place is None:
        place = QUEUE_PLACES_COUNTED + 1
    turn_of = turn_until = None
    if holder is None and waiters and waiters[0][2] is not None:
        turn_of, turn_until = waiters[0][1], waiters[0][2] + timedelta(seconds=_reserve_seconds())
    return QueueState(holder=holder, place=place, turn_of=turn_of, turn_until=turn_until)


def _raise_if_someone_is_first(*, message_id: int, user) -> None:
    """Raise LeaseReserved if the free lease is kept for a waiter ahead of the user."""
    protocol_sql.queue_start_turn(message_id=message_id)
    _held, waiters = protocol_sql.queue_look(message_id=message_id, limit=1)
    first = next(iter(waiters), None)
    if first is not None and first[0] != user.pk:
        turn_at = first[2] or datetime.now(UTC)
        raise LeaseReserved(first[1], turn_at + timedelta(seconds=_reserve_seconds()))


def _reserve_seconds() -> int:
    return settings.MESSAGEBOARD_QUEUE_RESERVE_SECONDS


def lease_current(*, message_id: int) -> LeaseInfo | None:
    """Return who holds the message's valid lease and until when, or None."""
    row = (
        EditLease.objects.filter(message_id=message_id, expires_at__gt=Now())
        .values_list("holder__username", "expires_at")
        .first()
    )
    return LeaseInfo(holder=row[0], expires_at=row[1]) if row else None


def lease_current_holder(*, message_id: int):
    """Return the user who holds the message's valid lease, or None."""
    lease = EditLease.objects.filter(message_id=message_id, expires_at__gt=Now()).select_related("holder").first()
    return lease.holder if lease else None


def lease_count_expired() -> int:
    """Return how many lease rows have expired (what lease_clear_expired would delete now)."""
    return EditLease.objects.filter(expires_at__lte=Now()).count()


def lease_clear_expired(*, batch: int = 1000) -> int:
    """Delete expired lease rows, recording each as ``expired`` when it lapsed; return how many went.

    A lease that lapsed stays a row until someone takes the message's lease again (and the
    take-over records it as expired). This clears the rows nobody came back for, in batches
    of ``batch`` each in a transaction of its own, so it runs beside a live board: a row
    renewed or taken again in the meantime is no longer expired, and the DELETE's own
    condition keeps it.
    """
    cleared = 0
    while True:
        gone = protocol_sql.clear_expired_batch(batch=batch)
        metrics.LEASES.labels("expired").inc(gone)
        cleared += gone
        if gone < batch:
            return cleared


def queue_clear_left(*, batch: int = 1000) -> int:
    """Delete the places in line of waiters who left or let their turn pass; return how many went."""
    cleared = 0
    while True:
        gone = protocol_sql.queue_clear_left_batch(batch=batch)
        cleared += gone
        if gone < batch:
            return cleared


def lease_held_message_ids() -> QuerySet:
    """Return the ids of messages someone holds a valid lease on, as a subquery.

    Filtering by ``pk__in`` this starts from the few current leases (expires_at is indexed)
    instead of probing the lease table once per message.
    """
    return EditLease.objects.filter(expires_at__gt=Now()).values("message_id")


def lease_held_by_other(*, user) -> Exists:
    """Return a condition, for a Message query, that someone but the user holds a valid lease."""
    return Exists(EditLease.objects.filter(message=OuterRef("pk"), expires_at__gt=Now()).exclude(holder=user))


def fits_integer_column(value: int, field: Field = Message._meta.pk) -> bool:
    """Return whether the value fits the field's integer column (a message id by default).

    The ORM answers "no such row" for an integer beyond the column's range (a URL can carry
    any number of digits); raw statements, and the ORM through a foreign key, would crash
    in the driver instead.
    """
    low, high = connection.ops.integer_field_range(field.get_internal_type())
    return low <= value <= high
