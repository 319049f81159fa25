"""The JSON API against docs/API.md: one test per row of its tables and per PUT rule."""

import hashlib
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from messages_app import tokens
from messages_app.models import EditLease, Message, Revision, Token
from tests.support.api import ApiClient, api_for, assert_error, expire_leases

pytestmark = pytest.mark.django_db
# The calls that read or write bodies (marked both_storages) run on local disk and on S3.

MESSAGE_KEYS = {
    "id",
    "board",
    "subject",
    "body",
    "version",
    "author",
    "created_at",
    "updated_at",
    "updated_by",
    "size",
    "sha256",
    "protected",
    "lease",
}


@pytest.fixture
def moderator_api(mia) -> ApiClient:
    return api_for(mia)


@pytest.fixture
def posted(alice_api) -> dict:
    return alice_api.create()


@pytest.fixture
def deleted(alice_api, posted) -> dict:
    assert alice_api.delete(f"/api/messages/{posted['id']}").status_code == 204
    return posted


# Authentication ---------------------------------------------------------------------------


def test_right_credentials_get_a_201_token_that_signs_writes_in(alice, anon):
    response = anon.post("/api/auth/token", {"username": "alice", "password": "correct horse battery staple"})
    assert response.status_code == 201
    assert set(response.json()) == {"token", "id", "expires_at"}
    created = ApiClient(response.json()["token"]).create()
    assert created["author"] == "alice"


def test_wrong_credentials_are_401_unauthenticated(alice, anon):
    response = anon.post("/api/auth/token", {"username": "alice", "password": "wrong"})
    assert_error(response, 401, "unauthenticated")
    assert_error(anon.post("/api/auth/token", {"username": "nobody", "password": "x"}), 401, "unauthenticated")


def test_a_username_with_nul_is_422_invalid_not_a_crash(alice, anon):
    response = anon.post("/api/auth/token", {"username": "ali\x00ce", "password": "x"})
    assert "username" in assert_error(response, 422, "invalid")["fields"]


def test_tokens_are_stored_only_as_their_sha256(alice):
    token, key = tokens.token_create(user=alice)
    stored = Token.objects.get(pk=token.pk)
    assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in {stored.key_hash, stored.prefix}
    assert key.startswith(stored.prefix)


def test_a_token_records_when_it_was_last_used(alice_api):
    assert Token.objects.get().last_used_at is None
    alice_api.create()
    assert Token.objects.get().last_used_at is not None


def test_a_revoked_token_no_longer_signs_in(alice_api):
    assert alice_api.delete("/api/auth/token").status_code == 204
    assert Token.objects.get().revoked_at is not None
    assert_error(alice_api.post("/api/messages", {"subject": "s", "body": "b"}), 401, "unauthenticated")


def test_an_unknown_bearer_token_is_401(anon):
    forged = ApiClient("mb_not-a-real-token")
    assert_error(forged.post("/api/messages", {"subject": "s", "body": "b"}), 401, "unauthenticated")


def test_a_token_of_a_deactivated_user_is_401(alice, alice_api):
    alice.is_active = False
    alice.save()
    assert_error(alice_api.post("/api/messages", {"subject": "s", "body": "b"}), 401, "unauthenticated")


def test_a_browser_session_writes_only_with_its_csrf_token(alice):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    session = ApiClient(client=browser)
    assert_error(session.post("/api/messages", {"subject": "s", "body": "b"}), 403, "forbidden")
    browser.get("/messages/")  # any page sets the CSRF cookie
    csrf = browser.cookies["csrftoken"].value
    response = session.post("/api/messages", {"subject": "s", "body": "b"}, headers={"X-CSRFToken": csrf})
    assert response.status_code == 201
    assert response.json()["author"] == "alice"


@pytest.mark.both_storages
def test_reads_are_public(anon, posted):
    message_id = posted["id"]
    for path in [
        "/api/messages",
        f"/api/messages/{message_id}",
        f"/api/messages/{message_id}/body",
        f"/api/messages/{message_id}/revisions",
        f"/api/messages/{message_id}/revisions/1",
    ]:
        assert anon.get(path).status_code == 200, path


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/messages"),
        ("PUT", "/api/messages/{id}"),
        ("DELETE", "/api/messages/{id}"),
        ("POST", "/api/messages/{id}/restore"),
        ("POST", "/api/messages/{id}/lease"),
        ("PUT", "/api/messages/{id}/lease"),
        ("DELETE", "/api/messages/{id}/lease"),
        ("DELETE", "/api/auth/token"),
    ],
)
def test_every_write_without_a_user_is_401_unauthenticated(anon, posted, method, path):
    headers = {"If-Match": '"1"', "Lease-Token": "t"}
    response = anon.call(method, path.format(id=posted["id"]), {"subject": "s", "body": "b"}, headers=headers)
    data = assert_error(response, 401, "unauthenticated")
    assert "Bearer" in response["WWW-Authenticate"]
    assert data["detail"]
    assert Message.objects.get().version == 1


