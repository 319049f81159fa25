"""Storage used: how many files the body storage holds for the board, and their bytes, read from counters.

Every version in a file of its own, every pack and every draft with text is one file, and its
row knows its size. Triggers on those three tables (migration 0016) move ``StorageCounter``'s
rows in the transaction of each change that adds or removes a file, whichever code makes it: a
save, a revert, a post, a seed or an import, packing, a purge, a draft written, replaced,
discarded or consumed by a save. Reading the figure is one query over 16 rows; nothing here
ever lists the storage (on S3 that is a request per 1,000 objects).

What the counters count is what the rows name. A file whose delete failed after its row went,
or one a crash left before its row was written, is an orphan: ``verify_storage`` finds those
by listing, and this does not see them. ``storage_recount`` rebuilds the counters from the
tables after anything that went around the triggers: one table restored from a backup without
the others, a load with triggers disabled (``pg_restore --disable-triggers``, a replica's
``session_replication_role``), a later migration that rebuilt one of the tables on SQLite
(Django copies the table, and its triggers stay behind; tests/integration/test_storage_counters.py
checks they are there). A PostgreSQL TRUNCATE of any of them counts again by itself.
"""

from dataclasses import dataclass
from typing import NamedTuple

from django.db import connection, transaction

from messages_app.models import Draft, Pack, Revision, StorageCounter


class StorageUsed(NamedTuple):
    files: int
    bytes: int


@dataclass(frozen=True, slots=True)
class Recount:
    before: StorageUsed  # what the counters said
    after: StorageUsed  # what the tables say, now written to the counters

    @property
    def drift(self) -> StorageUsed:
        return StorageUsed(self.after.files - self.before.files, self.after.bytes - self.before.bytes)


# Which rows have a file of their own; the triggers of migration 0016 say the same. A packed
# version's file went once its pack took it; a consumed draft keeps its key, but its file was
# deleted after the save or discard, and a textless draft (a number kept by a save) never had one.
_HAS_FILE = (
    (Revision, "pack_id IS NULL"),
    (Pack, "1 = 1"),
    (Draft, "consumed_at IS NULL AND body <> ''"),
)


def storage_used() -> StorageUsed:
    """What the counters say: one query over their few rows."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(SUM(files), 0), COALESCE(SUM(bytes), 0) FROM {StorageCounter._meta.db_table}")
        return StorageUsed(*(int(value) for value in cursor.fetchone()))


def storage_counted() -> StorageUsed:
    """What the tables say, summed by the database in one pass over each (no row comes to Python).

    As long as a version's table: for checks and ``storage_recount``, never for a page.
    """
    counted = " UNION ALL ".join(
        f"SELECT COUNT(*) AS files, COALESCE(SUM(size), 0) AS bytes FROM {model._meta.db_table} WHERE {condition}"
        for model, condition in _HAS_FILE
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT SUM(files), SUM(bytes) FROM ({counted}) AS tables")
        return StorageUsed(*(int(value) for value in cursor.fetchone()))


def storage_recount() -> Recount:
    """Count the files and bytes from the tables and write that to the counters; return both figures.

    Beside a live board: the counters are locked first, so every change that moves them waits
    until this commits, and the count sees every change committed before. One not yet
    committed is not counted here, and its trigger, waiting for the lock, adds it after. Writers
    of files wait for the length of the count (a scan of the versions' table), so it is for
    after a repair, not for cron.
    """
    table = StorageCounter._meta.db_table
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # EXCLUSIVE conflicts with the row locks the triggers take; readers of the figure go on.
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
        # SQLite: the transaction is IMMEDIATE (settings), so it holds the one write lock already.
        before = storage_used()
        after = storage_counted()
        StorageCounter.objects.all().delete()
        StorageCounter.objects.bulk_create(
            StorageCounter(shard=shard, files=after.files if shard == 0 else 0, bytes=after.bytes if shard == 0 else 0)
            for shard in range(StorageCounter.SHARDS)
        )
    return Recount(before=before, after=after)
