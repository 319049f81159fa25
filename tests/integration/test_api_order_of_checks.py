"""docs/API.md's order of checks: 401, then the message exists (404, 410), then permission (403),
then everything about the request itself (428, 422, 412, 409, 423) (issue 11)."""

import pytest

from messages_app import services
from tests.support.api import ApiClient, assert_error

pytestmark = pytest.mark.django_db

MISSING = 999_999


@pytest.fixture
def protected(alice_api, mia) -> dict:
    message = alice_api.create()
    services.message_protect(message_id=message["id"], user=mia)
    return message


@pytest.fixture
def deleted(alice_api, alice) -> dict:
    message = alice_api.create()
    services.message_delete(message_id=message["id"], user=alice)
    return message


def test_a_put_without_if_match_on_a_missing_message_is_404_not_428(alice_api):
    assert_error(alice_api.put(f"/api/messages/{MISSING}", {"body": "x"}), 404, "not_found")


def test_a_put_without_if_match_on_a_deleted_message_is_410_not_428(alice_api, deleted):
    assert_error(alice_api.put(f"/api/messages/{deleted['id']}", {"body": "x"}), 410, "gone")


def test_a_put_without_if_match_on_a_protected_message_is_403_for_a_member(bob_api, protected):
    assert_error(bob_api.put(f"/api/messages/{protected['id']}", {"body": "x"}), 403, "forbidden")


def test_an_invalid_body_on_a_missing_message_is_404_not_422(alice_api):
    response = alice_api.put(f"/api/messages/{MISSING}", {"body": ""}, headers={"If-Match": '"1"'})
    assert_error(response, 404, "not_found")


def test_an_invalid_body_on_a_protected_message_is_403_for_a_member(bob_api, protected):
    response = bob_api.put(f"/api/messages/{protected['id']}", {"nobody": 1}, headers={"If-Match": '"1"'})
    assert_error(response, 403, "forbidden")


def test_a_revert_without_if_match_on_a_protected_message_is_403_for_a_member(bob_api, protected):
    assert_error(bob_api.post(f"/api/messages/{protected['id']}/revisions/1/revert"), 403, "forbidden")


def test_a_moderator_still_gets_428_and_422_on_a_protected_message(protected, mia):
    from tests.support.api import api_for

    mia_api = api_for(mia)
    assert_error(mia_api.put(f"/api/messages/{protected['id']}", {"body": "x"}), 428, "precondition_required")
    response = mia_api.put(f"/api/messages/{protected['id']}", {"body": ""}, headers={"If-Match": '"1"'})
    assert response.status_code in {400, 422} and response.json()["error"] == "invalid"


def test_without_a_user_every_write_is_401_first(protected):
    assert_error(ApiClient().put(f"/api/messages/{MISSING}", {"body": ""}), 401, "unauthenticated")
    assert_error(ApiClient().put(f"/api/messages/{protected['id']}", {"body": "x"}), 401, "unauthenticated")
