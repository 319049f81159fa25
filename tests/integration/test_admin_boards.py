"""Boards in the admin: site moderators manage them; a board's moderator sees and acts on that board only."""

import pytest

from messages_app import permissions
from messages_app.models import Board, BoardGrant, EditLease, Message, Revision
from tests.support.boards import signed_in

pytestmark = pytest.mark.django_db

MESSAGES = "/admin/messages_app/message/"
BOARDS = "/admin/messages_app/board/"


def test_a_board_moderator_sees_only_their_boards_messages(world):
    page = signed_in(world.people["board_moderator"]).get(MESSAGES).content.decode()
    assert "On private" in page and "Restricted" in page
    assert "On open" not in page and "On announce" not in page
    everything = signed_in(world.people["site_moderator"]).get(MESSAGES).content.decode()
    assert "On open" in everything and "On private" in everything


def test_a_board_moderator_cannot_open_another_boards_message(world):
    moderator = signed_in(world.people["board_moderator"])
    assert moderator.get(f"{MESSAGES}{world.messages['private'].pk}/change/").status_code == 200
    assert moderator.get(f"{MESSAGES}{world.messages['open'].pk}/change/").status_code in (302, 403, 404)


def test_a_board_moderator_cannot_act_on_another_boards_message(world):
    moderator = signed_in(world.people["board_moderator"])
    response = moderator.post(
        MESSAGES,
        {"action": "soft_delete", "_selected_action": [world.messages["open"].pk, world.messages["private"].pk]},
    )
    assert response.status_code in (200, 302)
    assert Message.objects.get(pk=world.messages["open"].pk).deleted_at is None
    assert Message.objects.get(pk=world.messages["private"].pk).deleted_at is not None


def test_boards_are_managed_by_site_moderators_only(world):
    assert signed_in(world.people["board_moderator"]).get(BOARDS).status_code == 403
    site = signed_in(world.people["site_moderator"])
    assert "Announcements" in site.get(BOARDS).content.decode()
    board = Board.objects.get(slug="announce")
    form = {
        "slug": "announce",
        "name": "Announcements",
        "description": "From the staff",
        "grants-TOTAL_FORMS": "3",
        "grants-INITIAL_FORMS": "2",
        "grants-MIN_NUM_FORMS": "0",
        "grants-MAX_NUM_FORMS": "1000",
    }
    for index, grant in enumerate(BoardGrant.objects.filter(board=board).order_by("id")):
        form.update(
            {
                f"grants-{index}-id": str(grant.pk),
                f"grants-{index}-board": str(board.pk),
                f"grants-{index}-audience": grant.audience,
                f"grants-{index}-group": str(grant.group_id or ""),
                f"grants-{index}-level": str(grant.level),
            }
        )
    form.update({"grants-2-board": str(board.pk), "grants-2-audience": "members", "grants-2-level": "2"})
    response = site.post(f"{BOARDS}{board.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert permissions.may_post(world.people["member"], board.pk)


def test_moving_a_message_in_the_admin_keeps_its_history(world):
    message = world.messages["open"]
    site = signed_in(world.people["site_moderator"])
    page = site.get(f"{MESSAGES}{message.pk}/change/")
    assert page.status_code == 200
    private = Board.objects.get(slug="private")
    response = site.post(
        f"{MESSAGES}{message.pk}/change/",
        {
            "board": str(private.pk),
            "protected": "",
            "revisions-TOTAL_FORMS": "0",
            "revisions-INITIAL_FORMS": "0",
            "lease_events-TOTAL_FORMS": "0",
            "lease_events-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code in (200, 302)
    moved = Message.objects.get(pk=message.pk)
    assert moved.board_id == private.pk
    assert Revision.objects.filter(message=moved).count() == 1
    assert Board.objects.get(slug="open").message_count == 0
    assert Board.objects.get(slug="private").message_count == 3
    assert not EditLease.objects.filter(message=moved).exists()
