"""Every hand-written SQL statement of the save and the lease protocol, beside the lease rules in leases.py.

They are written out because the ORM's building of these statements cost more than running
them (README "Performance"): they are every edit's and every lease's hot path. Each
transition is one statement, and every expiry in them is compared with the database's clock,
so any number of app servers with skewed clocks agree on who holds a lease.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import NotSupportedError, connection, transaction
from django.utils.dateparse import parse_datetime

from messages_app import pagecache, search
from messages_app.bodies import StoredBody
from messages_app.models import AccessGeneration, Draft, EditLease, LeaseEvent, LeaseWaiter, Message, Revision

TABLE = EditLease._meta.db_table
# First key of the PostgreSQL advisory lock a user's lease grants queue on (the second is the user).
ADVISORY_LOCK_LEASES = 0x6D62
EVENTS = LeaseEvent._meta.db_table
WAITERS = LeaseWaiter._meta.db_table
ACQUIRED, RELEASED, EXPIRED, REPLACED, BROKEN = (
    LeaseEvent.Kind.ACQUIRED.value,
    LeaseEvent.Kind.RELEASED.value,
    LeaseEvent.Kind.EXPIRED.value,
    LeaseEvent.Kind.REPLACED.value,
    LeaseEvent.Kind.BROKEN.value,
)


def grant(*, message_id: int, user, token: str, ttl: int, include_protected: bool) -> datetime | None:
    """Give the user the message's lease under ``token`` for ``ttl`` seconds, recording the transition.

    Return the lease's expiry, or None when the statement refused the grant.
    """
    now, expiry = now_sql(), _expiry_sql()
    message_table = Message._meta.db_table
    leasable = "" if include_protected else " AND NOT protected"
    limits_sql, limits_params = _acquire_limits_sql(message_id=message_id, user=user)
    # One statement decides: insert when there is no row, take over the row only when it
    # has expired or is the caller's own. Two racing callers cannot both see "free".
    # On the right of SET the table's columns are the row's old values (SQLite and
    # PostgreSQL alike), so previous_holder_id tells whose lease this grant replaced; a
    # fresh insert leaves it NULL.
    sql = (
        f"INSERT INTO {TABLE} (message_id, holder_id, token, acquired_at, expires_at) "
        f"SELECT %s, %s, %s, {now}, {expiry} "
        f"WHERE EXISTS (SELECT 1 FROM {message_table} "
        f"WHERE id = %s AND deleted_at IS NULL{leasable}{_share_lock_sql()}){limits_sql} "
        f"ON CONFLICT (message_id) DO UPDATE SET holder_id = excluded.holder_id, "
        f"token = excluded.token, acquired_at = excluded.acquired_at, expires_at = excluded.expires_at, "
        f"previous_holder_id = {TABLE}.holder_id "
        f"WHERE {TABLE}.expires_at <= {now} OR {TABLE}.holder_id = excluded.holder_id "
        f"RETURNING message_id, holder_id, expires_at, acquired_at, previous_holder_id"
    )
    params = [message_id, user.pk, token, *_expiry_params(ttl), message_id, *limits_params]
    row = _grant_recording(sql, params, user=user)
    return _as_datetime(row[2]) if row is not None else None


def _acquire_limits_sql(*, message_id: int, user) -> tuple[str, list]:
    # Part of the grant's one statement, so a user's concurrent requests cannot each find
    # room under the limit (on PostgreSQL they also queue on a per-user lock, _grant_recording).
    sql, params = "", []
    most = settings.MESSAGEBOARD_MAX_LEASES_PER_USER
    if most:
        sql += (
            f" AND (SELECT COUNT(*) FROM (SELECT 1 FROM {TABLE} WHERE holder_id = %s AND message_id <> %s "
            f"AND expires_at > {now_sql()} LIMIT %s) AS held) < %s"
        )
        params += [user.pk, message_id, most, most]
    cooldown = settings.MESSAGEBOARD_BREAK_COOLDOWN_SECONDS
    if cooldown:
        sql += (
            f" AND NOT EXISTS (SELECT 1 FROM {EVENTS} WHERE message_id = %s AND user_id = %s "
            f"AND event = '{BROKEN}' AND by_id IS NOT NULL AND at > {_expiry_sql()})"
        )
        params += [message_id, user.pk, *_expiry_params(-cooldown)]
    # Nobody ahead in line (leases.py, "the queue"): the caller's own valid lease (another tab)
    # is never held back; anyone else waits behind the waiters who came first and are still there.
    sql += (
        f" AND (EXISTS (SELECT 1 FROM {TABLE} WHERE message_id = %s AND holder_id = %s AND expires_at > {now_sql()})"
        f" OR NOT EXISTS (SELECT 1 FROM {WAITERS} w WHERE w.message_id = %s AND w.user_id <> %s AND {_in_line_sql()}"
        f" AND w.id < COALESCE((SELECT id FROM {WAITERS} WHERE message_id = %s AND user_id = %s), %s)))"
    )
    params += [message_id, user.pk, message_id, user.pk, *_in_line_params(), message_id, user.pk, 2**62]
    return sql, params


def _in_line_sql() -> str:
    # A waiter still in line: their page asked lately, and their turn, if it came, has not passed.
    return f"w.seen_at > {_expiry_sql()} AND (w.turn_at IS NULL OR w.turn_at > {_expiry_sql()})"


def _in_line_params() -> list:
    stale, reserve = settings.MESSAGEBOARD_QUEUE_STALE_SECONDS, settings.MESSAGEBOARD_QUEUE_RESERVE_SECONDS
    return [*_expiry_params(-stale), *_expiry_params(-reserve)]


def queue_join(*, message_id: int, user_id: int) -> None:
    """Put the user at the back of the message's line, or keep their place if they are still in it.

    Waiters who left (their page stopped asking) or let their turn pass are cleared first,
    the user among them: coming back, they queue again from the back.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {WAITERS} AS w WHERE w.message_id = %s AND NOT ({_in_line_sql()})",
            [message_id, *_in_line_params()],
        )
        cursor.execute(
            f"INSERT INTO {WAITERS} (message_id, user_id, joined_at, seen_at) "
            f"VALUES (%s, %s, {now_sql()}, {now_sql()}) "
            f"ON CONFLICT (message_id, user_id) DO UPDATE SET seen_at = excluded.seen_at",
            [message_id, user_id],
        )


