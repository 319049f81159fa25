"""Finding and repairing where the search index drifted from the messages (reindex_search).

Every write of a message indexes it in its own transaction, so drift comes only from outside:
rows loaded by hand, a database restored from a backup taken between two tables, a body
repaired by verify_storage --repair-checksums, an upgrade from before search. The walk goes
by message id a chunk at a time, in constant memory, and reads a body only for a message whose
index row is missing or names another version or text (its sha256).
"""

from dataclasses import dataclass, field

from django.db import DatabaseError, IntegrityError, connection, transaction

from messages_app import search, selectors
from messages_app.models import Message, SearchDocument
from messages_app.operations.common import CHUNK, Progress, no_progress

SAMPLE = 20


@dataclass
class ReindexReport:
    messages: int = 0
    missing: list[int] = field(default_factory=list)  # ids, at most SAMPLE of them
    stale: list[int] = field(default_factory=list)
    missing_count: int = 0
    stale_count: int = 0
    repaired: int = 0
    unreadable: list[tuple[int, str]] = field(default_factory=list)
    engine_damaged: bool = False  # SQLite: the FTS5 index disagreed with its table
    engine_rebuilt: bool = False

    @property
    def drift(self) -> int:
        return self.missing_count + self.stale_count + int(self.engine_damaged)


def search_reindex(
    *, verify_only: bool = False, everything: bool = False, check_engine: bool = False, progress: Progress = no_progress
) -> ReindexReport:
    """Compare every message with its index row; unless ``verify_only``, index the current version where they differ.

    ``everything`` indexes every message again (after a change of what is indexed);
    ``check_engine`` also compares SQLite's FTS5 index with its table, rebuilding it if they
    disagree: both hold the database's one write lock for as long as they read every row.
    """
    report = ReindexReport()
    after = 0
    messages, documents = Message._meta.db_table, SearchDocument._meta.db_table
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT m.id, m.version, m.sha256, s.version, s.sha256 FROM {messages} m "
                f"LEFT JOIN {documents} s ON s.message_id = m.id WHERE m.id > %s ORDER BY m.id LIMIT %s",
                [after, CHUNK],
            )
            rows = cursor.fetchall()
        if not rows:
            break
        after = rows[-1][0]
        report.messages += len(rows)
        drifted = []
        for message_id, version, sha256, indexed_version, indexed_sha256 in rows:
            if indexed_version is None:
                report.missing_count += 1
                _sample(report.missing, message_id)
            elif (indexed_version, indexed_sha256) != (version, sha256):
                report.stale_count += 1
                _sample(report.stale, message_id)
            elif not everything:
                continue
            drifted.append(message_id)
        if drifted and not verify_only:
            report.repaired += _repair(drifted, report)
        progress(len(rows))
    if check_engine and connection.vendor == "sqlite":
        report.engine_damaged = not _fts_intact()
        if report.engine_damaged and not verify_only:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"INSERT INTO {search.FTS} ({search.FTS}) VALUES ('rebuild')")
            report.engine_rebuilt = True
    return report


def _sample(found: list[int], message_id: int) -> None:
    if len(found) < SAMPLE:
        found.append(message_id)


def _repair(message_ids: list[int], report: ReindexReport) -> int:
    repaired = 0
    for message in Message.objects.filter(pk__in=message_ids).order_by("pk").iterator(chunk_size=CHUNK):
        try:
            body = selectors.message_body(message)
        except (OSError, UnicodeDecodeError) as error:
            if isinstance(error, FileNotFoundError) and not Message.objects.filter(pk=message.pk).exists():
                continue  # purged since it was read: nothing to index, nothing wrong
            report.unreadable.append((message.pk, str(error)))
            continue
        try:
            with transaction.atomic():
                # The version guard in document_put keeps a save made meanwhile: its text stays.
                search.document_put(
                    message_id=message.pk,
                    version=message.version,
                    subject=message.subject,
                    body=body,
                    sha256=message.sha256,
                )
        except IntegrityError:
            continue  # purged since it was read: nothing to index
        repaired += 1
    return repaired


def _fts_intact() -> bool:
    # FTS5 compares its index with the table it indexes (rank 1: against the rows too, not
    # only within itself) and reports a difference as corruption. Any other error (a lock
    # that did not come free, say) is not damage, and is raised as it is.
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {search.FTS} ({search.FTS}, rank) VALUES ('integrity-check', 1)")
    except DatabaseError as error:
        if "malformed" in str(error) or "corrupt" in str(error):
            return False
        raise
    return True
