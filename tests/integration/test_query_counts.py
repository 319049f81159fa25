"""Hot paths stay flat as the board grows: the same queries for a small board and a big one.

Each test measures a page on a small board (5 messages, the message at 1 version), grows the
board (60 messages, the message at 30 versions, others' leases held), and asserts the page
then runs exactly as many queries: a query per listed row, per version or per lease would
show up as a difference. Numbers are measured rather than written down, so a page may gain a
query without this test changing, but never one that grows with the data; a few absolute
ceilings guard against a page slipping into many queries on both boards alike.

The list page's first page is covered in test_pages_read.py and the selectors' one query each
in test_selectors.py. Here: the list's older pages (keyset ``?before``), a message page and
its history, anonymous and signed in, and the edit cycle (edit page = take the lease,
heartbeat, save, and cancel).

The EXPLAIN test seeds two thousand messages through ``operations.messages_seed`` and asks
the database how it runs the list page's keyset query, the message-by-id query and the history
query: through an index, never a scan of the whole messages (or revisions) table. On
PostgreSQL the table is ANALYZEd first, as autovacuum would have done; sequential scans stay
allowed, so a plan is only accepted when the planner itself prefers an index.
"""

import json
import re

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import NotSupportedError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from messages_app import editing, history_selectors, leases, operations, permissions, selectors
from messages_app.models import Message
from tests.conftest import insert_message_rows

pytestmark = pytest.mark.django_db

# Lists are asked for as a visitor, with the access generation read beforehand as the list page does.
VISITOR = AnonymousUser()

FEW_MESSAGES, MANY_MESSAGES = 5, 60
MANY_VERSIONS = 30
SEEDED = 2000


def count_queries(request) -> tuple[int, object]:
    """Run a request; return how many queries it ran and its response."""
    with CaptureQueriesContext(connection) as captured:
        response = request()
    return len(captured.captured_queries), response


def add_messages(author, count: int) -> list[int]:
    return insert_message_rows(author, count)


def add_versions(message_id: int, editor, up_to: int) -> None:
    """Save versions through the editor's lease (taken again if held), left held only if it was."""
    held = leases.lease_current(message_id=message_id)
    grant = leases.lease_acquire(message_id=message_id, user=editor)
    version = Message.objects.get(pk=message_id).version
    while version < up_to:
        editing.message_edit_save(
            message_id=message_id,
            user=editor,
            base_version=version,
            lease_token=grant.token,
            subject=None,
            body=f"Version {version + 1} of the message.\n" * (version + 1),
        )
        version += 1
    if held is None:
        leases.lease_release(message_id=message_id, user=editor, token=grant.token)


@pytest.fixture
def growing_board(make_message, alice, make_user):
    """A small board that grow() makes big: more messages, versions, and others' leases."""

    class Board:
        def __init__(self) -> None:
            self.message = make_message(subject="Measured", body="The message whose pages are measured.\n")
            add_messages(alice, FEW_MESSAGES - 1)
            # One lease each: a user holds at most MESSAGEBOARD_MAX_LEASES_PER_USER.
            self.editors = [make_user(f"carol{number}") for number in range(10)]

        def grow(self, editor) -> None:
            ids = add_messages(alice, MANY_MESSAGES - FEW_MESSAGES)
            add_versions(self.message.pk, editor, MANY_VERSIONS)
            for message_id, user in zip(ids[:10], self.editors, strict=True):
                leases.lease_acquire(message_id=message_id, user=user)

    return Board()


def visitor(kind: str, alice) -> Client:
    client = Client()
    if kind == "member":
        client.force_login(alice)
    return client


