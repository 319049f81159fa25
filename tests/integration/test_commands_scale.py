"""The operators' commands stream: a few thousand rows cost the same few queries as thirty.

Local disk only: the query count is the database's side of the merge, and seeding thousands
of bodies into moto's S3 server would cost half a minute (the S3 listing's own paging is
boto3's paginator, and the merge itself is proven on both backends in test_commands_verify).
"""

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messages_app import operations

pytestmark = pytest.mark.django_db

FEW, MANY = 30, 2000


def queries_of(name: str, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    with CaptureQueriesContext(connection) as captured:
        call_command(name, *args, stdout=out, verbosity=0)
    return len(captured.captured_queries), out.getvalue()


def test_verify_and_export_issue_no_query_per_row(tmp_path):
    operations.messages_seed(count=FEW, revisions=1)
    verify_few, _ = queries_of("verify_storage")
    export_few, _ = queries_of("export_messages", str(tmp_path / "few.jsonl"))

    operations.messages_seed(count=MANY - FEW, revisions=2, seed=1)
    revisions = FEW + (MANY - FEW) * 2
    verify_many, report = queries_of("verify_storage")
    assert f"Checked {revisions} revisions and {revisions} files: 0 missing" in report
    # One query walks the revisions in key order, one finds messages off their revision.
    assert verify_many == verify_few <= 3

    export_many, _ = queries_of("export_messages", str(tmp_path / "many.jsonl"))
    lines = (tmp_path / "many.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == MANY
    # Two queries per thousand messages (the messages, then their revisions), whatever they hold.
    chunks = -(-MANY // operations.CHUNK)
    assert export_few <= 3
    assert export_many <= 2 * chunks + 1
