"""Print the moderators' dashboard for a terminal: leases held now, the week's edits, busiest messages, lease
breaks and storage used; or recount the storage counters from the tables."""

import json

from django.core.management.base import BaseCommand

from messages_app.dashboard import board_stats, storage_text
from messages_app.storage_counters import Recount, storage_recount


class Command(BaseCommand):
    help = (
        "Print leases held now, edits per hour over the last 7 days, the busiest messages, the newest lease breaks "
        "and the storage used (files and bytes, from counters the database keeps). --recount counts the storage "
        "from the tables instead, writes that to the counters and says what it corrected."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="one JSON object, for scripts")
        parser.add_argument(
            "--recount",
            action="store_true",
            help="count the files and bytes from the tables (never the storage) and correct the counters; "
            "saves wait while it counts",
        )

    def handle(self, *args, **options):
        if options["recount"]:
            self._recounted(storage_recount(), as_json=options["json"])
            return
        stats = board_stats()
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "at": stats.now.isoformat(),
                        "leases": [
                            {
                                "message_id": lease.message_id,
                                "subject": lease.subject,
                                "holder": lease.holder,
                                "since": lease.since.isoformat(),
                                "expires_at": lease.expires_at.isoformat(),
                                "waiting": lease.waiting,
                            }
                            for lease in stats.leases
                        ],
                        "edits_per_hour": [[hour.isoformat(), count] for hour, count in stats.edits_per_hour],
                        "edits_this_week": stats.edits_this_week,
                        "busiest": [
                            {"message_id": busy.message_id, "subject": busy.subject, "edits": busy.edits}
                            for busy in stats.busiest
                        ],
                        "breaks": [
                            {
                                "message_id": taken.message_id,
                                "holder": taken.holder,
                                "by": taken.moderator,
                                "at": taken.at.isoformat(),
                            }
                            for taken in stats.breaks
                        ],
                        "storage": {"files": stats.storage.files, "bytes": stats.storage.bytes},
                    },
                    ensure_ascii=False,
                )
            )
            return
        self.stdout.write(f"Leases held now: {len(stats.leases)}")
        for lease in stats.leases:
            self.stdout.write(
                f"  #{lease.message_id} {lease.subject[:40]!r} by {lease.holder} "
                f"since {lease.since:%Y-%m-%d %H:%M} UTC, expires {lease.expires_at:%H:%M:%S}, {lease.waiting} waiting"
            )
        peak_hour, peak = max(stats.edits_per_hour, key=lambda item: item[1], default=(stats.now, 0))
        self.stdout.write(
            f"Edits in the last 7 days: {stats.edits_this_week} (busiest hour {peak_hour:%a %H:00} UTC: {peak})"
        )
        self.stdout.write(_sparkline([count for _hour, count in stats.edits_per_hour]))
        self.stdout.write("Busiest messages this week:")
        for busy in stats.busiest:
            self.stdout.write(f"  #{busy.message_id} {busy.subject[:50]!r}: {busy.edits} edits")
        self.stdout.write("Newest lease breaks:")
        for taken in stats.breaks:
            self.stdout.write(
                f"  #{taken.message_id} {taken.holder}'s lease, by {taken.moderator or '?'} "
                f"at {taken.at:%Y-%m-%d %H:%M} UTC"
            )
        self.stdout.write(f"Storage used: {storage_text(stats.storage)}")

    def _recounted(self, recount: Recount, *, as_json: bool) -> None:
        if as_json:
            self.stdout.write(
                json.dumps(
                    {
                        field: {"files": figure.files, "bytes": figure.bytes}
                        for field, figure in (
                            ("before", recount.before),
                            ("after", recount.after),
                            ("drift", recount.drift),
                        )
                    }
                )
            )
            return
        after, before, drift = recount.after, recount.before, recount.drift
        self.stdout.write(f"Storage used, counted from the tables: {storage_text(after)}")
        if drift == (0, 0):
            self.stdout.write(self.style.SUCCESS("The counters were right."))
            return
        self.stdout.write(
            self.style.WARNING(
                f"The counters said {before.files:,} files, {before.bytes:,} bytes: corrected by "
                f"{drift.files:+,} files, {drift.bytes:+,} bytes."
            )
        )


def _sparkline(counts: list[int]) -> str:
    # One character per 4 hours of the week, scaled to the busiest.
    blocks = " ▁▂▃▄▅▆▇█"
    grouped = [sum(counts[index : index + 4]) for index in range(0, len(counts), 4)]
    peak = max(grouped, default=0) or 1
    return "  " + "".join(blocks[round(count / peak * (len(blocks) - 1))] for count in grouped)