@pytest.mark.parametrize("who", ["anonymous", "member"])
@pytest.mark.parametrize("view", ["message", "history", "older-list"])
def test_read_pages_run_the_same_queries_on_a_big_board(
    growing_board, alice, bob, who, view, django_assert_num_queries
):
    client = visitor(who, alice)
    # The measured message is edited by someone else in both states, as a busy message is.
    leases.lease_acquire(message_id=growing_board.message.pk, user=bob)

    def url() -> str:
        if view == "message":
            return f"/messages/{growing_board.message.pk}/"
        if view == "history":
            return f"/messages/{growing_board.message.pk}/history/"
        # An older page of the list: the keyset cursor from the board's newest message.
        return f"/messages/?before={Message.objects.order_by('-id').values_list('id', flat=True)[0]}"

    address = url()
    client.get(address)  # the session and the body are cached from here on, as for any repeat visitor
    few, response = count_queries(lambda: client.get(address))
    assert response.status_code == 200
    growing_board.grow(editor=bob)
    address = url()
    client.get(address)
    with django_assert_num_queries(few):
        response = client.get(address)
    assert response.status_code == 200
    if view == "history":
        assert response.content.decode().count(f"/messages/{growing_board.message.pk}/history/") >= MANY_VERSIONS
    if view == "older-list":
        # Carol edits the ten newest; the page starts below the newest.
        assert response.content.decode().count("badge editing") == 9
    assert few <= (1 if who == "anonymous" else 3)


def test_edit_cycle_runs_the_same_queries_on_a_big_board(growing_board, alice, django_assert_num_queries):
    client = visitor("member", alice)
    message_id = growing_board.message.pk
    edit_url, lease_url = f"/messages/{message_id}/edit/", f"/messages/{message_id}/lease/"

    def cycle(expected: dict[str, int] | None = None) -> dict[str, int]:
        """Open the editor, send a heartbeat, save; open it again and cancel. Return each step's count.

        With ``expected``, assert that each step runs exactly that many queries instead.
        """
        counts = {}

        def step(name: str, request):
            if expected is None:
                counts[name], response = count_queries(request)
                return response
            with django_assert_num_queries(expected[name]):
                return request()

        response = step("edit page", lambda: client.get(edit_url))
        assert response.status_code == 200
        token = lease_token_in(response)
        version = Message.objects.get(pk=message_id).version
        response = step("heartbeat", lambda: client.post(f"{lease_url}renew/", {"lease_token": token}))
        assert 'data-lease-state="holding"' in response.content.decode()
        form = {"subject": "Measured", "body": f"Saved over version {version}.", "base_version": version}
        response = step("save", lambda: client.post(edit_url, {**form, "lease_token": token}))
        assert response.status_code == 302
        assert Message.objects.get(pk=message_id).version == version + 1
        token = lease_token_in(client.get(edit_url))
        response = step("cancel", lambda: client.post(f"{lease_url}release/", {"lease_token": token}))
        assert response.status_code == 302
        assert leases.lease_current(message_id=message_id) is None
        return counts

    cycle()  # the session and the bodies are cached from here on, as for any repeat visitor
    few = cycle()
    growing_board.grow(editor=alice)
    cycle(expected=few)
    assert max(few.values()) <= 12, few


def lease_token_in(response) -> str:
    return re.search(r'name="lease_token" value="([^"]+)"', response.content.decode()).group(1)


# EXPLAIN: the planner must choose an index for the hot queries on a board of thousands.


@pytest.fixture
def seeded_board(db):
    operations.messages_seed(count=SEEDED, revisions=2, users=5)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE messages_app_message")
            cursor.execute("ANALYZE messages_app_revision")
            cursor.execute("ANALYZE messages_app_editlease")
    ids = list(Message.objects.order_by("-id").values_list("id", flat=True))
    assert len(ids) == SEEDED
    return ids


def captured_sql(run) -> list[str]:
    """Return the SQL of the queries run() sends, parameters bound, ready for EXPLAIN."""
    with CaptureQueriesContext(connection) as captured:
        run()
    return [query["sql"] for query in captured.captured_queries]


