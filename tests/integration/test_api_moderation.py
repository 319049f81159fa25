"""The API additions of issue 7: protect/unprotect, revert, and the lease's events."""

import pytest

from messages_app.models import EditLease, LeaseEvent, Message, Revision
from tests.support.api import ApiClient, api_for, assert_error, expire_leases

pytestmark = pytest.mark.django_db


@pytest.fixture
def mia_api(mia) -> ApiClient:
    return api_for(mia)


@pytest.fixture
def posted(alice_api) -> dict:
    """A message at version 2: "Hello"/"First version.\n", then "Hello again"/"Second version.\n"."""
    message = alice_api.create("Hello", "First version.\n")
    response = alice_api.put(
        f"/api/messages/{message['id']}",
        {"subject": "Hello again", "body": "Second version.\n"},
        headers={"If-Match": '"1"'},
    )
    assert response.status_code == 200
    return response.json()


def path(posted, suffix: str = "") -> str:
    return f"/api/messages/{posted['id']}{suffix}"


def snapshot(posted) -> tuple:
    row = Message.objects.values("version", "subject", "body_key", "protected", "deleted_at").get(pk=posted["id"])
    return row, Revision.objects.filter(message_id=posted["id"]).count()


# Protect and unprotect


def test_a_moderator_protects_and_unprotects_answering_the_message(mia_api, posted):
    response = mia_api.post(path(posted, "/protect"))
    assert response.status_code == 200
    assert response.json()["protected"] is True
    assert response["ETag"] == '"2"'
    assert response.json()["body"] == "Second version.\n"
    # Doing it twice is fine.
    assert mia_api.post(path(posted, "/protect")).json()["protected"] is True
    assert mia_api.get(path(posted)).json()["protected"] is True
    response = mia_api.post(path(posted, "/unprotect"))
    assert response.status_code == 200
    assert response.json()["protected"] is False


@pytest.mark.parametrize("action", ["/protect", "/unprotect"])
def test_protect_and_unprotect_are_for_moderators_only(anon, alice_api, bob_api, posted, action):
    assert_error(anon.post(path(posted, action)), 401, "unauthenticated")
    # Not even the author.
    assert_error(alice_api.post(path(posted, action)), 403, "forbidden")
    assert_error(bob_api.post(path(posted, action)), 403, "forbidden")
    assert not Message.objects.get(pk=posted["id"]).protected


def test_protect_on_a_missing_or_deleted_message_is_404_or_410(mia_api, alice_api, posted):
    assert_error(mia_api.post("/api/messages/999999/protect"), 404, "not_found")
    alice_api.delete(path(posted))
    assert_error(mia_api.post(path(posted, "/protect")), 410, "gone")
    assert_error(alice_api.post(path(posted, "/protect")), 410, "gone")


def test_a_protected_message_refuses_a_members_lease_put_and_revert_but_not_a_moderators(
    mia_api, alice_api, bob_api, posted
):
    mia_api.post(path(posted, "/protect"))
    before = snapshot(posted)
    for member in (alice_api, bob_api):
        assert_error(member.post(path(posted, "/lease")), 403, "forbidden")
        assert_error(member.put(path(posted), {"body": "Mine."}, headers={"If-Match": '"2"'}), 403, "forbidden")
        assert_error(member.post(path(posted, "/revisions/1/revert"), headers={"If-Match": '"2"'}), 403, "forbidden")
    assert snapshot(posted) == before
    assert not EditLease.objects.exists()
    token = mia_api.take_lease(posted["id"])
    response = mia_api.put(path(posted), {"body": "Fixed."}, headers={"If-Match": '"2"', "Lease-Token": token})
    assert response.status_code == 200
    response = mia_api.post(path(posted, "/revisions/1/revert"), headers={"If-Match": '"3"', "Lease-Token": token})
    assert response.status_code == 200
    assert response.json()["version"] == 4


