"""Move old versions out of a file each into a few compressed, delta-encoded packs.

A board grows by one file per save: on disk each small file takes a whole block and an inode,
on S3 an object. Packing keeps each message's current version in its own file (the save path
is unchanged) and every old version readable, checked by its sha256, through the file handler.
"""

from django.core.management.base import BaseCommand, CommandError

from messages_app.management.commands.purge_deleted import parse_age
from messages_app.management.progress import progress_bar
from messages_app.operations.packing import REPACK_BELOW, revisions_pack


class Command(BaseCommand):
    help = (
        "Pack versions that are no longer current (and older than --older-than) into pack files, "
        "then rewrite packs that purges have thinned. Resumable; safe beside a live board."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than", default="1d", metavar="AGE", help="only versions saved before this (default 1d; 0s: all)"
        )
        parser.add_argument("--dry-run", action="store_true", help="say what would be packed, write nothing")
        parser.add_argument(
            "--jobs", type=int, default=4, help="files read and deleted at once (default 4; more for S3)"
        )
        parser.add_argument(
            "--repack-below",
            type=float,
            default=REPACK_BELOW,
            metavar="SHARE",
            help="rewrite a pack once fewer than this share of its versions remain (default %(default)s)",
        )

    def handle(self, *args, **options):
        age = parse_age(options["older_than"])
        if not 1 <= options["jobs"] <= 64:
            raise CommandError("--jobs must be from 1 to 64.")
        if not 0 <= options["repack_below"] <= 1:
            raise CommandError("--repack-below must be from 0 to 1.")
        with progress_bar(self, total=None, unit="versions", verbosity=options["verbosity"]) as advance:
            report = revisions_pack(
                older_than=age,
                dry_run=options["dry_run"],
                jobs=options["jobs"],
                repack_below=options["repack_below"],
                progress=advance,
            )
        for reason in report.skipped:
            self.stdout.write(f"left     {reason}")
        if options["dry_run"]:
            self.stdout.write(
                f"Would pack {report.versions} versions ({report.text_bytes} bytes of text) "
                f"and rewrite or retire {report.packs_retired} packs."
            )
            return
        ratio = f" ({report.text_bytes / report.pack_bytes:.1f}x smaller)" if report.pack_bytes else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Packed {report.versions} versions ({report.text_bytes} bytes of text) into "
                f"{report.packs_written} packs of {report.pack_bytes} bytes{ratio}; deleted "
                f"{report.files_deleted} files; retired {report.packs_retired} packs."
            )
        )
        if report.file_errors or report.skipped:
            raise CommandError(
                f"{len(report.skipped)} versions were left in place and {report.file_errors} files could not be "
                "deleted; verify_storage tells what is wrong and --delete-orphans removes leftovers.",
                returncode=1,
            )