def table_scans(sql: str) -> tuple[set[str], set[str]]:
    """Return the tables the query scans whole, and the tables it reads through an index."""
    whole, indexed = set(), set()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
            plan = cursor.fetchone()[0]
            if isinstance(plan, str):
                plan = json.loads(plan)
            nodes = [plan[0]["Plan"]]
            while nodes:
                node = nodes.pop()
                nodes.extend(node.get("Plans", []))
                table = node.get("Relation Name")
                if node["Node Type"] == "Seq Scan":
                    whole.add(table)
                elif node["Node Type"] in {"Index Scan", "Index Only Scan", "Bitmap Heap Scan"}:
                    indexed.add(table)
        elif connection.vendor == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            for row in cursor.fetchall():
                detail = row[-1]
                match = re.match(r"(SCAN|SEARCH) (\w+)(?: AS \w+)?( USING .*)?$", detail)
                if match is None:
                    continue
                table, using = match.group(2), match.group(3)
                (indexed if using else whole).add(table)
        else:
            raise NotSupportedError(f"the board supports SQLite and PostgreSQL, not {connection.vendor}")
    return whole, indexed


def test_hot_queries_read_through_an_index(seeded_board):
    ids = seeded_board
    middle = ids[len(ids) // 2]
    generation = permissions.access_generation()
    permissions.access(VISITOR, generation=generation)  # as the list page has, before its rows
    queries = {
        "list page": (
            lambda: selectors.message_list_page(viewer=VISITOR, generation=generation),
            "messages_app_message",
        ),
        "older list page": (
            lambda: selectors.message_list_page(viewer=VISITOR, generation=generation, before=middle),
            "messages_app_message",
        ),
        "message": (lambda: selectors.message_get(message_id=middle), "messages_app_message"),
        "history": (lambda: history_selectors.revision_list(message_id=middle), "messages_app_revision"),
    }
    # The reader of plans sees a whole-table scan where there is one, so its silence means something.
    unindexed = captured_sql(lambda: list(Message.objects.filter(subject__contains="zz")[:50]))
    assert "messages_app_message" in table_scans(unindexed[0])[0]
    for name, (run, table) in queries.items():
        statements = captured_sql(run)
        assert len(statements) == 1, (name, statements)
        whole, indexed = table_scans(statements[0])
        assert not whole & {table, "messages_app_message"}, f"{name}: scans {whole} whole:\n{statements[0]}"
        assert table in indexed, f"{name}: {table} not read through an index:\n{statements[0]}"


def plan_rows(sql: str) -> tuple[int, int]:
    """Run the query under EXPLAIN ANALYZE on PostgreSQL.

    Return the message rows its scans read from the table, and the most rows any join took in.
    """
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    read = joined = 0
    nodes = [plan[0]["Plan"]]
    while nodes:
        node = nodes.pop()
        children = node.get("Plans", [])
        nodes.extend(children)
        if node.get("Relation Name") == "messages_app_message":
            read += node["Actual Rows"] * node["Actual Loops"]
        if node["Node Type"] in {"Hash Join", "Nested Loop", "Merge Join"}:
            joined = max(joined, *(child["Actual Rows"] * child["Actual Loops"] for child in children))
    return read, joined


def reset_statistics(*tables: str) -> None:
    """Forget the planner's statistics of these tables, as on a freshly loaded database.

    Undone with the test's transaction.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in tables:
                cursor.execute("DELETE FROM pg_statistic WHERE starelid = %s::regclass", [table])
                cursor.execute("UPDATE pg_class SET reltuples = -1, relpages = 0 WHERE oid = %s::regclass", [table])
            return
        cursor.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")
        if cursor.fetchone():
            cursor.execute(f"DELETE FROM sqlite_stat1 WHERE tbl IN ({', '.join(['%s'] * len(tables))})", list(tables))


def joins_one_page(sql: str, page_size: int) -> list[str]:
    """Return what is wrong with the list query's plan: empty when the page is chosen before any join.

    PostgreSQL runs it (EXPLAIN ANALYZE) and counts rows; SQLite shows its plan only: the message
    table must be read through a visible-messages index inside the page's subquery (newest
    first, or one board's newest first when the reader reads one board), and every other table
    looked up by key for the rows of that page.
    """
    if connection.vendor == "postgresql":
        _read, joined = plan_rows(sql)
        return [f"a join took in {joined} rows"] if joined > page_size + 1 else []
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        steps = [row[-1] for row in cursor.fetchall()]
    problems = []
    page_read = tuple(
        f"{how} messages_app_message USING INDEX {index}"
        for how in ("SCAN", "SEARCH")
        for index in ("message_visible_newest", "message_board_newest")
    )
    if not any(step.startswith(page_read) for step in steps):
        problems.append("the page is not read through message_visible_newest or message_board_newest")
    for step in steps:
        # m, b0, b1, …, each_board: the page's own rows (at most a page per board), not a table.
        if step.startswith("SCAN ") and not step.startswith(
            ("SCAN m", "SCAN b", "SCAN each_board", "SCAN messages_app_message USING INDEX")
        ):
            problems.append(f"scans whole: {step}")
        if step.startswith("SEARCH ") and "USING" not in step:
            problems.append(f"searches without an index: {step}")
    return problems


def test_the_list_joins_one_page_of_messages_even_without_statistics(alice, make_user, settings):
    # A board loaded with no ANALYZE since (autovacuum had not come round) made PostgreSQL
    # expect a handful of visible messages and join every message with its author, editor and
    # lease before sorting them. The page's rows are now chosen before any join.
    ids = insert_message_rows(alice, 20_000)
    generation = permissions.access_generation()
    permissions.access(VISITOR, generation=generation)  # as the list page has, before its rows
    settings.MESSAGEBOARD_MAX_LEASES_PER_USER = 0  # one holder of many leases, to fill the lease table
    holder = make_user("carol")
    for message_id in ids[:: len(ids) // 40]:
        leases.lease_acquire(message_id=message_id, user=holder)
    page_size = 50
    pages = {
        "first page": lambda: selectors.message_list_page(viewer=VISITOR, generation=generation, limit=page_size),
        "older page": lambda: selectors.message_list_page(
            viewer=VISITOR, generation=generation, before=ids[len(ids) // 2], limit=page_size
        ),
    }
    reset_statistics("messages_app_message", "messages_app_editlease", "auth_user")
    for name, run in pages.items():
        assert joins_one_page(captured_sql(run)[0], page_size) == [], name
    if connection.vendor == "postgresql":
        # With statistics, PostgreSQL also reads no more messages than the page.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE messages_app_message")
        for name, run in pages.items():
            read, joined = plan_rows(captured_sql(run)[0])
            assert read <= page_size + 1, f"{name}: read {read} messages"
            assert joined <= page_size + 1, f"{name}: a join took in {joined} rows"


def test_bulk_loads_leave_postgresql_fresh_statistics_and_sqlite_none(db):
    reset_statistics("messages_app_message")
    operations.messages_seed(count=300, revisions=1, users=3)
    generation = permissions.access_generation()
    permissions.access(VISITOR, generation=generation)  # as the list page has, before its rows
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'messages_app_message'::regclass")
            assert cursor.fetchone()[0] == 300
        else:
            # Without statistics SQLite keeps to the index of visible messages (analyze_loaded).
            cursor.execute("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
            if cursor.fetchone()[0]:
                cursor.execute("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'messages_app_message'")
                assert cursor.fetchone()[0] == 0
    assert (
        joins_one_page(
            captured_sql(lambda: selectors.message_list_page(viewer=VISITOR, generation=generation, limit=50))[0], 50
        )
        == []
    )


def test_a_members_message_page_costs_no_more_queries_than_its_authors(make_message, alice, bob):
    # Which buttons to show asks the permission rules: a member who is not a moderator must be
    # answered without looking permissions up.
    message = make_message()
    counts = {}
    for user in (alice, bob):
        client = Client()
        client.force_login(user)
        client.get(f"/messages/{message.pk}/")  # the session is cached from here on
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/messages/{message.pk}/").status_code == 200
        counts[user.username] = len(queries)
    assert counts["bob"] == counts["alice"], counts