def test_create_api_token_prints_a_working_token(alice, capsys):
    call_command("create_api_token", "alice")
    key = capsys.readouterr().out.strip()
    assert ApiClient(key).create()["author"] == "alice"


def test_create_api_token_for_an_unknown_user_fails(db):
    with pytest.raises(CommandError, match="nobody"):
        call_command("create_api_token", "nobody")


# Errors: invalid ---------------------------------------------------------------------------


def test_malformed_json_is_400_invalid(alice_api):
    assert_error(alice_api.post("/api/messages", raw='{"subject": "s", '), 400, "invalid")
    assert_error(alice_api.post("/api/messages", raw=b'{"subject": "\xff\xfe", "body": "b"}'), 400, "invalid")
    assert not Message.objects.exists()


def test_a_missing_field_is_422_invalid_naming_it(alice_api):
    data = assert_error(alice_api.post("/api/messages", {"subject": "s"}), 422, "invalid")
    assert "body" in data["fields"]


def test_a_body_that_is_not_an_object_is_422_invalid(alice_api):
    assert_error(alice_api.post("/api/messages", ["subject", "body"]), 422, "invalid")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"subject": "", "body": "b"}, "subject"),
        ({"subject": "   ", "body": "b"}, "subject"),
        ({"subject": "s", "body": ""}, "body"),
        ({"subject": "s", "body": " \n\t"}, "body"),
        ({"subject": "x" * 201, "body": "b"}, "subject"),
        ({"subject": "s", "body": "nul \x00 here"}, "body"),
        ({"subject": "s", "body": "lone \ud800 surrogate"}, "body"),
        ({"subject": 7, "body": "b"}, "subject"),
    ],
    ids=["empty-subject", "blank-subject", "empty-body", "blank-body", "long-subject", "nul", "surrogate", "number"],
)
def test_bad_subjects_and_bodies_are_422_invalid(alice_api, payload, field):
    data = assert_error(alice_api.post("/api/messages", payload), 422, "invalid")
    assert field in data["fields"]
    assert not Message.objects.exists()


def test_a_subject_of_exactly_200_characters_is_fine(alice_api):
    assert alice_api.create(subject="é" * 200)["subject"] == "é" * 200


@pytest.mark.parametrize("limit", ["0", "201", "-1", "ten"])
def test_a_limit_outside_1_to_200_is_422_invalid(anon, limit):
    data = assert_error(anon.get(f"/api/messages?limit={limit}"), 422, "invalid")
    assert "limit" in data["fields"]


# Not base64; base64 of junk; a revisions cursor ("r:5"); "m:0"; "m:-1"; too long.
@pytest.mark.parametrize("cursor", ["!!!", "bm90LWEtY3Vyc29y", "cjo1", "bTow", "bTotMQ", "x" * 41])
def test_a_malformed_cursor_is_422_invalid(anon, cursor):
    data = assert_error(anon.get(f"/api/messages?cursor={cursor}"), 422, "invalid")
    assert "cursor" in data["fields"]


# A messages cursor ("m:1") is no revisions cursor.
@pytest.mark.parametrize("cursor", ["!!!", "bTox", "cjow"])
def test_a_malformed_revisions_cursor_is_422_invalid(anon, posted, cursor):
    data = assert_error(anon.get(f"/api/messages/{posted['id']}/revisions?cursor={cursor}"), 422, "invalid")
    assert "cursor" in data["fields"]


# Errors: the other rows --------------------------------------------------------------------


def test_deleting_someone_elses_message_is_403_forbidden(bob_api, posted):
    assert_error(bob_api.delete(f"/api/messages/{posted['id']}"), 403, "forbidden")
    assert Message.objects.get().deleted_at is None


def test_editing_a_protected_message_is_403_forbidden(bob_api, moderator_api, posted):
    Message.objects.update(protected=True)
    path = f"/api/messages/{posted['id']}"
    assert_error(bob_api.put(path, {"body": "mine"}, headers={"If-Match": '"1"'}), 403, "forbidden")
    assert Message.objects.get().version == 1
    # A moderator may still edit it: protection freezes it for everyone else.
    assert moderator_api.put(path, {"body": "fixed"}, headers={"If-Match": '"1"'}).status_code == 200


