"""Remove drafts nobody touched for a while: abandoned text, and the marks saved or discarded drafts leave.

A draft's row and file go together, the row first: a user who comes back to a draft in the
meantime writes it again, which makes it newer than the cut-off, and it stays. Draft files that
old which no row points at (an interrupted write left them) go too.
"""

from django.core.management.base import BaseCommand
from django.utils import timezone

from messages_app.drafts import draft_orphans_purge, drafts_purge
from messages_app.management.commands.purge_deleted import parse_age
from messages_app.management.progress import progress_bar


class Command(BaseCommand):
    help = "Delete drafts (and their files) not written for longer than --older-than."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", required=True, metavar="AGE", help="e.g. 30d, 12h, 2w")
        parser.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")

    def handle(self, *args, **options):
        cut_off = timezone.now() - parse_age(options["older_than"])
        rows = files = 0
        with progress_bar(self, total=None, unit="drafts", verbosity=options["verbosity"]) as advance:
            for purged in drafts_purge(older_than=cut_off, dry_run=options["dry_run"]):
                rows += 1
                files += purged.key is not None
                advance(1)
            orphans = 0
            for _key in draft_orphans_purge(older_than=cut_off, dry_run=options["dry_run"]):
                orphans += 1
                advance(1)
        verb = "Would remove" if options["dry_run"] else "Removed"
        self.stdout.write(self.style.SUCCESS(f"{verb} {rows} drafts ({files} with text, each a file)."))
        if orphans:
            self.stdout.write(f"{verb} {orphans} draft files no draft pointed at (left by an interrupted write).")
