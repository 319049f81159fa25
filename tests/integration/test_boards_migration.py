"""Migration 0012 (boards) undone and done again on a board that holds boards and messages."""

import pytest
from django.db import connection

from messages_app import boards
from messages_app.models import Board, BoardGrant, Message
from tests.support.migrations import migrated_back_to

BEFORE, BOARDS = ("messages_app", "0011_lease_waiters"), ("messages_app", "0012_boards")


@pytest.mark.django_db(transaction=True)
def test_the_boards_migration_reverses_with_boards_present_and_puts_every_message_on_the_default_board(
    make_message,
):
    # Undoing it deletes the boards, then drops the foreign keys to them, in one transaction: on
    # PostgreSQL the deletes' deferred checks must have run first, or the ALTER TABLE is refused.
    boards.board_create(slug="team", name="Team", private=True)
    first = make_message(subject="first", body="one")
    second = make_message(subject="second", body="two")
    Message.objects.filter(pk=second.pk).update(board=Board.objects.get(slug="team"))
    with migrated_back_to(BEFORE) as executor:
        assert "messages_app_board" not in connection.introspection.table_names()
        executor.migrate([BOARDS])
    general = Board.objects.get()
    assert general.slug == "general"  # the migration's, whatever the setting
    assert set(Message.objects.values_list("board_id", flat=True)) == {general.pk}
    assert (general.message_count, general.newest_message_id) == (2, max(first.pk, second.pk))
    assert set(BoardGrant.objects.values_list("audience", "level", "group_id")) == {
        ("everyone", 1, None),
        ("members", 3, None),
    }
