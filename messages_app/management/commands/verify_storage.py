"""Compare the database with body storage, because a crash or an operator can leave them apart.

A save killed between writing its file and committing leaves an orphan file; a disk or a
bucket can lose or damage files. This finds all three kinds of damage, and mends the ones
that can be mended without guessing.
"""

from django.core.management.base import BaseCommand, CommandError

from messages_app.management.progress import progress_bar
from messages_app.operations import (
    ORPHAN_GRACE_SECONDS,
    storage_delete_orphans,
    storage_repair_checksums,
    storage_verify,
)


class Command(BaseCommand):
    help = (
        "Check every revision's body file and every pack: missing files, orphan files and packs no revision "
        "points to, size/sha256 mismatches, packed versions that do not decode to their sha256. Exits 1 on damage."
    )

    def add_arguments(self, parser):
        parser.add_argument("--delete-orphans", action="store_true", help="delete the orphan files found")
        parser.add_argument(
            "--repair-checksums",
            action="store_true",
            help="record the file's actual size and sha256 where they differ from the database",
        )
        parser.add_argument(
            "--quick", action="store_true", help="compare sizes from the storage listing only; do not read files"
        )
        parser.add_argument(
            "--orphan-grace",
            type=int,
            default=ORPHAN_GRACE_SECONDS,
            metavar="SECONDS",
            help="files younger than this may belong to a save in flight and are not orphans (default %(default)s)",
        )
        parser.add_argument("--dry-run", action="store_true", help="report what would be mended, change nothing")

    def handle(self, *args, **options):
        with progress_bar(self, total=None, unit="revisions", verbosity=options["verbosity"]) as advance:
            report = storage_verify(
                checksums=not options["quick"], orphan_grace_seconds=options["orphan_grace"], progress=advance
            )
        for finding in report.findings:
            self.stdout.write(f"{finding.kind:9} {finding.key}: {finding.detail}")
        missing, orphans = report.count("missing"), report.count("orphan")
        mismatched = report.count("size") + report.count("checksum")
        current = report.count("current")
        damaged_packs, packed, unused = report.count("pack"), report.count("packed"), report.count("unused")
        self.stdout.write(
            f"Checked {report.revisions} revisions and {report.files} files: {missing} missing, "
            f"{orphans} orphans, {mismatched} checksum mismatches, {current} messages off their revision"
            + (f" ({report.young_files} files younger than the grace period skipped)" if report.young_files else "")
            + "."
        )
        if report.packs:
            self.stdout.write(
                f"Checked {report.packs} packs: {damaged_packs} damaged, {packed} packed versions unreadable, "
                f"{unused} packs no version points into."
            )
        mended = 0
        if options["delete_orphans"] and (orphans or unused):
            if options["dry_run"]:
                self.stdout.write(f"Would delete {orphans} orphan files." + _retired(unused, "Would retire"))
            else:
                mended += storage_delete_orphans(report)
                self.stdout.write(self.style.SUCCESS(f"Deleted {orphans} orphan files." + _retired(unused, "Retired")))
                orphans = unused = 0
        if options["repair_checksums"] and mismatched:
            if options["dry_run"]:
                self.stdout.write(f"Would record actual checksums for {mismatched} revisions.")
            else:
                mended += storage_repair_checksums(report)
                self.stdout.write(self.style.SUCCESS(f"Recorded actual checksums for {mismatched} revisions."))
                mismatched = 0
        if missing or orphans or mismatched or current or damaged_packs or packed or unused:
            raise CommandError("Storage and database disagree (see above).", returncode=1)
        self.stdout.write(self.style.SUCCESS("Storage and database agree."))


def _retired(unused: int, verb: str) -> str:
    return f" {verb} {unused} packs no version points into." if unused else ""
