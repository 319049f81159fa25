"""Make a board: open (read for everyone, edit for members) unless --private."""

from django.core.management.base import BaseCommand, CommandError

from messages_app import boards
from messages_app.errors import BoardExists, InvalidInput


class Command(BaseCommand):
    help = "Create a board. Open to all (everyone reads, members post and edit) unless --private (nobody yet)."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the board's address: /b/SLUG/ (lowercase letters, digits, hyphens)")
        parser.add_argument("name", help="the board's name, as people see it")
        parser.add_argument("--description", default="", help="a line saying what the board is for")
        parser.add_argument("--private", action="store_true", help="grant nothing: add audiences with board_grant")

    def handle(self, *args, **options):
        try:
            board = boards.board_create(
                slug=options["slug"],
                name=options["name"],
                description=options["description"],
                private=options["private"],
            )
        except (InvalidInput, BoardExists) as error:
            raise CommandError(error.detail) from None
        kind = "private: grant audiences with board_grant" if options["private"] else "open to all"
        self.stdout.write(self.style.SUCCESS(f"Created board {board.slug} ({board.name}), {kind}."))
