"""The lists over many boards read through an index and take in one page of rows, whatever the statistics say."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection

from messages_app import boards, permissions, selectors
from messages_app.models import Message
from tests.conftest import insert_message_rows
from tests.integration.test_query_counts import captured_sql, joins_one_page, reset_statistics, table_scans

pytestmark = pytest.mark.django_db

MESSAGES = 6_000
PAGE = 50


@pytest.fixture
def many_boards(alice):
    """Messages spread over ten boards, every fifth private: what a visitor's lists filter."""
    made = [boards.board_create(slug=f"b{n}", name=f"Board {n}", private=n % 5 == 0) for n in range(1, 11)]
    insert_message_rows(alice, MESSAGES)
    ids = list(Message.objects.order_by("id").values_list("id", flat=True))
    for index, board in enumerate(made):
        Message.objects.filter(id__in=ids[index::10]).update(board=board)
    reset_statistics("messages_app_message")
    return made


@pytest.mark.parametrize("which", ["all I may read", "all I may read, older", "one board", "one board, older"])
def test_the_board_lists_read_through_an_index_one_page_of_rows(many_boards, which):
    visitor = AnonymousUser()
    generation = permissions.access_generation()
    readable = permissions.readable_boards(visitor, generation=generation)
    assert len(readable) == 9  # the default board and eight of the ten: two are private
    one_board = many_boards[0].pk if which.startswith("one board") else None
    before = Message.objects.order_by("-id").values_list("id", flat=True)[MESSAGES // 2] if "older" in which else None

    def run():
        return selectors.message_list_page(
            viewer=visitor, generation=generation, before=before, limit=PAGE, board_id=one_board
        )

    statements = captured_sql(run)
    assert len(statements) == 1
    assert joins_one_page(statements[0], PAGE) == [], statements[0]
    whole, indexed = table_scans(statements[0])
    assert "messages_app_message" not in whole and "messages_app_message" in indexed
    page = run()
    assert len(page.items) == PAGE
    assert {message.board_id for message in page.items} <= set(readable)
    if one_board:
        assert {message.board_id for message in page.items} == {one_board}


def test_a_private_boards_messages_never_fill_a_visitors_page(many_boards):
    private = {board.pk for board in many_boards if board.slug in ("b5", "b10")}
    seen = set()
    page = selectors.message_list_page(viewer=AnonymousUser(), limit=200)
    while page.items:
        seen |= {message.board_id for message in page.items}
        if page.next_before is None:
            break
        page = selectors.message_list_page(viewer=AnonymousUser(), before=page.next_before, limit=200)
    assert seen and not seen & private
    assert connection.vendor in ("sqlite", "postgresql")


def test_a_reader_of_a_few_boards_among_many_reads_each_boards_newest_only(many_boards):
    # Most boards private: the visitor reads the default board and b1 only (a minority of 11).
    for board in many_boards[1:]:
        boards.board_revoke(slug=board.slug, audience="everyone")
    visitor = AnonymousUser()
    generation = permissions.access_generation()
    readable = permissions.readable_boards(visitor, generation=generation)
    assert len(readable) == 2
    mode, named = selectors._list_shape(readable, permissions.every_board(generation), None)
    assert mode == selectors.SOME_BOARDS and named == readable
    statements = captured_sql(lambda: selectors.message_list_page(viewer=visitor, generation=generation, limit=PAGE))
    assert joins_one_page(statements[0], PAGE * len(readable)) == [], statements[0]
    page = selectors.message_list_page(viewer=visitor, generation=generation, limit=PAGE)
    assert [m.pk for m in page.items] == list(
        Message.objects.filter(board_id__in=readable, deleted_at__isnull=True)
        .order_by("-id")
        .values_list("id", flat=True)[:PAGE]
    )


def test_the_list_shape_follows_what_the_reader_reads():
    every = tuple(range(1, 11))
    assert selectors._list_shape(every, every, None) == (selectors.ALL_BOARDS, ())
    assert selectors._list_shape(every[:8], every, None) == (selectors.ALL_BUT, (9, 10))
    assert selectors._list_shape(every[:3], every, None) == (selectors.SOME_BOARDS, (1, 2, 3))
    assert selectors._list_shape((4,), every, None) == (selectors.ONE_BOARD, (4,))
    assert selectors._list_shape(every, every, 7) == (selectors.ONE_BOARD, (7,))
