"""pack_revisions walks the loose versions a batch of messages at a time, through their own index."""

import json

import pytest
from django.db import connection
from django.utils import timezone

from messages_app.models import Message, Pack, Revision
from messages_app.operations.packing import _loose_versions
from tests.conftest import insert_message_rows
from tests.integration.test_query_counts import captured_sql, reset_statistics

pytestmark = pytest.mark.django_db

MESSAGES = 3_000  # three batches of CHUNK


def plan_steps(sql: str) -> list[str]:
    """Return the plan's steps as text: SQLite's EXPLAIN QUERY PLAN lines, PostgreSQL's node types and relations."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            return [row[-1] for row in cursor.fetchall()]
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
        plan = cursor.fetchone()[0]
        nodes, steps = [(json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]], []
        while nodes:
            node = nodes.pop()
            nodes.extend(node.get("Plans", []))
            steps.append(f"{node['Node Type']} {node.get('Relation Name', '')} {node.get('Index Name', '')}".strip())
        return steps


@pytest.fixture
def mostly_packed(alice):
    """Every message in three versions: the first packed, the second waiting for a run, the third current."""
    ids = insert_message_rows(alice, MESSAGES)
    Message.objects.update(version=3)
    pack = Pack.objects.create(key="packs/x.pack", size=1, sha256="0" * 64, versions=2 * MESSAGES)
    Revision.objects.bulk_create(
        (
            Revision(
                message_id=message_id,
                version=version,
                subject="s",
                body_key=f"messages/00/{message_id}-{version}.txt",
                size=1,
                sha256="0" * 64,
                author=alice,
                created_at=timezone.now(),
                **({"pack": pack, "pack_offset": 0, "pack_length": 1} if version == 1 else {}),
            )
            for message_id in ids
            for version in (1, 2, 3)
        ),
        batch_size=1000,
    )
    reset_statistics("messages_app_revision", "messages_app_message")


def test_the_walk_reads_a_batch_of_messages_then_their_loose_versions_through_its_index(mostly_packed):
    walked = []
    statements = captured_sql(lambda: walked.extend(_loose_versions(timezone.now())))
    assert sorted(version.version for version in walked) == [2] * MESSAGES
    # Three batches of messages, each: the batch, a full page of versions to pack (the second
    # ones), the rest of its last message and the rest of the batch (both empty); then the batch
    # that finds no message. Every query is bounded by a batch.
    assert len(statements) == 3 * 4 + 1
    revision_reads = [sql for sql in statements if "messages_app_revision" in sql]
    if connection.vendor == "postgresql":
        # PostgreSQL picks by statistics (a table this small is read whole); the shape bounds
        # what any plan takes in to one batch of messages' rows.
        assert all("<=" in sql or '"message_id" = ' in sql for sql in revision_reads)
        return
    for sql in revision_reads:
        steps = plan_steps(sql)
        assert any("messages_app_revision USING INDEX revision_loose" in step for step in steps), steps
        assert not any("TEMP B-TREE" in step for step in steps), steps
