"""Delete the editing leases that lapsed and were never taken again, as clearsessions does for sessions.

A lapsed lease stays a row until someone opens the message's editor again; on a board of millions
of messages most never are. Each row goes with an ``expired`` lease event, so the lease history
moderators read stays whole. Safe beside a live board: a lease renewed or taken meanwhile is kept.
The places in line of people who stopped waiting go too (a waiter whose page still asks stays).
"""

from django.core.management.base import BaseCommand

from messages_app import leases


class Command(BaseCommand):
    help = "Delete lapsed editing leases nobody took again, recording each as expired."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--batch", type=int, default=1000, help="Rows per transaction (default 1000).")
        parser.add_argument("--dry-run", action="store_true", help="Say how many would go; delete nothing.")

    def handle(self, *args, batch: int, dry_run: bool, **options) -> None:
        if dry_run:
            expired = leases.lease_count_expired()
            self.stdout.write(f"{expired} expired lease{'' if expired == 1 else 's'} would be cleared.")
            return
        cleared = leases.lease_clear_expired(batch=max(1, batch))
        left = leases.queue_clear_left(batch=max(1, batch))
        self.stdout.write(
            self.style.SUCCESS(
                f"Cleared {cleared} expired lease{'' if cleared == 1 else 's'} "
                f"and {left} place{'' if left == 1 else 's'} in line nobody waits in any more."
            )
        )
