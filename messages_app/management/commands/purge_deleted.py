"""Remove soft-deleted messages for good once they are old enough.

Deleting is soft so that a mistake can be undone; after the grace period the rows and the
body files only cost space.
"""

import re
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from messages_app.management.progress import progress_bar
from messages_app.operations import message_purge_deleted

UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([wdhms])", text.strip())
    if not match:
        raise CommandError(f"--older-than must look like 30d, 12h, 90m, 45s or 2w, not {text!r}.")
    try:
        age = timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
        timezone.now() - age
    except OverflowError:
        raise CommandError(f"--older-than {text.strip()} reaches back before the calendar (year 1).") from None
    return age


class Command(BaseCommand):
    help = "Delete messages soft-deleted longer ago than --older-than, with their revisions and files."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", required=True, metavar="AGE", help="e.g. 30d, 12h, 2w")
        parser.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")

    def handle(self, *args, **options):
        age = parse_age(options["older_than"])
        with progress_bar(self, total=None, unit="messages", verbosity=options["verbosity"]) as advance:
            report = message_purge_deleted(older_than=age, dry_run=options["dry_run"], progress=advance)
        verb = "Would remove" if options["dry_run"] else "Removed"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} {report.messages} messages, {report.revisions} revisions and {report.files} files."
            )
        )
        if report.file_errors:
            raise CommandError(
                f"{report.file_errors} files could not be deleted; verify_storage --delete-orphans removes them.",
                returncode=1,
            )
