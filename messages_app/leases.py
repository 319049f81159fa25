"""The editing lease: who may edit a message now.

Every decision is one atomic statement and every expiry is compared with the database's
clock, so any number of app servers with skewed clocks agree on who holds a lease.
"""

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import NotSupportedError, connection
from django.db.models import Exists, OuterRef
from django.db.models.functions import Now
from django.utils.dateparse import parse_datetime

from messages_app.errors import LeaseHeld, LeaseLost
from messages_app.models import EditLease, Message

TABLE = EditLease._meta.db_table


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


def lease_acquire(*, message_id: int, user) -> LeaseGrant | None:
    """Take the message's lease for the user with a new token.

    The holder taking it again (another tab) gets a new token, and the old one dies. Raises
    LeaseHeld when someone else holds it; returns None when the message does not exist or
    is deleted.
    """
    if not _is_message_id(message_id):
        return None
    ttl = lease_ttl_seconds()
    now, expiry = _now_sql(), _expiry_sql()
    message_table = Message._meta.db_table
    # One statement decides: insert when there is no row, take over the row only when it
    # has expired or is the caller's own. Two racing callers cannot both see "free".
    sql = (
        f"INSERT INTO {TABLE} (message_id, holder_id, token, acquired_at, expires_at) "
        f"SELECT %s, %s, %s, {now}, {expiry} "
        f"WHERE EXISTS (SELECT 1 FROM {message_table} WHERE id = %s AND deleted_at IS NULL{_share_lock_sql()}) "
        f"ON CONFLICT (message_id) DO UPDATE SET holder_id = excluded.holder_id, "
        f"token = excluded.token, acquired_at = excluded.acquired_at, expires_at = excluded.expires_at "
        f"WHERE {TABLE}.expires_at <= {now} OR {TABLE}.holder_id = excluded.holder_id "
        f"RETURNING expires_at"
    )
    for _attempt in range(3):
        token = secrets.token_hex(16)
        with connection.cursor() as cursor:
            cursor.execute(sql, [message_id, user.pk, token, *_expiry_params(ttl), message_id])
            row = cursor.fetchone()
        if row is not None:
            return LeaseGrant(message_id, user.get_username(), token, _as_datetime(row[0]), ttl)
        holder = lease_current(message_id=message_id)
        if holder is not None:
            raise LeaseHeld(holder.holder, holder.expires_at)
        if not Message.objects.visible().filter(pk=message_id).exists():
            return None
        # The lease expired between our statement and the look-up: try again.
    raise LeaseHeld("another user", datetime.now(UTC))


def lease_renew(*, message_id: int, user, token: str) -> LeaseGrant:
    """Extend the caller's valid lease by one TTL, keeping its token, or raise LeaseLost."""
    if not _is_message_id(message_id):
        raise LeaseLost()
    ttl = lease_ttl_seconds()
    now, expiry = _now_sql(), _expiry_sql()
    sql = (
        f"UPDATE {TABLE} SET expires_at = {expiry} "
        f"WHERE message_id = %s AND token = %s AND holder_id = %s AND expires_at > {now} "
        f"RETURNING expires_at"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*_expiry_params(ttl), message_id, token, user.pk])
        row = cursor.fetchone()
    if row is None:
        raise LeaseLost()
    return LeaseGrant(message_id, user.get_username(), token, _as_datetime(row[0]), ttl)


def lease_release(*, message_id: int, user, token: str) -> None:
    """Give up the caller's valid lease, or raise LeaseLost when the token is not it."""
    if not _is_message_id(message_id):
        raise LeaseLost()
    sql = f"DELETE FROM {TABLE} WHERE message_id = %s AND token = %s AND holder_id = %s AND expires_at > {_now_sql()}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [message_id, token, user.pk])
        if cursor.rowcount != 1:
            raise LeaseLost()


def lease_break(*, message_id: int) -> bool:
    """Remove whatever lease the message has; return whether a valid one was broken."""
    if not _is_message_id(message_id):
        return False
    sql = f"DELETE FROM {TABLE} WHERE message_id = %s RETURNING expires_at > {_now_sql()}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [message_id])
        row = cursor.fetchone()
    return bool(row and row[0])


def lease_current(*, message_id: int) -> LeaseInfo | None:
    """Return who holds the message's valid lease and until when, or None."""
    row = (
        EditLease.objects.filter(message_id=message_id, expires_at__gt=Now())
        .values_list("holder__username", "expires_at")
        .first()
    )
    return LeaseInfo(holder=row[0], expires_at=row[1]) if row else None


def lease_clear_expired() -> int:
    """Delete expired lease rows and return how many went."""
    deleted, _ = EditLease.objects.filter(expires_at__lte=Now()).delete()
    return deleted


def lease_held_by(*, token: str, user) -> Exists:
    """Return a condition, for a Message query, that the token is the user's valid lease."""
    return Exists(EditLease.objects.filter(message=OuterRef("pk"), token=token, holder=user, expires_at__gt=Now()))


def lease_held_by_anyone() -> Exists:
    """Return a condition, for a Message query, that someone holds a valid lease."""
    return Exists(EditLease.objects.filter(message=OuterRef("pk"), expires_at__gt=Now()))


def lease_held_by_other(*, user) -> Exists:
    """Return a condition, for a Message query, that someone but the user holds a valid lease."""
    return Exists(EditLease.objects.filter(message=OuterRef("pk"), expires_at__gt=Now()).exclude(holder=user))


def _is_message_id(message_id: int) -> bool:
    # The ORM answers "no such row" for an id beyond the column's range (a URL can carry
    # any number of digits); the raw statements here would crash in the driver instead.
    low, high = connection.ops.integer_field_range(Message._meta.pk.get_internal_type())
    return low <= message_id <= high


def _share_lock_sql() -> str:
    # PostgreSQL: a save's or a delete's lease check runs on a snapshot, which cannot see a
    # lease granted after it was taken. Sharing the message row's lock makes a grant wait for
    # a save or delete under way, and makes them wait for the grant (services.py locks the
    # row before checking). SQLite runs one writer at a time, so it needs nothing.
    return " FOR SHARE" if connection.vendor == "postgresql" else ""


def _now_sql() -> str:
    if connection.vendor == "postgresql":
        return "statement_timestamp()"
    if connection.vendor == "sqlite":
        # The same text form Django's Now() gives on SQLite, so comparisons with it agree.
        return "strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now')"
    raise NotSupportedError(f"leases do not support the {connection.vendor} database")


def _expiry_sql() -> str:
    if connection.vendor == "postgresql":
        return "(statement_timestamp() + make_interval(secs => %s))"
    return "strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now', %s)"


def _expiry_params(ttl: int) -> list:
    if connection.vendor == "postgresql":
        return [ttl]
    return [f"+{ttl} seconds"]


def _as_datetime(value) -> datetime:
    if isinstance(value, str):
        value = parse_datetime(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value
