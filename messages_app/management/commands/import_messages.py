"""Load a JSON Lines export into an empty board, keeping ids, authors, times and every version."""

from django.core.management.base import BaseCommand, CommandError

from messages_app.management.progress import progress_bar
from messages_app.operations import ImportRefused, messages_import


class Command(BaseCommand):
    help = "Import messages written by export_messages (into a board that does not have them yet)."

    def add_arguments(self, parser):
        parser.add_argument("path", help="a file written by export_messages")

    def handle(self, *args, **options):
        path = options["path"]
        try:
            with (
                open(path, encoding="utf-8") as lines,
                progress_bar(self, total=None, unit="messages", verbosity=options["verbosity"]) as advance,
            ):
                count = messages_import(lines=lines, progress=advance)
        except FileNotFoundError:
            raise CommandError(f"There is no file {path}.") from None
        except UnicodeDecodeError:
            raise CommandError(f"{path} is not UTF-8 text.") from None
        except ImportRefused as error:
            raise CommandError(f"Nothing more was imported: {error}") from error
        self.stdout.write(self.style.SUCCESS(f"Imported {count} messages from {path}."))
