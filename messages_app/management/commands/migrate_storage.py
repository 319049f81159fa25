"""Copy every message body to the other storage backend, before switching MESSAGEBOARD_STORAGE.

Moving from local disk to S3 (or back) must not lose a byte or stop the board: the copy runs
while the board serves from the current backend, can be interrupted and run again, and
verifies every copy by reading it back. Nothing is deleted from the source.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from messages_app.management.progress import progress_bar
from messages_app.operations import StorageUnreachable, storage_migrate


class Command(BaseCommand):
    help = "Copy every body file from the current storage to the other one (resumable, verified)."

    def add_arguments(self, parser):
        parser.add_argument("--to", choices=["local", "s3"], required=True, help="the storage to copy into")
        parser.add_argument("--jobs", type=int, default=8, help="copies in flight at once (default %(default)s)")

    def handle(self, *args, **options):
        target = options["to"]
        if target == settings.MESSAGEBOARD_STORAGE:
            raise CommandError(f"The board already uses {target!r} storage; --to must name the other one.")
        if target not in settings.MESSAGEBOARD_STORAGE_BACKENDS:
            raise CommandError("S3 is not configured: set AWS_STORAGE_BUCKET_NAME (and the other AWS_* variables).")
        try:
            with progress_bar(self, total=None, unit="files", verbosity=options["verbosity"]) as advance:
                report = storage_migrate(to=target, jobs=max(1, options["jobs"]), progress=advance)
        except StorageUnreachable as error:
            raise CommandError(f"Nothing was copied: {error}") from error
        for failure in report.failures:
            self.stderr.write(failure)
        self.stdout.write(
            f"Copied {report.copied} files, {report.skipped} already there, {len(report.failures)} failed."
        )
        if report.failures:
            raise CommandError("Some files were not copied; fix them and run again (copied files are kept).")
        self.stdout.write(
            self.style.SUCCESS(
                f"Every body is in {target!r} storage. Now set MESSAGEBOARD_STORAGE={target} and restart."
            )
        )
