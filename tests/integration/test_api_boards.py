"""The boards API: the boards one may read, a board's messages, posting to a board, and a message's editors."""

import pytest

from tests.support.api import ApiClient, api_for, assert_error

pytestmark = pytest.mark.django_db


def test_boards_lists_only_what_the_caller_may_read_with_counters_and_may_post(world):
    visitor = ApiClient().get("/api/boards").json()["items"]
    assert [board["slug"] for board in visitor] == ["announce", "general", "open"]
    assert all(board["may_post"] is False for board in visitor)
    team = {board["slug"]: board for board in api_for(world.people["editor"]).get("/api/boards").json()["items"]}
    assert set(team) == {"announce", "general", "open", "private"}
    assert team["private"] == {
        "slug": "private",
        "name": "Private",
        "description": "",
        "messages": 2,
        "may_post": True,
    }
    assert team["announce"]["may_post"] is False


def test_a_boards_messages_page_like_the_message_list(world):
    api = api_for(world.people["poster"])
    for n in range(3):
        api.post("/api/messages", {"subject": f"More {n}", "body": "x", "board": "private"})
    first = api.get("/api/boards/private/messages?limit=2").json()
    assert [m["subject"] for m in first["items"]] == ["More 2", "More 1"]
    assert all(m["board"] == "private" for m in first["items"])
    second = api.get(f"/api/boards/private/messages?limit=2&cursor={first['next_cursor']}").json()
    assert [m["subject"] for m in second["items"]] == ["More 0", "Restricted"]


def test_a_private_or_unknown_board_is_404_alike(world):
    member = api_for(world.people["member"])
    private = assert_error(member.get("/api/boards/private/messages"), 404, "not_found")
    unknown = assert_error(member.get("/api/boards/nothing-here/messages"), 404, "not_found")
    assert private == unknown


def test_post_names_its_board_and_defaults_to_the_default_board(world):
    api = api_for(world.people["poster"])
    posted = api.post("/api/messages", {"subject": "Staff news", "body": "x", "board": "announce"})
    assert posted.status_code == 201 and posted.json()["board"] == "announce"
    plain = api.post("/api/messages", {"subject": "Anywhere", "body": "x"})
    assert plain.json()["board"] == "general"


def test_posting_where_one_may_not_is_403_and_to_an_unknown_board_404(world):
    member = api_for(world.people["member"])
    refused = assert_error(
        member.post("/api/messages", {"subject": "s", "body": "b", "board": "announce"}), 403, "forbidden"
    )
    assert "may not post to this board" in refused["detail"]
    assert_error(member.post("/api/messages", {"subject": "s", "body": "b", "board": "private"}), 404, "not_found")
    assert_error(member.post("/api/messages", {"subject": "s", "body": "b", "board": "nope"}), 404, "not_found")


def test_editors_are_read_by_readers_and_set_by_the_author(world):
    message = world.messages["private"]
    author = api_for(world.people["poster"])
    assert author.get(f"/api/messages/{message.pk}/editors").json() == {"users": [], "groups": []}
    saved = author.put(f"/api/messages/{message.pk}/editors", {"users": ["ned"], "groups": []})
    assert saved.status_code == 200 and saved.json() == {"users": ["ned"], "groups": []}
    assert api_for(world.people["editor"]).get(f"/api/messages/{message.pk}/editors").json()["users"] == ["ned"]
    # The restriction holds at once: eve (team) may no longer save, ned may.
    eve = api_for(world.people["editor"])
    refused = eve.put(f"/api/messages/{message.pk}", {"body": "eve's", "base_version": 1}, headers={"If-Match": '"1"'})
    assert_error(refused, 403, "forbidden")
    lifted = author.put(f"/api/messages/{message.pk}/editors", {"users": [], "groups": []})
    assert lifted.json() == {"users": [], "groups": []}


def test_editors_refuse_strangers_unknown_names_and_hide_private_messages(world):
    message = world.messages["private"]
    assert_error(
        api_for(world.people["editor"]).put(f"/api/messages/{message.pk}/editors", {"users": [], "groups": []}),
        403,
        "forbidden",
    )
    bad = api_for(world.people["poster"]).put(f"/api/messages/{message.pk}/editors", {"users": ["ghost"], "groups": []})
    assert assert_error(bad, 422, "invalid")["fields"] == {"users": "No such user: ghost."}
    assert_error(api_for(world.people["member"]).get(f"/api/messages/{message.pk}/editors"), 404, "not_found")
    assert_error(
        ApiClient().put(f"/api/messages/{message.pk}/editors", {"users": [], "groups": []}), 401, "unauthenticated"
    )


def test_a_bad_token_on_a_read_is_401_not_a_visitor(world):
    assert_error(ApiClient("not-a-token").get("/api/boards"), 401, "unauthenticated")
