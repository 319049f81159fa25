"""Purging messages soft-deleted long ago: rows first, under lock and re-checked, then their files."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from messages_app import bodies
from messages_app.models import Message, Revision
from messages_app.operations.common import Progress, no_progress


@dataclass(slots=True)
class PurgeReport:
    messages: int = 0
    revisions: int = 0
    files: int = 0
    file_errors: int = 0


def message_purge_deleted(
    *, older_than: timedelta, dry_run: bool = False, batch_size: int = 500, progress: Progress = no_progress
) -> PurgeReport:
    """Remove messages soft-deleted before now - older_than, with their revisions and files.

    Runs in autocommit, never inside a transaction (RuntimeError): a batch's files go only
    once the deletion of its rows has committed, so a crash leaves orphan files, which
    verify_storage removes, and never a row without its file.
    """
    cutoff = timezone.now() - older_than
    report = PurgeReport()
    last_id = 0
    while True:
        candidates = list(
            Message.objects.filter(deleted_at__lt=cutoff, id__gt=last_id)
            .order_by("id")
            .values_list("id", flat=True)[:batch_size]
        )
        if not candidates:
            return report
        last_id = candidates[-1]
        if dry_run:
            purged = len(candidates)
            keys = list(_loose_keys(candidates))
        else:
            purged, keys = _purge_rows(candidates, cutoff)
        report.messages += purged
        report.revisions += len(keys)
        progress(purged)
        if dry_run:
            report.files += len(keys)
            continue
        for key in keys:
            try:
                bodies.body_delete(key)
                report.files += 1
            except OSError:
                report.file_errors += 1


def _purge_rows(candidates: list[int], cutoff: datetime) -> tuple[int, list[str]]:
    """Delete the rows of the candidates still deleted before the cutoff; return how many and their files' keys."""
    # Durable: when this block ends the deletion has committed, and only then may the caller
    # delete the files.
    with transaction.atomic(durable=True):
        # The candidates were listed outside this transaction: any of them may have been
        # restored (or deleted again) since. Re-checked on rows locked until the commit. On
        # PostgreSQL a restore's UPDATE conflicts with FOR UPDATE: it waits for this commit
        # and then finds no row, or this waits for the restore's commit and re-evaluates the
        # condition on the row as restored, leaving it out. SQLite's transactions are IMMEDIATE
        # (settings), so this one holds the database's write lock before it re-checks, and
        # no restore can commit until it has.
        doomed = list(
            Message.objects.filter(id__in=candidates, deleted_at__lt=cutoff)
            .order_by("id")
            .select_for_update()
            .values_list("id", flat=True)
        )
        if not doomed:
            return 0, []
        # Only the locked rows' files: a message left alone keeps every one of its files.
        keys = list(_loose_keys(doomed))
        # Revisions, its lease and lease history go with each message (on_delete=CASCADE).
        Message.objects.filter(id__in=doomed).delete()
    return len(doomed), keys


def _loose_keys(message_ids: list[int]):
    # A packed version has no file of its own: its bytes stay in the pack until pack_revisions
    # rewrites the pack without them.
    return Revision.objects.filter(message_id__in=message_ids, pack__isnull=True).values_list("body_key", flat=True)