def queue_seen(*, message_id: int, user_id: int) -> bool:
    """Note that a waiter's page asked again; return whether they are still in line."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {WAITERS} AS w SET seen_at = {now_sql()} WHERE w.message_id = %s AND w.user_id = %s "
            f"AND {_in_line_sql()}",
            [message_id, user_id, *_in_line_params()],
        )
        return cursor.rowcount > 0


Waiter = tuple[int, str, datetime | None]  # user id, username, when their turn began


def queue_look(*, message_id: int, limit: int) -> tuple[tuple[str, datetime] | None, list[Waiter]]:
    """Return who holds the lease (username, expiry) or None, and the first ``limit`` waiters still in line.

    One statement, so both are read at one moment: read apart, a grant landing between the two
    shows a free lease beside a line the new holder has already left.
    """
    users = get_user_model()._meta.db_table
    username = get_user_model()._meta.get_field(get_user_model().USERNAME_FIELD).column
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT part, user_id, name, at FROM ("
            f"SELECT 0 AS part, 0 AS place, l.holder_id AS user_id, u.{username} AS name, l.expires_at AS at "
            f"FROM {TABLE} l JOIN {users} u ON u.id = l.holder_id "
            f"WHERE l.message_id = %s AND l.expires_at > {now_sql()} "
            f"UNION ALL SELECT 1, place, user_id, name, at FROM ("
            f"SELECT w.id AS place, w.user_id AS user_id, u.{username} AS name, w.turn_at AS at "
            f"FROM {WAITERS} w JOIN {users} u ON u.id = w.user_id "
            f"WHERE w.message_id = %s AND {_in_line_sql()} ORDER BY w.id LIMIT %s) AS line"
            f") AS look ORDER BY part, place",
            [message_id, message_id, *_in_line_params(), limit],
        )
        rows = cursor.fetchall()
    holder = next(((name, _as_datetime(at)) for part, _, name, at in rows if part == 0), None)
    waiters = [(user_id, name, _as_datetime(at) if at else None) for part, user_id, name, at in rows if part == 1]
    return holder, waiters


def queue_clear_left_batch(*, batch: int) -> int:
    """Delete up to ``batch`` waiters out of line (their page stopped asking, or their turn passed); return how many.

    The DELETE re-checks its condition, so a waiter whose page asked meanwhile stays.
    """
    select = f"SELECT w.id FROM {WAITERS} w WHERE NOT ({_in_line_sql()}) ORDER BY w.id LIMIT %s"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {WAITERS} AS w WHERE w.id IN ({select}) AND NOT ({_in_line_sql()})",
            [*_in_line_params(), batch, *_in_line_params()],
        )
        return cursor.rowcount


def queue_start_turn(*, message_id: int) -> None:
    """Start the turn of the first waiter still in line, if it has not started: call it once the lease is free.

    Their reservation runs from the first moment anyone finds the lease free, so a waiter who
    left without a word holds the others up for one reservation at most.
    """
    # The lease is checked in the same statement: a grant landing between the caller's look
    # and this update must not start a turn while the new holder edits.
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {WAITERS} SET turn_at = {now_sql()} WHERE turn_at IS NULL AND id = ("
            f"SELECT w.id FROM {WAITERS} w WHERE w.message_id = %s AND {_in_line_sql()} ORDER BY w.id LIMIT 1) "
            f"AND NOT EXISTS (SELECT 1 FROM {TABLE} WHERE message_id = %s AND expires_at > {now_sql()})",
            [message_id, *_in_line_params(), message_id],
        )


# Every transition writes its LeaseEvent rows in its own transaction. On PostgreSQL the
# events are part of the transition's one statement (data-modifying WITH clauses): one round
# trip, and the lease row stays locked no longer than the statement, which keeps many
# editors' grants as fast as without the audit. SQLite has no INSERT inside WITH; there the
# statement and the INSERT share a transaction, under SQLite's single writer lock.


def _grant_recording(grant: str, params: list, *, user) -> tuple | None:
    if connection.vendor == "postgresql":
        # The expired row is produced first, so its id is below the acquired row's: events
        # read newest (highest id) first.
        sql = (
            f"WITH granted AS ({grant}), recorded AS ("
            f"INSERT INTO {EVENTS} (message_id, event, user_id, by_id, at) "
            f"SELECT message_id, event, user_id, NULL, acquired_at FROM ("
            f"SELECT 1 AS step, message_id, '{EXPIRED}' AS event, previous_holder_id AS user_id, acquired_at "
            f"FROM granted WHERE previous_holder_id <> holder_id "
            f"UNION ALL SELECT 2, message_id, CASE WHEN previous_holder_id = holder_id "
            f"THEN '{REPLACED}' ELSE '{ACQUIRED}' END, holder_id, acquired_at FROM granted"
            f") AS transition ORDER BY step), "
            # In line no more: the lease is theirs.
            f"unqueued AS (DELETE FROM {WAITERS} WHERE message_id = %s AND user_id = %s "
            f"AND EXISTS (SELECT 1 FROM granted)) "
            f"SELECT * FROM granted"
        )
        params = [*params, params[0], user.pk]
        if not settings.MESSAGEBOARD_MAX_LEASES_PER_USER:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                row = cursor.fetchone()
            _holder_shown(row)
            return row
        # The statement's snapshot is taken when it starts: only a user's grants queued one
        # after the other each see the leases the earlier ones took.
        with transaction.atomic(savepoint=False), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [ADVISORY_LOCK_LEASES, user.pk % 2**31])
            cursor.execute(sql, params)
            row = cursor.fetchone()
            _holder_shown(row)
            return row
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(grant, params)
        row = cursor.fetchone()
        _holder_shown(row)
        if row is not None:
            message_id, holder_id, _expires_at, at, previous_holder_id = row
            if previous_holder_id is None:
                events = [(message_id, ACQUIRED, holder_id, None, at)]
            elif previous_holder_id == holder_id:
                # The grant took over the holder's own row (valid or not): one "replaced" row.
                events = [(message_id, REPLACED, holder_id, None, at)]
            else:
                # Only an expired row is ever taken over from someone else (the grant's WHERE).
                events = [
                    (message_id, EXPIRED, previous_holder_id, None, at),
                    (message_id, ACQUIRED, holder_id, None, at),
                ]
            _insert_events(cursor, events)
            cursor.execute(f"DELETE FROM {WAITERS} WHERE message_id = %s AND user_id = %s", [message_id, holder_id])
    return row


def _holder_shown(granted: tuple | None) -> None:
    # The list shows who is editing. Every grant moves it: the statement does not tell whether
    # the row it took over was valid, and a holder taking back their own expired lease is shown
    # again (a new token for a valid one costs kept lists nothing but one rendering).
    if granted is not None:
        pagecache.list_changed()


def delete_recording(
    *,
    message_id: int,
    event: str,
    token: str | None = None,
    holder_id: int | None = None,
    only_valid: bool = False,
    by_id: int | None = None,
    moves_list: bool = True,
) -> tuple[int, bool] | None:
    """Delete the message's lease row, recording ``event`` for its holder if the lease was valid.

    Only the row with ``token`` and ``holder_id``, when given, and only a valid lease with
    ``only_valid``. Return the deleted row's (holder id, whether the lease was valid), or None
    when no row matched. A valid lease removed moves the list generation, unless ``moves_list``
    is false: the change whose transaction this is moves it itself.
    """
    now = now_sql()
    where, params = "message_id = %s", [message_id]
    if token is not None:
        where += " AND token = %s"
        params.append(token)
    if holder_id is not None:
        where += " AND holder_id = %s"
        params.append(holder_id)
    if only_valid:
        where += f" AND expires_at > {now}"
    delete = (
        f"DELETE FROM {TABLE} WHERE {where} RETURNING message_id, holder_id, expires_at > {now} AS valid, {now} AS at"
    )
    if connection.vendor == "postgresql":
        sql = (
            f"WITH gone AS ({delete}), recorded AS ("
            f"INSERT INTO {EVENTS} (message_id, event, user_id, by_id, at) "
            f"SELECT message_id, %s::varchar, holder_id, %s::bigint, at FROM gone WHERE valid) "
            f"SELECT holder_id, valid FROM gone"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, event, by_id])
            row = cursor.fetchone()
            if row is not None and row[1] and moves_list:
                pagecache.list_changed()  # a holder the list showed is gone
        return (row[0], bool(row[1])) if row else None
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(delete, params)
        row = cursor.fetchone()
        if row is not None and row[2]:
            _insert_events(cursor, [(row[0], event, row[1], by_id, row[3])])
            if moves_list:
                pagecache.list_changed()
    return (row[1], bool(row[2])) if row else None


def _insert_events(cursor, events: list[tuple]) -> None:
    # One INSERT: ids ascend in list order.
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(events))
    cursor.execute(
        f"INSERT INTO {EVENTS} (message_id, event, user_id, by_id, at) VALUES {values}",
        [value for event in events for value in event],
    )


def renew(*, message_id: int, user, token: str, ttl: int, max_hold: int) -> datetime | None:
    """Move the user's valid lease's expiry ``ttl`` seconds from now; return the new expiry, or None if refused.

    With ``max_hold``, only a lease taken, or last saved by its holder, less than that many
    seconds ago.
    """
    now, expiry = now_sql(), _expiry_sql()
    messages = Message._meta.db_table
    # The save's updated_at is the app server's clock: seconds of skew against an hour.
    held_sql = (
        f" AND (acquired_at > {expiry} OR EXISTS (SELECT 1 FROM {messages} WHERE {messages}.id = {TABLE}.message_id "
        f"AND {messages}.updated_by_id = {TABLE}.holder_id AND {messages}.updated_at > {expiry}))"
        if max_hold
        else ""
    )
    held_params = [*_expiry_params(-max_hold), *_expiry_params(-max_hold)] if max_hold else []
    sql = (
        f"UPDATE {TABLE} SET expires_at = {expiry} "
        f"WHERE message_id = %s AND token = %s AND holder_id = %s AND expires_at > {now}{held_sql} "
        f"RETURNING expires_at"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*_expiry_params(ttl), message_id, token, user.pk, *held_params])
        row = cursor.fetchone()
    return _as_datetime(row[0]) if row is not None else None


def clear_expired_batch(*, batch: int) -> int:
    """Delete up to ``batch`` expired lease rows in a transaction of their own, each recorded as ``expired``.

    Return how many went. A row renewed or taken again in the meantime is no longer expired,
    and the DELETE's own condition keeps it.
    """
    now = now_sql()
    select = f"SELECT message_id FROM {TABLE} WHERE expires_at <= {now} ORDER BY message_id LIMIT %s"
    delete = (
        f"DELETE FROM {TABLE} WHERE message_id IN ({select}) AND expires_at <= {now} "
        f"RETURNING message_id, holder_id, expires_at"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(delete, [batch])
        rows = cursor.fetchall()
        if rows:
            _insert_events(cursor, [(message_id, EXPIRED, holder_id, None, at) for message_id, holder_id, at in rows])
    return len(rows)


def _lease_permits_save_sql(message_column: str, *, token: str | None, user) -> tuple[str, list]:
    """Return an SQL condition and its parameters that a save may publish under the lease.

    With a token: it is the user's valid lease. Without one: nobody holds a valid lease (the
    API's lease-less save). ``message_column`` names the message id in the caller's statement,
    so the save checks the lease in the same statement that publishes it.
    """
    now = now_sql()
    if token:
        return (
            f"EXISTS (SELECT 1 FROM {TABLE} WHERE {TABLE}.message_id = {message_column} "
            f"AND {TABLE}.token = %s AND {TABLE}.holder_id = %s AND {TABLE}.expires_at > {now})",
            [token, user.pk],
        )
    return (
        f"NOT EXISTS (SELECT 1 FROM {TABLE} WHERE {TABLE}.message_id = {message_column} "
        f"AND {TABLE}.expires_at > {now})",
        [],
    )


@dataclass(frozen=True, slots=True)
class SaveState:
    """What decides whether a save would be accepted now: the message's state and its lease."""

    id: int
    version: int
    deleted: bool
    protected: bool
    lease_holder_id: int | None  # None when nobody holds a valid lease
    lease_token: str | None
    # What the permission rules ask (permissions.MessageFacts), and the access generation read with it.
    board_id: int
    author_id: int
    editors_restricted: bool
    access_generation: int = 0

    @property
    def pk(self) -> int:
        return self.id


