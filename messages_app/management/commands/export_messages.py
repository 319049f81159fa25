"""Write the whole board, every version of every message, to a JSON Lines file.

For backups an operator can read, and for moving a board between databases or storages:
import_messages on an empty board reproduces every version byte for byte.
"""

from django.core.management.base import BaseCommand, CommandError

from messages_app import boards
from messages_app.errors import BoardNotFound
from messages_app.management.progress import progress_bar
from messages_app.operations import ExportFailed, messages_export


class Command(BaseCommand):
    help = "Export every message with all its revisions as JSON Lines (one message a line)."

    def add_arguments(self, parser):
        parser.add_argument("path", help="the file to write, or - for standard output")
        parser.add_argument("--board", metavar="SLUG", help="only this board's messages")

    def handle(self, *args, **options):
        path = options["path"]
        board_id = None
        if options["board"] is not None:
            try:
                board_id = boards.board_get(slug=options["board"]).pk
            except BoardNotFound:
                raise CommandError(f"There is no board {options['board']!r}.") from None
        try:
            if path == "-":
                count = messages_export(out=self.stdout._out, board_id=board_id)
            else:
                with (
                    open(path, "w", encoding="utf-8") as out,
                    progress_bar(self, total=None, unit="messages", verbosity=options["verbosity"]) as advance,
                ):
                    count = messages_export(out=out, board_id=board_id, progress=advance)
        except ExportFailed as error:
            raise CommandError(f"The export stopped: {error}.") from error
        except OSError as error:
            raise CommandError(f"Cannot write {path}: {error.strerror}.") from error
        if path != "-":
            self.stdout.write(self.style.SUCCESS(f"Exported {count} messages to {path}."))
