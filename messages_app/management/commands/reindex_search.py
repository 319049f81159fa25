"""Find and repair where the full-text search index drifted from the messages."""

from django.core.management.base import BaseCommand, CommandError

from messages_app.management.progress import progress_bar
from messages_app.operations.reindex import search_reindex


class Command(BaseCommand):
    help = (
        "Compare every message with its row in the search index and index the current version "
        "where they differ (missing, another version or another text). --verify only reports. Safe beside "
        "a live board (but for --check-engine on SQLite)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--verify", action="store_true", help="report drift and change nothing (exit status 1 if any)"
        )
        parser.add_argument(
            "--all", action="store_true", dest="everything", help="index every message again, drifted or not"
        )
        parser.add_argument(
            "--check-engine",
            action="store_true",
            help="SQLite: also compare the FTS5 index with its table (rebuilt if they differ); blocks saves meanwhile",
        )

    def handle(self, *args, **options):
        verify = options["verify"]
        with progress_bar(self, total=None, unit="messages", verbosity=options["verbosity"]) as advance:
            report = search_reindex(
                verify_only=verify,
                everything=options["everything"],
                check_engine=options["check_engine"],
                progress=advance,
            )
        if report.missing:
            self.stdout.write(f"missing  {report.missing_count} messages, such as {_ids(report.missing)}")
        if report.stale:
            self.stdout.write(f"stale    {report.stale_count} messages, such as {_ids(report.stale)}")
        if report.engine_damaged:
            self.stdout.write(
                "damaged  the FTS5 index disagreed with its table" + (", rebuilt" if report.engine_rebuilt else "")
            )
        for message_id, reason in report.unreadable:
            self.stdout.write(f"unread   message {message_id}: {reason}")
        if verify:
            if report.drift:
                raise CommandError(
                    f"The search index drifted for {report.missing_count + report.stale_count} of "
                    f"{report.messages} messages; run reindex_search to repair it.",
                    returncode=1,
                )
            self.stdout.write(self.style.SUCCESS(f"The search index matches all {report.messages} messages."))
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Checked {report.messages} messages; indexed {report.repaired} again"
                + ("; rebuilt the FTS5 index" if report.engine_rebuilt else "")
                + "."
            )
        )
        if report.unreadable:
            raise CommandError(
                f"{len(report.unreadable)} bodies could not be read; verify_storage tells what is wrong.", returncode=1
            )


def _ids(ids: list[int]) -> str:
    return ", ".join(f"#{message_id}" for message_id in ids)