def save_state(*, message_id: int) -> SaveState | None:
    """Return the state a save of the message is checked against, or None for no such message.

    One written-out statement, as the save's own: every save asks it before writing its file,
    and the ORM's building of it cost more than the statement (README "Performance").
    """
    message_table = Message._meta.db_table
    valid = f"{TABLE}.expires_at > {now_sql()}"
    sql = (
        f"SELECT {message_table}.version, {message_table}.deleted_at IS NOT NULL, {message_table}.protected, "
        f"CASE WHEN {valid} THEN {TABLE}.holder_id END, CASE WHEN {valid} THEN {TABLE}.token END, "
        f"{message_table}.board_id, {message_table}.author_id, {message_table}.editors_restricted, "
        f"(SELECT value FROM {AccessGeneration._meta.db_table} WHERE id = 1) "
        f"FROM {message_table} LEFT JOIN {TABLE} ON {TABLE}.message_id = {message_table}.id "
        f"WHERE {message_table}.id = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [message_id])
        row = cursor.fetchone()
    if row is None:
        return None
    version, deleted, protected, holder_id, token, board_id, author_id, restricted, generation = row
    return SaveState(
        message_id,
        version,
        bool(deleted),
        bool(protected),
        holder_id,
        token,
        board_id,
        author_id,
        bool(restricted),
        generation or 0,
    )


def save_publish(
    *,
    message_id: int,
    base_version: int,
    lease_token: str | None,
    user,
    subject: str | None,
    stored: StoredBody,
    text: str,
    now: datetime,
    protected: bool,
) -> str | None:
    """Move the message to the new version and record its revision; return its subject, or None if refused.

    Written as SQL because this is every edit's hot path: built with the ORM, the conditional
    UPDATE with its lease subquery and the Revision INSERT cost more CPU than the save's fsyncs.
    """
    messages, revisions = Message._meta.db_table, Revision._meta.db_table
    # Write, then publish: the row moves to the new key only if the version and the lease
    # are still what the caller started from, checked in this one statement.
    lease_sql, lease_params = _lease_permits_save_sql(f"{messages}.id", token=lease_token, user=user)
    at = connection.ops.adapt_datetimefield_value(now)
    changes = "version = version + 1, body = %s, size = %s, sha256 = %s, updated_at = %s, updated_by_id = %s"
    params = [stored.key, stored.size, stored.sha256, at, user.pk]
    if subject is not None:
        changes += ", subject = %s"
        params.append(subject)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {messages} SET {changes} WHERE id = %s AND version = %s AND deleted_at IS NULL "
            f"AND {'' if protected else 'NOT '}protected AND {lease_sql} RETURNING subject",
            [*params, message_id, base_version, *lease_params],
        )
        row = cursor.fetchone()
        if row is None:
            return None
        cursor.execute(
            f"INSERT INTO {revisions} (message_id, version, subject, body, size, sha256, author_id, created_at) "
            f"VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [message_id, base_version + 1, row[0], stored.key, stored.size, stored.sha256, user.pk, at],
        )
    search.document_put(
        message_id=message_id, version=base_version + 1, subject=row[0], body=text, sha256=stored.sha256
    )
    pagecache.list_changed()
    return row[0]