def test_releasing_someone_elses_lease_without_token_is_403_forbidden(alice_api, bob_api, posted):
    alice_api.take_lease(posted["id"])
    assert_error(bob_api.delete(f"/api/messages/{posted['id']}/lease"), 403, "forbidden")
    assert EditLease.objects.count() == 1


def test_no_such_message_is_404_not_found(anon):
    assert_error(anon.get("/api/messages/999999"), 404, "not_found")


def test_no_such_revision_is_404_not_found(anon, posted):
    assert_error(anon.get(f"/api/messages/{posted['id']}/revisions/2"), 404, "not_found")


def test_a_lease_token_that_is_not_the_current_lease_is_409_lease_lost(alice_api, posted):
    alice_api.take_lease(posted["id"])
    response = alice_api.put(f"/api/messages/{posted['id']}/lease", headers={"Lease-Token": "made-up"})
    assert_error(response, 409, "lease_lost")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", ""),
        ("GET", "/body"),
        ("PUT", ""),
        ("DELETE", ""),
        ("POST", "/lease"),
        ("PUT", "/lease"),
        ("DELETE", "/lease"),
        ("GET", "/revisions"),
        ("GET", "/revisions/1"),
    ],
)
def test_every_call_on_a_deleted_message_is_410_gone(alice_api, deleted, method, path):
    headers = {"If-Match": '"1"', "Lease-Token": "whatever"}
    response = alice_api.call(method, f"/api/messages/{deleted['id']}{path}", {"body": "b"}, headers=headers)
    assert_error(response, 410, "gone")


def test_restore_is_the_one_call_a_deleted_message_answers(alice_api, deleted):
    response = alice_api.post(f"/api/messages/{deleted['id']}/restore")
    assert response.status_code == 200
    assert alice_api.get(f"/api/messages/{deleted['id']}").status_code == 200


def test_a_stale_if_match_is_412_version_conflict(alice_api, posted):
    path = f"/api/messages/{posted['id']}"
    assert alice_api.put(path, {"body": "v2"}, headers={"If-Match": '"1"'}).status_code == 200
    assert_error(alice_api.put(path, {"body": "v3"}, headers={"If-Match": '"1"'}), 412, "version_conflict")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PATCH", "/api/messages/{id}", {"GET", "HEAD", "PUT", "DELETE"}),
        ("POST", "/api/messages/{id}/body", {"GET", "HEAD"}),
        ("DELETE", "/api/messages", {"GET", "HEAD", "POST"}),
        ("GET", "/api/messages/{id}/restore", {"POST"}),
        ("GET", "/api/auth/token", {"POST", "DELETE"}),
        ("POST", "/api/openapi.json", {"GET", "HEAD"}),
    ],
)
def test_an_unknown_method_is_405_with_allow(alice_api, posted, method, path, allowed):
    response = alice_api.call(method, path.format(id=posted["id"]))
    assert_error(response, 405, "method_not_allowed")
    assert {m.strip() for m in response["Allow"].split(",")} == allowed