def test_a_member_asking_for_a_protected_messages_lease_is_told_it_is_protected_not_who_edits(mia_api, bob_api, posted):
    mia_api.post(path(posted, "/protect"))
    mia_api.take_lease(posted["id"])
    data = assert_error(bob_api.post(path(posted, "/lease")), 403, "forbidden")
    assert "protected" in data["detail"]


# Revert


def test_revert_makes_the_old_version_current_as_a_new_version_by_the_caller(alice_api, bob_api, posted):
    response = bob_api.post(path(posted, "/revisions/1/revert"), headers={"If-Match": '"2"'})
    assert response.status_code == 200
    assert response["ETag"] == '"3"'
    data = response.json()
    assert (data["version"], data["subject"], data["body"], data["updated_by"]) == (
        3,
        "Hello",
        "First version.\n",
        "bob",
    )
    history = alice_api.get(path(posted, "/revisions")).json()["items"]
    assert [(item["version"], item["subject"], item["author"]) for item in history] == [
        (3, "Hello", "bob"),
        (2, "Hello again", "alice"),
        (1, "Hello", "alice"),
    ]
    assert history[0]["sha256"] == history[2]["sha256"]


def test_revert_without_if_match_is_428(bob_api, posted):
    before = snapshot(posted)
    assert_error(bob_api.post(path(posted, "/revisions/1/revert")), 428, "precondition_required")
    assert snapshot(posted) == before


@pytest.mark.parametrize("if_match", ['"1"', '"3"', "*", 'W/"2"', "2"])
def test_revert_with_a_stale_if_match_is_412(bob_api, posted, if_match):
    before = snapshot(posted)
    assert_error(
        bob_api.post(path(posted, "/revisions/1/revert"), headers={"If-Match": if_match}), 412, "version_conflict"
    )
    assert snapshot(posted) == before


def test_revert_while_someone_holds_the_lease_is_423_and_with_a_dead_token_409(alice_api, bob_api, posted):
    alice_api.take_lease(posted["id"])
    before = snapshot(posted)
    data = assert_error(bob_api.post(path(posted, "/revisions/1/revert"), headers={"If-Match": '"2"'}), 423, "locked")
    assert data["lease"]["holder"] == "alice"
    # The caller's own lease too: the lease belongs to one tab.
    assert_error(alice_api.post(path(posted, "/revisions/1/revert"), headers={"If-Match": '"2"'}), 423, "locked")
    headers = {"If-Match": '"2"', "Lease-Token": "0" * 32}
    assert_error(bob_api.post(path(posted, "/revisions/1/revert"), headers=headers), 409, "lease_lost")
    assert snapshot(posted) == before


def test_revert_under_the_callers_lease_keeps_the_lease(alice_api, posted):
    token = alice_api.take_lease(posted["id"])
    response = alice_api.post(path(posted, "/revisions/1/revert"), headers={"If-Match": '"2"', "Lease-Token": token})
    assert response.status_code == 200
    assert EditLease.objects.get(message_id=posted["id"]).token == token


def test_revert_to_the_current_version_is_400_invalid(bob_api, posted):
    before = snapshot(posted)
    data = assert_error(bob_api.post(path(posted, "/revisions/2/revert"), headers={"If-Match": '"2"'}), 400, "invalid")
    assert "already the current one" in data["detail"]
    assert snapshot(posted) == before


def test_revert_of_an_unknown_version_is_404_and_on_a_deleted_message_410(alice_api, bob_api, anon, posted):
    assert_error(bob_api.post(path(posted, "/revisions/9/revert"), headers={"If-Match": '"2"'}), 404, "not_found")
    assert_error(bob_api.post("/api/messages/999999/revisions/1/revert", headers={"If-Match": '"1"'}), 404, "not_found")
    assert_error(anon.post(path(posted, "/revisions/1/revert"), headers={"If-Match": '"2"'}), 401, "unauthenticated")
    alice_api.delete(path(posted))
    assert_error(bob_api.post(path(posted, "/revisions/1/revert"), headers={"If-Match": '"2"'}), 410, "gone")


