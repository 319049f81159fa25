"""Running a migration test: the schema taken back to an earlier migration, and always brought forward again."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


@contextmanager
def migrated_back_to(before: tuple[str, str]) -> Iterator[MigrationExecutor]:
    """Undo the migrations after ``before`` and yield an executor ready to migrate forward from there.

    On the way out, whatever happened, every migration is applied again, so the next test finds
    the schema the suite expects.
    """
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes()
    executor.migrate([before])
    try:
        executor.loader.build_graph()
        yield executor
    finally:
        executor.loader.build_graph()
        executor.migrate(leaves)
