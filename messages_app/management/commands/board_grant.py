"""Give an audience a level on a board."""

from django.core.management.base import BaseCommand, CommandError

from messages_app import boards
from messages_app.errors import BoardNotFound, InvalidInput, UnknownAudience


class Command(BaseCommand):
    help = (
        "Give AUDIENCE (everyone, members or a group's name) LEVEL (read, post, edit or moderate) on a board, "
        "replacing the level it had. Leases of people who may no longer edit end."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the board's slug")
        parser.add_argument("audience", help="everyone (visitors too), members (anyone signed in) or a group name")
        parser.add_argument("level", help="read, post, edit or moderate (each includes the ones before)")

    def handle(self, *args, **options):
        try:
            boards.board_grant(slug=options["slug"], audience=options["audience"], level=options["level"])
        except BoardNotFound:
            raise CommandError(f"There is no board {options['slug']!r}.") from None
        except (InvalidInput, UnknownAudience) as error:
            raise CommandError(error.detail) from None
        self.stdout.write(self.style.SUCCESS(f"{options['audience']} may now {options['level']} on {options['slug']}."))
