"""What the moderators' dashboard and ``board_stats`` show: who edits what now, how busy the board was, and
the storage it takes.

Each figure is one query, bounded whatever the board's size: leases are few (one row per
message being edited), the week's revisions are read through their ``created_at`` index,
never the whole table, and the storage used is the sum of a few counter rows the database
keeps (storage_counters.py). Counted in the database, once per look: this is not a hot path.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce, Now
from django.utils import timezone

from messages_app.models import EditLease, LeaseEvent, LeaseWaiter, Message, Revision
from messages_app.storage_counters import StorageUsed, storage_used

LEASES_SHOWN = 50
BUSIEST_SHOWN = 10
BREAKS_SHOWN = 10
WEEK = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class HeldLease:
    message_id: int
    subject: str
    holder: str
    since: datetime
    expires_at: datetime
    waiting: int


@dataclass(frozen=True, slots=True)
class BusyMessage:
    message_id: int
    subject: str
    edits: int


@dataclass(frozen=True, slots=True)
class LeaseBreak:
    message_id: int
    subject: str
    holder: str
    moderator: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class BoardStats:
    now: datetime
    leases: list[HeldLease]
    edits_per_hour: list[tuple[datetime, int]]  # every hour of the last 7 days, oldest first, zeros included
    busiest: list[BusyMessage]
    breaks: list[LeaseBreak]
    storage: StorageUsed  # (files, bytes): versions in files of their own, packs and drafts with text

    @property
    def edits_this_week(self) -> int:
        return sum(count for _hour, count in self.edits_per_hour)


def board_stats(*, now: datetime | None = None) -> BoardStats:
    now = now or timezone.now()
    return BoardStats(
        now=now,
        leases=leases_held(),
        edits_per_hour=edits_per_hour(now=now),
        busiest=busiest_messages(now=now),
        breaks=newest_breaks(),
        storage=storage_used(),
    )


def leases_held() -> list[HeldLease]:
    """Valid leases, longest held first, each with how many people wait for it."""
    waiting = (
        LeaseWaiter.objects.filter(message_id=OuterRef("message_id"))
        .order_by()
        .values("message_id")
        .annotate(count=Count("id"))
        .values("count")
    )
    rows = (
        EditLease.objects.filter(expires_at__gt=Now())
        .annotate(waiting=Coalesce(Subquery(waiting), 0))
        .order_by("acquired_at")
        .values_list("message_id", "message__subject", "holder__username", "acquired_at", "expires_at", "waiting")[
            :LEASES_SHOWN
        ]
    )
    return [HeldLease(*row) for row in rows]


def edits_per_hour(*, now: datetime) -> list[tuple[datetime, int]]:
    """Edits saved (versions after the first) per hour over the last 7 days, every hour listed."""
    since = _hour(now - WEEK)
    # The hour cut in SQL itself: Django's TruncHour on SQLite calls back into Python for every row.
    if connection.vendor == "postgresql":
        hour_sql = "date_trunc('hour', created_at AT TIME ZONE 'UTC')"
    else:
        hour_sql = "substr(created_at, 1, 13)"  # stored as 'YYYY-MM-DD HH:MM:SS…' in UTC
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {hour_sql}, COUNT(*) FROM {Revision._meta.db_table} "
            "WHERE created_at >= %s AND version > 1 GROUP BY 1",
            [connection.ops.adapt_datetimefield_value(since)],
        )
        counted = {_as_hour(hour): count for hour, count in cursor.fetchall()}
    hours = []
    hour = since
    while hour <= now:
        hours.append((hour, counted.get(hour, 0)))
        hour += timedelta(hours=1)
    return hours


def busiest_messages(*, now: datetime) -> list[BusyMessage]:
    """The messages edited most over the last 7 days."""
    revisions, messages = Revision._meta.db_table, Message._meta.db_table
    # "+ 0": grouping by the bare column, SQLite walks all versions through the message index
    # to group them in order, instead of the week's through the created_at index.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT busy.message_id, m.subject, busy.edits FROM ("
            f"SELECT message_id + 0 AS message_id, COUNT(*) AS edits FROM {revisions} "
            f"WHERE created_at >= %s AND version > 1 GROUP BY message_id + 0 "
            f"ORDER BY edits DESC, message_id DESC LIMIT %s) busy "
            f"JOIN {messages} m ON m.id = busy.message_id ORDER BY busy.edits DESC, busy.message_id DESC",
            [connection.ops.adapt_datetimefield_value(now - WEEK), BUSIEST_SHOWN],
        )
        return [BusyMessage(*row) for row in cursor.fetchall()]


def newest_breaks() -> list[LeaseBreak]:
    rows = (
        LeaseEvent.objects.filter(event=LeaseEvent.Kind.BROKEN)
        .order_by("-id")
        .values_list("message_id", "message__subject", "user__username", "by__username", "at")[:BREAKS_SHOWN]
    )
    return [LeaseBreak(*row) for row in rows]


def storage_text(used: StorageUsed) -> str:
    """Files and bytes for people: '1,234 files, 5.4 MiB (5,612,345 bytes)'."""
    return f"{used.files:,} files, {bytes_text(used.bytes)}"


def bytes_text(count: int) -> str:
    size, unit = float(count), "bytes"
    for larger in ("KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024:
            break
        size, unit = size / 1024, larger
    return f"{count:,} bytes" if unit == "bytes" else f"{size:.1f} {unit} ({count:,} bytes)"


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _as_hour(value: datetime | str) -> datetime:
    if isinstance(value, str):  # SQLite: 'YYYY-MM-DD HH'
        return datetime.strptime(value, "%Y-%m-%d %H").replace(tzinfo=UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def chart_svg_points(hours: list[tuple[datetime, int]], *, width: int = 840, height: int = 160) -> dict:
    """Bars of the edits-per-hour chart, scaled to the busiest hour: for a server-drawn SVG."""
    peak = max((count for _hour, count in hours), default=0) or 1
    step = width / max(len(hours), 1)
    bars = []
    for index, (hour, count) in enumerate(hours):
        bar_height = round(count / peak * (height - 20), 1)
        bars.append(
            {
                "x": round(index * step, 2),
                "y": round(height - bar_height, 1),
                "width": max(round(step - 0.5, 2), 0.5),
                "height": bar_height,
                "hour": hour,
                "count": count,
            }
        )
    days = [{"x": bar["x"], "label": bar["hour"].strftime("%a %d")} for bar in bars if bar["hour"].hour == 0]
    return {"bars": bars, "days": days, "peak": peak, "width": width, "height": height}
