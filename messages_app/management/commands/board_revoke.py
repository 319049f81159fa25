"""Take an audience's level on a board away."""

from django.core.management.base import BaseCommand, CommandError

from messages_app import boards
from messages_app.errors import BoardNotFound, UnknownAudience


class Command(BaseCommand):
    help = (
        "Take away what AUDIENCE (everyone, members or a group's name) may do on a board. Leases of people "
        "who may no longer edit end."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the board's slug")
        parser.add_argument("audience", help="everyone, members or a group name")

    def handle(self, *args, **options):
        try:
            had = boards.board_revoke(slug=options["slug"], audience=options["audience"])
        except BoardNotFound:
            raise CommandError(f"There is no board {options['slug']!r}.") from None
        except UnknownAudience as error:
            raise CommandError(error.detail) from None
        if had:
            self.stdout.write(self.style.SUCCESS(f"{options['audience']} has no level on {options['slug']} now."))
        else:
            self.stdout.write(f"{options['audience']} had no level on {options['slug']}: nothing changed.")