@pytest.mark.both_storages
def test_a_body_over_the_limit_is_413_too_large(alice_api, posted, settings):
    limit = settings.MESSAGEBOARD_MAX_BODY_BYTES
    assert_error(alice_api.post("/api/messages", {"subject": "s", "body": "é" * (limit // 2 + 1)}), 413, "too_large")
    response = alice_api.put(f"/api/messages/{posted['id']}", {"body": "x" * (limit + 1)}, headers={"If-Match": '"1"'})
    assert_error(response, 413, "too_large")
    assert alice_api.create(body="x" * limit)["size"] == limit


def test_a_request_over_the_upload_limit_is_a_json_413(alice_api, posted, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    payload = {"subject": "s", "body": "x" * 20_000}
    assert_error(alice_api.post("/api/messages", payload), 413, "too_large")
    response = alice_api.put(f"/api/messages/{posted['id']}", payload, headers={"If-Match": '"1"'})
    assert_error(response, 413, "too_large")
    assert Message.objects.count() == 1


def test_someone_elses_valid_lease_is_423_locked_with_who_and_until_when(alice_api, bob_api, posted):
    alice_api.take_lease(posted["id"])
    data = assert_error(bob_api.post(f"/api/messages/{posted['id']}/lease"), 423, "locked")
    assert data["lease"]["holder"] == "alice"
    assert data["lease"]["expires_at"]
    assert "token" not in data["lease"]


def test_put_without_if_match_is_428_precondition_required(alice_api, posted):
    response = alice_api.put(f"/api/messages/{posted['id']}", {"body": "v2"})
    assert_error(response, 428, "precondition_required")


@pytest.mark.parametrize(
    "path",
    ["/api", "/api/", "/api/nothing", "/api/messages/", "/api/messages/abc", "/api/messages/1/nothing", "/api/v2"],
)
def test_an_unknown_route_under_api_is_a_json_404(alice_api, path):
    assert_error(alice_api.get(path), 404, "not_found")
    assert_error(alice_api.post(path, {"a": 1}), 404, "not_found")


# Representations ----------------------------------------------------------------------------


@pytest.mark.both_storages
def test_a_message_has_every_field_and_its_version_as_etag(alice_api, posted):
    response = alice_api.get(f"/api/messages/{posted['id']}")
    data = response.json()
    assert set(data) == MESSAGE_KEYS
    assert response["ETag"] == '"1"'
    assert data["version"] == 1
    assert data["author"] == data["updated_by"] == "alice"
    assert data["protected"] is False
    assert data["lease"] is None
    for stamp in ("created_at", "updated_at"):
        assert timezone.datetime.fromisoformat(data[stamp]).tzinfo is not None


@pytest.mark.both_storages
def test_size_and_sha256_are_of_the_utf8_bytes(alice_api):
    body = "naïve café ☕ 🎉\n"
    data = alice_api.create(body=body)
    assert data["size"] == len(body.encode()) == 22
    assert data["sha256"] == hashlib.sha256(body.encode()).hexdigest()


def test_a_held_lease_shows_holder_and_expiry_but_never_the_token(alice_api, bob_api, posted):
    token = alice_api.take_lease(posted["id"])
    response = bob_api.get(f"/api/messages/{posted['id']}")
    assert set(response.json()["lease"]) == {"holder", "expires_at"}
    assert response.json()["lease"]["holder"] == "alice"
    assert token not in response.content.decode()
    assert token not in bob_api.get("/api/messages").content.decode()


@pytest.mark.both_storages
def test_subjects_and_bodies_are_kept_byte_for_byte(alice_api):
    subject = "  spaced\tsubject  "
    body = "  leading\r\nwindows\rold mac\nunix  \n\n\u00a0trailing \u2028 "
    data = alice_api.create(subject=subject, body=body)
    assert (data["subject"], data["body"]) == (subject, body)
    fetched = alice_api.get(f"/api/messages/{data['id']}").json()
    assert (fetched["subject"], fetched["body"]) == (subject, body)
    assert alice_api.get(f"/api/messages/{data['id']}/body").content == body.encode()
    edited = alice_api.put(f"/api/messages/{data['id']}", {"body": body + "\r\n"}, headers={"If-Match": '"1"'})
    assert edited.json()["body"] == body + "\r\n"
    assert alice_api.get(f"/api/messages/{data['id']}/revisions/2").json()["body"] == body + "\r\n"


# Endpoints ----------------------------------------------------------------------------------


def test_list_is_newest_first_without_bodies(alice_api, bob_api):
    first, second = alice_api.create(subject="one"), bob_api.create(subject="two")
    response = alice_api.get("/api/messages")
    assert response.status_code == 200
    data = response.json()
    assert [item["id"] for item in data["items"]] == [second["id"], first["id"]]
    assert set(data["items"][0]) == MESSAGE_KEYS - {"body"}
    assert data["next_cursor"] is None


def test_list_pages_through_every_message_with_an_opaque_cursor(alice_api):
    ids = [alice_api.create(subject=f"m{n}")["id"] for n in range(5)]
    seen, cursor = [], None
    for _page in range(5):
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        data = alice_api.get(f"/api/messages{query}").json()
        assert len(data["items"]) <= 2
        seen += [item["id"] for item in data["items"]]
        cursor = data["next_cursor"]
        if cursor is None:
            break
        assert not cursor.isdigit()
    assert seen == ids[::-1]


def test_list_leaves_deleted_messages_out(alice_api, deleted):
    assert alice_api.get("/api/messages").json()["items"] == []


@pytest.mark.both_storages
def test_post_answers_201_with_location_etag_1_and_the_message(alice_api):
    response = alice_api.post("/api/messages", {"subject": "Hi", "body": "There."})
    assert response.status_code == 201
    data = response.json()
    assert response["Location"] == f"/api/messages/{data['id']}"
    assert response["ETag"] == '"1"'
    assert set(data) == MESSAGE_KEYS
    assert (data["subject"], data["body"], data["version"]) == ("Hi", "There.", 1)


@pytest.mark.both_storages
def test_get_answers_200_with_etag_and_a_matching_if_none_match_304(anon, posted):
    path = f"/api/messages/{posted['id']}"
    response = anon.get(path)
    assert (response.status_code, response["ETag"]) == (200, '"1"')
    not_modified = anon.get(path, headers={"If-None-Match": '"1"'})
    assert (not_modified.status_code, not_modified["ETag"], not_modified.content) == (304, '"1"', b"")
    assert anon.get(path, headers={"If-None-Match": 'W/"1"'}).status_code == 304
    assert anon.get(path, headers={"If-None-Match": '"0", "1"'}).status_code == 304
    assert anon.get(path, headers={"If-None-Match": '"2"'}).status_code == 200


@pytest.mark.both_storages
def test_body_is_the_raw_text_as_text_plain_utf8_with_etag(anon, alice_api):
    body = "plain <b>text</b> ☕\r\n"
    created = alice_api.create(body=body)
    response = anon.get(f"/api/messages/{created['id']}/body")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["ETag"] == '"1"'
    assert response.content == body.encode()
    assert anon.get(f"/api/messages/{created['id']}/body", headers={"If-None-Match": '"1"'}).status_code == 304


@pytest.mark.both_storages
def test_put_answers_200_with_the_new_etag_and_the_message(alice_api, bob_api, posted):
    path = f"/api/messages/{posted['id']}"
    response = bob_api.put(path, {"subject": "New", "body": "Second."}, headers={"If-Match": '"1"'})
    assert response.status_code == 200
    assert response["ETag"] == '"2"'
    data = response.json()
    assert (data["version"], data["subject"], data["body"]) == (2, "New", "Second.")
    assert (data["author"], data["updated_by"]) == ("alice", "bob")


@pytest.mark.both_storages
def test_put_without_subject_keeps_it(alice_api, posted):
    path = f"/api/messages/{posted['id']}"
    data = alice_api.put(path, {"body": "Second."}, headers={"If-Match": '"1"'}).json()
    assert data["subject"] == posted["subject"]
    assert alice_api.get(f"{path}/revisions/2").json()["subject"] == posted["subject"]


@pytest.mark.both_storages
def test_delete_answers_204_and_soft_deletes(alice_api, posted):
    response = alice_api.delete(f"/api/messages/{posted['id']}")
    assert (response.status_code, response.content) == (204, b"")
    message = Message.objects.get()
    assert message.deleted_at is not None
    assert message.deleted_by.username == "alice"


def test_delete_with_a_stale_if_match_is_412(alice_api, posted):
    path = f"/api/messages/{posted['id']}"
    alice_api.put(path, {"body": "v2"}, headers={"If-Match": '"1"'})
    assert_error(alice_api.delete(path, headers={"If-Match": '"1"'}), 412, "version_conflict")
    assert alice_api.delete(path, headers={"If-Match": '"2"'}).status_code == 204


def test_delete_while_someone_else_holds_the_lease_is_423(alice_api, moderator_api, posted):
    moderator_api.take_lease(posted["id"])
    data = assert_error(alice_api.delete(f"/api/messages/{posted['id']}"), 423, "locked")
    assert data["lease"]["holder"] == "mia"
    assert Message.objects.get().deleted_at is None


def test_a_moderator_deletes_anyones_message(moderator_api, posted):
    assert moderator_api.delete(f"/api/messages/{posted['id']}").status_code == 204


@pytest.mark.both_storages
def test_restore_answers_200_with_the_message(alice_api, deleted):
    response = alice_api.post(f"/api/messages/{deleted['id']}/restore")
    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    assert set(response.json()) == MESSAGE_KEYS
    assert Message.objects.get().deleted_at is None


def test_restore_by_someone_else_is_403_and_by_a_moderator_200(bob_api, moderator_api, deleted):
    assert_error(bob_api.post(f"/api/messages/{deleted['id']}/restore"), 403, "forbidden")
    assert moderator_api.post(f"/api/messages/{deleted['id']}/restore").status_code == 200


def test_taking_a_lease_answers_201_with_token_holder_expiry_and_ttl(alice_api, posted, settings):
    response = alice_api.post(f"/api/messages/{posted['id']}/lease")
    assert response.status_code == 201
    data = response.json()
    assert set(data) == {"token", "holder", "expires_at", "ttl_seconds"}
    assert (data["holder"], data["ttl_seconds"]) == ("alice", settings.MESSAGEBOARD_LEASE_SECONDS)


def test_taking_the_lease_again_gives_a_new_token_and_the_old_one_dies(alice_api, posted):
    old = alice_api.take_lease(posted["id"])
    new = alice_api.take_lease(posted["id"])
    assert new != old
    lease = f"/api/messages/{posted['id']}/lease"
    assert_error(alice_api.put(lease, headers={"Lease-Token": old}), 409, "lease_lost")
    assert alice_api.put(lease, headers={"Lease-Token": new}).status_code == 200


def test_renewing_keeps_the_token_and_moves_expiry_later(alice_api, posted):
    token = alice_api.take_lease(posted["id"])
    EditLease.objects.update(expires_at=timezone.now() + timedelta(seconds=5))
    response = alice_api.put(f"/api/messages/{posted['id']}/lease", headers={"Lease-Token": token})
    assert response.status_code == 200
    data = response.json()
    assert data["token"] == token
    assert timezone.datetime.fromisoformat(data["expires_at"]) > timezone.now() + timedelta(seconds=60)


def test_renewing_someone_elses_or_a_dead_lease_is_409(alice_api, bob_api, posted):
    token = alice_api.take_lease(posted["id"])
    lease = f"/api/messages/{posted['id']}/lease"
    assert_error(bob_api.put(lease, headers={"Lease-Token": token}), 409, "lease_lost")
    expire_leases()
    assert_error(alice_api.put(lease, headers={"Lease-Token": token}), 409, "lease_lost")


def test_releasing_with_the_token_answers_204_and_frees_the_message(alice_api, bob_api, posted):
    token = alice_api.take_lease(posted["id"])
    response = alice_api.delete(f"/api/messages/{posted['id']}/lease", headers={"Lease-Token": token})
    assert (response.status_code, response.content) == (204, b"")
    assert bob_api.post(f"/api/messages/{posted['id']}/lease").status_code == 201


@pytest.mark.parametrize("token", ["made-up", "", "dead"])
def test_releasing_with_a_wrong_or_dead_token_is_409(alice_api, posted, token):
    live = alice_api.take_lease(posted["id"])
    if token == "dead":
        token = live
        alice_api.delete(f"/api/messages/{posted['id']}/lease", headers={"Lease-Token": live})
    response = alice_api.delete(f"/api/messages/{posted['id']}/lease", headers={"Lease-Token": token})
    assert_error(response, 409, "lease_lost")


def test_a_moderator_breaks_a_lease_without_a_token(alice_api, moderator_api, posted):
    token = alice_api.take_lease(posted["id"])
    assert moderator_api.delete(f"/api/messages/{posted['id']}/lease").status_code == 204
    assert alice_api.get(f"/api/messages/{posted['id']}").json()["lease"] is None
    headers = {"If-Match": '"1"', "Lease-Token": token}
    assert_error(alice_api.put(f"/api/messages/{posted['id']}", {"body": "late"}, headers=headers), 409, "lease_lost")


@pytest.mark.both_storages
def test_revisions_are_listed_newest_first(alice_api, bob_api, posted):
    path = f"/api/messages/{posted['id']}"
    bob_api.put(path, {"subject": "Two", "body": "v2"}, headers={"If-Match": '"1"'})
    response = alice_api.get(f"{path}/revisions")
    assert response.status_code == 200
    items = response.json()["items"]
    assert [item["version"] for item in items] == [2, 1]
    assert set(items[0]) == {"version", "author", "created_at", "size", "sha256", "subject"}
    assert [(item["author"], item["subject"]) for item in items] == [("bob", "Two"), ("alice", "Hello")]
    assert items[0]["sha256"] == hashlib.sha256(b"v2").hexdigest()


def test_revisions_page_with_a_cursor(alice_api, posted):
    path = f"/api/messages/{posted['id']}"
    for version in range(1, 4):
        alice_api.put(path, {"body": f"v{version + 1}"}, headers={"If-Match": f'"{version}"'})
    first = alice_api.get(f"{path}/revisions?limit=3").json()
    assert [item["version"] for item in first["items"]] == [4, 3, 2]
    rest = alice_api.get(f"{path}/revisions?limit=3&cursor={first['next_cursor']}").json()
    assert ([item["version"] for item in rest["items"]], rest["next_cursor"]) == ([1], None)


@pytest.mark.both_storages
def test_one_revision_comes_with_its_body(alice_api, posted):
    path = f"/api/messages/{posted['id']}"
    alice_api.put(path, {"body": "Second."}, headers={"If-Match": '"1"'})
    response = alice_api.get(f"{path}/revisions/1")
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {"version", "author", "created_at", "size", "sha256", "subject", "body"}
    assert (data["version"], data["body"]) == (1, posted["body"])


# The rules for PUT ----------------------------------------------------------------------------


def test_rule_1_no_if_match_is_428_and_changes_nothing(alice_api, posted):
    response = alice_api.put(f"/api/messages/{posted['id']}", {"body": "v2"})
    assert_error(response, 428, "precondition_required")
    assert Message.objects.get().version == 1


@pytest.mark.parametrize("if_match", ['"0"', '"2"', 'W/"1"', "*", "1", "garbage"])
def test_rule_1_an_if_match_that_is_not_the_current_version_is_412(alice_api, posted, if_match):
    response = alice_api.put(f"/api/messages/{posted['id']}", {"body": "v2"}, headers={"If-Match": if_match})
    assert_error(response, 412, "version_conflict")
    assert Message.objects.get().version == 1


def test_rule_2_without_lease_token_another_users_lease_is_423(alice_api, bob_api, posted):
    alice_api.take_lease(posted["id"])
    response = bob_api.put(f"/api/messages/{posted['id']}", {"body": "v2"}, headers={"If-Match": '"1"'})
    data = assert_error(response, 423, "locked")
    assert data["lease"]["holder"] == "alice"


def test_rule_2_without_lease_token_the_callers_own_lease_is_423_too(alice_api, posted):
    alice_api.take_lease(posted["id"])
    response = alice_api.put(f"/api/messages/{posted['id']}", {"body": "v2"}, headers={"If-Match": '"1"'})
    data = assert_error(response, 423, "locked")
    assert data["lease"]["holder"] == "alice"
    assert Message.objects.get().version == 1


@pytest.mark.parametrize("how", ["expired", "released", "broken", "taken-over", "someone-elses", "made-up"])
def test_rule_3_a_lease_token_that_is_not_the_valid_lease_is_409(alice_api, bob_api, moderator_api, posted, how):
    message_id = posted["id"]
    lease = f"/api/messages/{message_id}/lease"
    token = alice_api.take_lease(message_id)
    caller = alice_api
    if how == "expired":
        expire_leases()
    elif how == "released":
        alice_api.delete(lease, headers={"Lease-Token": token})
    elif how == "broken":
        moderator_api.delete(lease)
        bob_api.take_lease(message_id)
    elif how == "taken-over":
        alice_api.take_lease(message_id)
    elif how == "someone-elses":
        caller = bob_api
    elif how == "made-up":
        token = "0123456789abcdef0123456789abcdef"
    headers = {"If-Match": '"1"', "Lease-Token": token}
    assert_error(caller.put(f"/api/messages/{message_id}", {"body": "v2"}, headers=headers), 409, "lease_lost")
    assert Message.objects.get().version == 1


def test_rule_4_when_nobody_holds_a_lease_the_put_needs_none(bob_api, posted):
    response = bob_api.put(f"/api/messages/{posted['id']}", {"body": "v2"}, headers={"If-Match": '"1"'})
    assert response.status_code == 200
    assert response.json()["lease"] is None
    assert EditLease.objects.count() == 0


def test_rule_4_an_expired_lease_is_nobodys(alice_api, bob_api, posted):
    alice_api.take_lease(posted["id"])
    expire_leases()
    assert bob_api.put(f"/api/messages/{posted['id']}", {"body": "v2"}, headers={"If-Match": '"1"'}).status_code == 200


def test_rule_5_the_lease_stays_held_after_a_put(alice_api, bob_api, posted):
    message_id = posted["id"]
    token = alice_api.take_lease(message_id)
    path = f"/api/messages/{message_id}"
    response = alice_api.put(path, {"body": "v2"}, headers={"If-Match": '"1"', "Lease-Token": token})
    assert response.status_code == 200
    assert response.json()["lease"]["holder"] == "alice"
    assert_error(bob_api.post(f"{path}/lease"), 423, "locked")
    again = alice_api.put(path, {"body": "v3"}, headers={"If-Match": '"2"', "Lease-Token": token})
    assert again.status_code == 200
    assert alice_api.delete(f"{path}/lease", headers={"Lease-Token": token}).status_code == 204


@pytest.mark.both_storages
def test_rule_6_a_put_makes_one_version_and_one_revision(alice_api, posted, body_files):
    files_before = len(body_files())
    token = alice_api.take_lease(posted["id"])
    headers = {"If-Match": '"1"', "Lease-Token": token}
    assert alice_api.put(f"/api/messages/{posted['id']}", {"body": "v2"}, headers=headers).status_code == 200
    assert Message.objects.get().version == 2
    assert list(Revision.objects.values_list("version", flat=True).order_by("version")) == [1, 2]
    assert len(body_files()) == files_before + 1


@pytest.mark.both_storages
def test_rule_6_a_failed_put_changes_nothing(alice_api, bob_api, posted, body_files):
    files_before = body_files()
    alice_api.take_lease(posted["id"])
    path = f"/api/messages/{posted['id']}"
    failures = [
        bob_api.put(path, {"body": "v2"}, headers={"If-Match": '"1"'}),
        bob_api.put(path, {"body": "v2"}, headers={"If-Match": '"1"', "Lease-Token": "nope"}),
        bob_api.put(path, {"body": "v2"}, headers={"If-Match": '"7"'}),
        bob_api.put(path, {"body": ""}, headers={"If-Match": '"1"'}),
    ]
    assert [response.status_code for response in failures] == [423, 409, 412, 422]
    message = Message.objects.get()
    assert (message.version, Revision.objects.count()) == (1, 1)
    assert body_files() == files_before
    assert alice_api.get(f"{path}/body").content == posted["body"].encode()


# A full edit by two API users -----------------------------------------------------------------


@pytest.mark.both_storages
def test_two_users_edit_one_after_the_other_through_the_lease(alice_api, bob_api, posted):
    message_id = posted["id"]
    path, lease = f"/api/messages/{message_id}", f"/api/messages/{message_id}/lease"

    # Alice takes the lease; Bob sees who edits and cannot take it or write around it.
    grant = alice_api.post(lease).json()
    assert bob_api.get(path).json()["lease"]["holder"] == "alice"
    assert_error(bob_api.post(lease), 423, "locked")
    assert_error(bob_api.put(path, {"body": "sneaky"}, headers={"If-Match": '"1"'}), 423, "locked")

    # Heartbeat: the same token, a later expiry.
    EditLease.objects.update(expires_at=timezone.now() + timedelta(seconds=10))
    renewed = alice_api.put(lease, headers={"Lease-Token": grant["token"]}).json()
    assert renewed["token"] == grant["token"]
    assert timezone.datetime.fromisoformat(renewed["expires_at"]) > timezone.now() + timedelta(seconds=60)

    # Alice saves, reads the new ETag, and releases.
    saved = alice_api.put(path, {"body": "Alice's edit."}, headers={"If-Match": '"1"', "Lease-Token": grant["token"]})
    assert (saved.status_code, saved["ETag"]) == (200, '"2"')
    assert alice_api.delete(lease, headers={"Lease-Token": grant["token"]}).status_code == 204

    # Bob takes it now, saves on top of version 2, and releases.
    bob_token = bob_api.take_lease(message_id)
    assert_error(
        bob_api.put(path, {"body": "stale"}, headers={"If-Match": '"1"', "Lease-Token": bob_token}),
        412,
        "version_conflict",
    )
    saved = bob_api.put(path, {"body": "Bob's edit."}, headers={"If-Match": saved["ETag"], "Lease-Token": bob_token})
    assert (saved.status_code, saved["ETag"]) == (200, '"3"')
    assert bob_api.delete(lease, headers={"Lease-Token": bob_token}).status_code == 204

    history = alice_api.get(f"{path}/revisions").json()["items"]
    assert [(item["version"], item["author"]) for item in history] == [(3, "bob"), (2, "alice"), (1, "alice")]
    assert alice_api.get(f"{path}/body").content == b"Bob's edit."
    assert alice_api.get(path).json()["lease"] is None


# Documentation ----------------------------------------------------------------------------------


def test_openapi_document_describes_every_call(anon):
    response = anon.get("/api/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths) == {
        "/api/auth/token",
        "/api/messages",
        "/api/messages/{message_id}",
        "/api/messages/{message_id}/body",
        "/api/messages/{message_id}/restore",
        "/api/messages/{message_id}/lease",
        "/api/messages/{message_id}/revisions",
        "/api/messages/{message_id}/revisions/{version}",
        # Moderation and history (issue 7).
        "/api/messages/{message_id}/protect",
        "/api/messages/{message_id}/unprotect",
        "/api/messages/{message_id}/lease/events",
        "/api/messages/{message_id}/revisions/{version}/revert",
        # Accounts and tokens (issue 11).
        "/api/auth/tokens",
        "/api/auth/tokens/{token_id}",
        # Drafts and merges (issue 13).
        "/api/messages/{message_id}/draft",
        "/api/messages/{message_id}/merge",
        "/api/boards",
        "/api/boards/{slug}/messages",
        "/api/messages/{message_id}/editors",
        # Search (issue 16).
        "/api/search",
    }
    assert set(paths["/api/messages/{message_id}/lease"]) == {"post", "put", "delete"}
    assert set(paths["/api/messages/{message_id}/draft"]) == {"get", "put", "delete"}


def test_docs_page_loads_only_local_assets(anon):
    response = anon.get("/api/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    assert "https://" not in html and "http://" not in html
    for asset in ("swagger-ui-bundle.js", "swagger-ui-init.js", "swagger-ui.css"):
        assert anon.get(f"/static/ninja/{asset}").status_code == 200
