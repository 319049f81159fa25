"""Fill a board with realistic messages, for trying the board and for measuring it at scale."""

from django.core.management.base import BaseCommand, CommandError

from messages_app.management.progress import progress_bar
from messages_app.operations import messages_seed


class Command(BaseCommand):
    help = "Bulk-create realistic messages (real body files, revisions, authors) quickly."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, required=True, help="how many messages to create")
        parser.add_argument("--revisions", type=int, default=1, help="versions per message (default 1)")
        parser.add_argument("--users", type=int, default=10, help="how many authors to spread them over (default 10)")
        parser.add_argument("--seed", type=int, default=0, help="random seed, for repeatable boards")
        parser.add_argument(
            "--boards",
            type=int,
            default=0,
            help="spread the messages over this many seed boards, every fifth private to a team (default: "
            "all on the default board)",
        )

    def handle(self, *args, **options):
        for name in ("count", "revisions", "users"):
            if options[name] < 1:
                raise CommandError(f"--{name} must be at least 1.")
        if not 0 <= options["boards"] <= 1000:
            raise CommandError("--boards must be from 0 to 1000.")
        with progress_bar(self, total=options["count"], unit="messages", verbosity=options["verbosity"]) as advance:
            created = messages_seed(
                count=options["count"],
                revisions=options["revisions"],
                users=options["users"],
                seed=options["seed"],
                board_count=options["boards"],
                progress=advance,
            )
        self.stdout.write(self.style.SUCCESS(f"Created {created} messages."))
