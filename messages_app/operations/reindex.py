"""Finding and repairing where the search index drifted from the messages (reindex_search).

Every write of a message indexes it in its own transaction, so drift comes only from outside:
rows loaded by hand, a database restored from a backup taken between two tables, an upgrade
from before search. The walk goes by message id a chunk at a time, in constant memory, and
reads a body only for a message whose index row is missing or holds another version.
"""

from dataclasses import dataclass, field

from django.db import DatabaseError, IntegrityError, connection, transaction

from messages_app import search, selectors
from messages_app.models import Message, SearchDocument
from messages_app.operations.common import CHUNK, Progress, no_progress


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


SAMPLE = 20


def search_reindex(*, verify_only: bool = False, progress: Progress = no_progress) -> ReindexReport:
    """Compare every message with its index row; unless ``verify_only``, index the current version where they differ."""
    report = ReindexReport()
    after = 0
    messages, documents = Message._meta.db_table, SearchDocument._meta.db_table
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT m.id, m.version, s.version FROM {messages} m "
                f"LEFT JOIN {documents} s ON s.message_id = m.id WHERE m.id > %s ORDER BY m.id LIMIT %s",
                [after, CHUNK],
            )
            rows = cursor.fetchall()
        if not rows:
            break
        after = rows[-1][0]
        report.messages += len(rows)
        drifted = []
        for message_id, version, indexed in rows:
            if indexed is None:
                report.missing_count += 1
                _sample(report.missing, message_id)
            elif indexed != version:
                report.stale_count += 1
                _sample(report.stale, message_id)
            else:
                continue
            drifted.append(message_id)
        if drifted and not verify_only:
            report.repaired += _repair(drifted, report)
        progress(len(rows))
    if connection.vendor == "sqlite":
        report.engine_damaged = not _fts_intact()
        if report.engine_damaged and not verify_only:
            with connection.cursor() as cursor:
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
            report.unreadable.append((message.pk, str(error)))
            continue
        try:
            with transaction.atomic():
                # The version guard in document_put keeps a save made meanwhile: its text stays.
                search.document_put(message_id=message.pk, version=message.version, subject=message.subject, body=body)
        except IntegrityError:
            continue  # purged since it was read: nothing to index
        repaired += 1
    return repaired


def _fts_intact() -> bool:
    # FTS5 compares its index with the table it indexes and raises on any difference.
    # (rank 1: against the table's rows too, not only within itself).
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {search.FTS} ({search.FTS}, rank) VALUES ('integrity-check', 1)")
    except DatabaseError:
        return False
    return True