def test_revert_answers_only_post(bob_api, posted):
    response = bob_api.get(path(posted, "/revisions/1/revert"))
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST"


# Lease events


def test_lease_events_tell_moderators_who_held_the_lease_newest_first(alice_api, bob_api, mia_api, posted):
    alice_api.take_lease(posted["id"])
    alice_api.take_lease(posted["id"])
    expire_leases()
    token = bob_api.take_lease(posted["id"])
    bob_api.put(path(posted, "/lease"), headers={"Lease-Token": token})  # a renewal: not an event
    assert mia_api.delete(path(posted, "/lease")).status_code == 204
    token = alice_api.take_lease(posted["id"])
    assert alice_api.delete(path(posted, "/lease"), headers={"Lease-Token": token}).status_code == 204

    response = mia_api.get(path(posted, "/lease/events"))
    assert response.status_code == 200
    data = response.json()
    assert [(e["event"], e["user"], e["by"]) for e in data["items"]] == [
        ("released", "alice", None),
        ("acquired", "alice", None),
        ("broken", "bob", "mia"),
        ("acquired", "bob", None),
        ("expired", "alice", None),
        ("replaced", "alice", None),
        ("acquired", "alice", None),
    ]
    assert all(set(item) == {"event", "user", "by", "at"} for item in data["items"])
    assert data["next_cursor"] is None


def test_lease_events_page_with_a_cursor(alice_api, mia_api, posted):
    for _ in range(5):
        alice_api.take_lease(posted["id"])
    first = mia_api.get(path(posted, "/lease/events"), QUERY_STRING="limit=2").json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = mia_api.get(path(posted, "/lease/events"), QUERY_STRING=f"limit=10&cursor={first['next_cursor']}").json()
    assert [e["event"] for e in first["items"] + rest["items"]] == ["replaced"] * 4 + ["acquired"]
    assert rest["next_cursor"] is None
    assert_error(mia_api.get(path(posted, "/lease/events"), QUERY_STRING="cursor=bm9wZQ"), 422, "invalid")


def test_lease_events_need_a_moderator(anon, alice_api, bob_api, posted):
    alice_api.take_lease(posted["id"])
    assert_error(anon.get(path(posted, "/lease/events")), 401, "unauthenticated")
    assert_error(alice_api.get(path(posted, "/lease/events")), 403, "forbidden")
    assert_error(bob_api.get(path(posted, "/lease/events")), 403, "forbidden")


def test_lease_events_of_a_missing_or_deleted_message(alice_api, mia_api, posted):
    assert_error(mia_api.get("/api/messages/999999/lease/events"), 404, "not_found")
    alice_api.delete(path(posted))
    assert_error(mia_api.get(path(posted, "/lease/events")), 410, "gone")


# Settled details


def test_a_moderators_tokenless_delete_of_a_free_lease_is_204_and_records_nothing(mia_api, posted):
    assert mia_api.delete(path(posted, "/lease")).status_code == 204
    assert not LeaseEvent.objects.exists()


def test_a_moderator_cannot_delete_a_message_someone_else_is_editing(bob_api, mia_api, posted):
    bob_api.take_lease(posted["id"])
    assert_error(mia_api.delete(path(posted)), 423, "locked")
    assert Message.objects.get(pk=posted["id"]).deleted_at is None
    # Break the lease first, on purpose; then the delete goes through.
    assert mia_api.delete(path(posted, "/lease")).status_code == 204
    assert mia_api.delete(path(posted)).status_code == 204


def test_after_a_break_the_holders_save_is_refused_and_nothing_changes(bob_api, mia_api, posted):
    token = bob_api.take_lease(posted["id"])
    mia_api.delete(path(posted, "/lease"))
    before = snapshot(posted)
    response = bob_api.put(path(posted), {"body": "Bob's text."}, headers={"If-Match": '"2"', "Lease-Token": token})
    assert_error(response, 409, "lease_lost")
    assert snapshot(posted) == before
