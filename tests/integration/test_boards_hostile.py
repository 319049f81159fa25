"""What a stranger can try against the boards' calls: floods, crafted input, private messages, forbidden boards."""

import pytest

from messages_app import boards
from messages_app.models import Board, Message
from tests.support.api import api_for, assert_error
from tests.support.boards import signed_in

pytestmark = pytest.mark.django_db


def test_naming_editors_is_rate_limited_and_a_refused_call_changes_nothing(world, rate_limits):
    rate_limits.MESSAGEBOARD_RATE_SAVES = "2/minute"
    message = world.messages["private"]
    author = api_for(world.people["poster"])
    for names in (["ned"], []):
        assert author.put(f"/api/messages/{message.pk}/editors", {"users": names, "groups": []}).status_code == 200
    refused = author.put(f"/api/messages/{message.pk}/editors", {"users": ["eve"], "groups": []})
    assert_error(refused, 429, "rate_limited")
    assert boards.editors_of(message.pk).users == []


def test_a_stranger_over_the_limit_still_gets_404_for_a_private_message(world, rate_limits):
    rate_limits.MESSAGEBOARD_RATE_SAVES = "1/minute"
    stranger = api_for(world.people["member"])
    own = world.messages["open"]
    hidden = world.messages["private"]
    for _ in range(3):
        response = stranger.put(f"/api/messages/{hidden.pk}/editors", {"users": [], "groups": []})
        assert_error(response, 404, "not_found")
    # Not the author of the open message either: 403 before any count.
    assert_error(stranger.put(f"/api/messages/{own.pk}/editors", {"users": [], "groups": []}), 403, "forbidden")


def test_thousands_of_names_on_the_editors_page_are_refused_at_once_and_change_nothing(world):
    message = world.messages["private"]
    names = ", ".join(f"user{n}" for n in range(20_000))
    response = signed_in(world.people["poster"]).post(
        f"/messages/{message.pk}/editors/", {"users": names, "groups": ""}
    )
    assert response.status_code == 422
    assert "at most 50 editors" in response.content.decode()
    assert not Message.objects.get(pk=message.pk).editors_restricted


def test_more_than_fifty_names_in_the_api_are_a_422(world):
    message = world.messages["private"]
    author = api_for(world.people["poster"])
    response = author.put(f"/api/messages/{message.pk}/editors", {"users": [f"u{n}" for n in range(51)], "groups": []})
    assert_error(response, 422, "invalid")


def test_posting_to_a_board_one_may_not_writes_no_file(world, body_files):
    before = set(body_files())
    member = api_for(world.people["member"])
    for board in ("announce", "private", "no-such-board"):
        response = member.post("/api/messages", {"subject": "Spam", "body": "x" * 10_000, "board": board})
        assert response.status_code in (403, 404)
    page = signed_in(world.people["member"]).post(
        "/messages/new/", {"board": "announce", "subject": "Spam", "body": "y" * 10_000}
    )
    assert page.status_code == 403
    assert set(body_files()) == before
    assert Board.objects.get(slug="announce").message_count == 1


def test_a_crafted_board_slug_is_a_plain_404(world):
    browser = signed_in(world.people["member"])
    assert browser.get("/b/" + "a" * 5000 + "/").status_code == 404
    assert api_for(world.people["member"]).get("/api/boards/" + "a" * 60 + "/messages").status_code in (404, 422)