def lock_message_row(message_id: int) -> None:
    # Taken before the statement that checks the lease, so its snapshot includes every lease
    # granted before the lock: lease_acquire shares this lock (see _share_lock_sql).
    # Without it, on PostgreSQL a lease-less save or a delete could commit after a lease was
    # granted, under the new holder's feet. SQLite's single writer makes it unnecessary.
    if connection.vendor == "postgresql":
        list(Message.objects.select_for_update(no_key=True).filter(pk=message_id).values_list("pk", flat=True))


def _share_lock_sql() -> str:
    # PostgreSQL: a save's or a delete's lease check runs on a snapshot, which cannot see a
    # lease granted after it was taken. Sharing the message row's lock makes a grant wait for
    # a save or delete under way, and makes them wait for the grant (they take lock_message_row
    # before checking). SQLite runs one writer at a time, so it needs nothing.
    return " FOR SHARE" if connection.vendor == "postgresql" else ""


def now_sql() -> str:
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
    # A negative ttl gives a moment in the past (cut-offs for the hold and the cooldown).
    if connection.vendor == "postgresql":
        return [ttl]
    return [f"{ttl:+d} seconds"]


def _as_datetime(value) -> datetime:
    if isinstance(value, str):
        value = parse_datetime(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def draft_consume(*, message_id: int, user_id: int, seq: int, now: datetime) -> str | None:
    """Mark the user's draft of the message saved (or discarded); return its file's key if it had text.

    Runs in the save's transaction. The row stays, its sequence number raised to ``seq`` (the
    last number the saving page gave out), so a heartbeat sent before the save and arriving
    after it is refused as out of sequence instead of bringing the text back. The returned
    file is the caller's to delete once the transaction is committed.
    """
    table = Draft._meta.db_table
    larger = "GREATEST" if connection.vendor == "postgresql" else "MAX"
    # Stored as the ORM stores it, so the column reads and compares alike whichever wrote it.
    now = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET seq = {larger}(seq, %s), consumed_at = %s, updated_at = %s "
            "WHERE user_id = %s AND message_id = %s AND consumed_at IS NULL RETURNING body",
            [seq, now, now, user_id, message_id],
        )
        row = cursor.fetchone()
        if row is None and seq > 0:
            # No text to end, but the number must still hold: consumed before (discarded in
            # another tab), or never kept yet, its first heartbeat still on the way. A textless
            # row keeps the number, so that heartbeat is refused when it lands.
            cursor.execute(
                f"INSERT INTO {table} (user_id, message_id, subject, body, size, sha256, base_version, seq, "
                "updated_at, consumed_at) VALUES (%s, %s, '', '', 0, '', 1, %s, %s, %s) "
                f"ON CONFLICT (user_id, message_id) DO UPDATE SET seq = excluded.seq WHERE {table}.seq < excluded.seq",
                [user_id, message_id, seq, now, now],
            )
    return row[0] if row else None
