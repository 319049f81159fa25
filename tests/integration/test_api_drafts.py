"""The drafts and merge calls of the JSON API (docs/API.md): GET/PUT/DELETE …/draft and POST …/merge.

Statuses, error codes and the order of checks (401, then 404/410, then 403, then 422), a draft
kept without any lease and while someone else holds it, and a merge that saves nothing.
"""

import pytest

from messages_app import bodies, services
from messages_app.drafts import SEQ_MAX
from messages_app.models import Draft, EditLease, Message, Revision
from tests.support.api import ApiClient, api_for, assert_error, expire_leases

pytestmark = [pytest.mark.django_db, pytest.mark.both_storages]

MISSING_ID = 999_999
DRAFT_KEYS = {"subject", "body", "base_version", "seq", "updated_at"}
PARAGRAPH = "The board meets on Friday at noon. Minutes go out the next day. Anyone may add an item."


def draft_path(message_id: int) -> str:
    return f"/api/messages/{message_id}/draft"


def merge_path(message_id: int) -> str:
    return f"/api/messages/{message_id}/merge"


def draft_files() -> set[str]:
    return {listed.key for listed in bodies.draft_listing()}


def put_draft(api: ApiClient, message_id: int, *, seq: int, body: str = "My draft.", base_version: int = 1, **more):
    return api.put(draft_path(message_id), {"body": body, "base_version": base_version, "seq": seq, **more})


def save(api: ApiClient, message_id: int, version: int, body: str, **headers):
    response = api.put(f"/api/messages/{message_id}", {"body": body}, headers={"If-Match": f'"{version}"', **headers})
    assert response.status_code == 200, response.content
    return response.json()


def assert_out_of_sequence(response, stored_seq: int) -> None:
    assert response.status_code == 409, response.content
    data = response.json()
    assert data["error"] == "draft_out_of_sequence"
    assert isinstance(data["detail"], str) and data["detail"]
    assert data["seq"] == stored_seq
    assert set(data) == {"error", "detail", "seq"}


@pytest.fixture
def moderator_api(mia) -> ApiClient:
    return api_for(mia)


@pytest.fixture
def posted(alice_api) -> dict:
    return alice_api.create(subject="Meeting", body=PARAGRAPH)


@pytest.fixture
def protected(posted, mia) -> dict:
    services.message_protect(message_id=posted["id"], user=mia)
    return posted


@pytest.fixture
def deleted(alice_api, posted) -> dict:
    assert alice_api.delete(f"/api/messages/{posted['id']}").status_code == 204
    return posted


# GET …/draft


def test_get_returns_the_callers_draft_with_exactly_the_documented_keys(alice_api, posted):
    assert put_draft(alice_api, posted["id"], seq=3, body="typed text").status_code == 200
    response = alice_api.get(draft_path(posted["id"]))
    assert response.status_code == 200
    data = response.json()
    assert set(data) == DRAFT_KEYS
    assert (data["subject"], data["body"], data["base_version"], data["seq"]) == ("Meeting", "typed text", 1, 3)
    assert data["updated_at"]


def test_get_without_a_draft_is_404_not_found(alice_api, posted):
    assert_error(alice_api.get(draft_path(posted["id"])), 404, "not_found")


def test_nobody_else_reads_a_draft_not_even_a_moderator(alice_api, bob_api, moderator_api, posted):
    put_draft(alice_api, posted["id"], seq=1, body="alice's secret text")
    for other in (bob_api, moderator_api):
        response = other.get(draft_path(posted["id"]))
        assert_error(response, 404, "not_found")
        assert b"secret" not in response.content


def test_get_of_a_missing_message_is_404_and_of_a_deleted_one_410(alice_api, deleted):
    assert_error(alice_api.get(draft_path(MISSING_ID)), 404, "not_found")
    assert_error(alice_api.get(draft_path(deleted["id"])), 410, "gone")


def test_a_member_still_reads_and_discards_a_draft_kept_before_the_message_was_protected(alice_api, posted, mia):
    put_draft(alice_api, posted["id"], seq=1, body="written before protection")
    services.message_protect(message_id=posted["id"], user=mia)
    assert alice_api.get(draft_path(posted["id"])).json()["body"] == "written before protection"
    assert alice_api.delete(draft_path(posted["id"])).status_code == 204
    assert draft_files() == set()


# PUT …/draft


def test_put_keeps_the_text_without_any_lease_and_answers_the_draft(alice_api, posted, body_storage):
    assert not EditLease.objects.exists()
    response = put_draft(alice_api, posted["id"], seq=1, body="no lease needed")
    assert response.status_code == 200
    data = response.json()
    assert set(data) == DRAFT_KEYS
    assert (data["body"], data["seq"], data["base_version"]) == ("no lease needed", 1, 1)
    key = Draft.objects.get().body_key
    assert draft_files() == {key}
    assert body_storage.read(key) == b"no lease needed"
    assert not EditLease.objects.exists()


def test_put_keeps_the_text_while_someone_else_holds_the_lease(alice_api, bob_api, posted):
    bob_api.take_lease(posted["id"])
    response = put_draft(alice_api, posted["id"], seq=1, body="typed while bob edits")
    assert response.status_code == 200
    assert EditLease.objects.get().holder.username == "bob"
    assert alice_api.get(draft_path(posted["id"])).json()["body"] == "typed while bob edits"


def test_put_keeps_the_text_after_the_callers_own_lease_expired(alice_api, bob_api, posted):
    alice_api.take_lease(posted["id"])
    expire_leases()
    bob_api.take_lease(posted["id"])
    assert put_draft(alice_api, posted["id"], seq=1, body="after losing the lease").status_code == 200


def test_put_with_a_subject_keeps_it_and_without_one_keeps_the_drafts(alice_api, posted):
    assert put_draft(alice_api, posted["id"], seq=1).json()["subject"] == "Meeting"
    assert put_draft(alice_api, posted["id"], seq=2, subject="Meeting moved").json()["subject"] == "Meeting moved"
    assert put_draft(alice_api, posted["id"], seq=3).json()["subject"] == "Meeting moved"


def test_a_higher_seq_replaces_the_text_and_its_file(alice_api, posted):
    put_draft(alice_api, posted["id"], seq=1, body="first")
    first_key = Draft.objects.get().body_key
    assert put_draft(alice_api, posted["id"], seq=2, body="second").json()["body"] == "second"
    assert draft_files() == {Draft.objects.get().body_key} != {first_key}


@pytest.mark.parametrize("late_seq", [7, 6], ids=["equal", "lower"])
def test_an_equal_or_lower_seq_is_409_draft_out_of_sequence_naming_the_stored_seq(alice_api, posted, late_seq):
    put_draft(alice_api, posted["id"], seq=7, body="newest")
    files = draft_files()
    assert_out_of_sequence(put_draft(alice_api, posted["id"], seq=late_seq, body="late"), 7)
    assert alice_api.get(draft_path(posted["id"])).json()["body"] == "newest"
    assert draft_files() == files


def test_the_largest_seq_is_accepted_and_returned_exactly(alice_api, posted):
    response = put_draft(alice_api, posted["id"], seq=SEQ_MAX)
    assert response.status_code == 200
    assert response.json()["seq"] == SEQ_MAX
    assert alice_api.get(draft_path(posted["id"])).json()["seq"] == SEQ_MAX


def test_a_user_over_the_cap_is_429_too_many_drafts_and_nothing_is_written(alice_api, alice, settings, make_message):
    settings.MESSAGEBOARD_MAX_DRAFTS_PER_USER = 2
    first, second, third = (make_message(author=alice) for _ in range(3))
    assert put_draft(alice_api, first.pk, seq=1).status_code == 200
    assert put_draft(alice_api, second.pk, seq=1).status_code == 200
    files = draft_files()
    assert_error(put_draft(alice_api, third.pk, seq=1), 429, "too_many_drafts")
    assert draft_files() == files
    assert not Draft.objects.filter(message=third).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"body": "x", "base_version": 1, "seq": 0}, "seq", id="seq-0"),
        pytest.param({"body": "x", "base_version": 1, "seq": -5}, "seq", id="seq-negative"),
        pytest.param({"body": "x", "base_version": 1, "seq": SEQ_MAX + 1}, "seq", id="seq-2-to-the-63"),
        pytest.param({"body": "x", "base_version": 1, "seq": "soon"}, "seq", id="seq-not-a-number"),
        pytest.param({"body": "x", "base_version": 1}, "seq", id="seq-missing"),
        pytest.param({"body": "x", "base_version": 0, "seq": 1}, "base_version", id="base-0"),
        pytest.param({"body": "x", "base_version": 2, "seq": 1}, "base_version", id="base-above-current"),
        pytest.param({"body": "x", "seq": 1}, "base_version", id="base-missing"),
        pytest.param({"body": "", "base_version": 1, "seq": 1}, "body", id="body-empty"),
        pytest.param({"body": "  \n ", "base_version": 1, "seq": 1}, "body", id="body-blank"),
        pytest.param({"body": "a\x00b", "base_version": 1, "seq": 1}, "body", id="body-nul"),
        pytest.param({"base_version": 1, "seq": 1}, "body", id="body-missing"),
        pytest.param({"subject": "", "body": "x", "base_version": 1, "seq": 1}, "subject", id="subject-empty"),
        pytest.param({"subject": "s" * 201, "body": "x", "base_version": 1, "seq": 1}, "subject", id="subject-201"),
    ],
)
def test_bad_input_is_422_invalid_naming_the_field_and_keeps_nothing(alice_api, posted, body, field):
    response = alice_api.put(draft_path(posted["id"]), body)
    data = assert_error(response, 422, "invalid")
    assert field in data["fields"], data
    assert not Draft.objects.exists()
    assert draft_files() == set()


def test_a_body_over_the_limit_is_413_too_large(alice_api, posted, settings):
    settings.MESSAGEBOARD_MAX_BODY_BYTES = 100
    assert_error(put_draft(alice_api, posted["id"], seq=1, body="b" * 101), 413, "too_large")
    assert draft_files() == set()
    assert put_draft(alice_api, posted["id"], seq=1, body="b" * 100).status_code == 200


def test_a_member_may_not_put_a_draft_of_a_protected_message_and_a_moderator_may(alice_api, moderator_api, protected):
    assert_error(put_draft(alice_api, protected["id"], seq=1), 403, "forbidden")
    assert put_draft(moderator_api, protected["id"], seq=1, body="moderator's").json()["body"] == "moderator's"
    assert set(Draft.objects.values_list("user__username", flat=True)) == {"mia"}


def test_put_of_a_missing_message_is_404_and_of_a_deleted_one_410(alice_api, deleted):
    assert_error(put_draft(alice_api, MISSING_ID, seq=1), 404, "not_found")
    assert_error(put_draft(alice_api, deleted["id"], seq=1), 410, "gone")
    assert draft_files() == set()


# DELETE …/draft, and the end of a draft


def test_delete_discards_the_draft_and_its_file_and_get_is_then_404(alice_api, posted):
    put_draft(alice_api, posted["id"], seq=4)
    response = alice_api.delete(draft_path(posted["id"]))
    assert response.status_code == 204
    assert response.content == b""
    assert_error(alice_api.get(draft_path(posted["id"])), 404, "not_found")
    assert draft_files() == set()
    # The row stays as a tombstone with its number: a late write is still out of sequence.
    assert_out_of_sequence(put_draft(alice_api, posted["id"], seq=4), 4)


def test_delete_without_a_draft_is_also_204(alice_api, posted):
    assert alice_api.delete(draft_path(posted["id"])).status_code == 204


def test_delete_leaves_other_users_drafts_alone(alice_api, bob_api, posted):
    put_draft(bob_api, posted["id"], seq=1, body="bob's")
    assert alice_api.delete(draft_path(posted["id"])).status_code == 204
    assert bob_api.get(draft_path(posted["id"])).json()["body"] == "bob's"


def test_delete_of_a_missing_message_is_404_and_of_a_deleted_one_410(alice_api, deleted):
    assert_error(alice_api.delete(draft_path(MISSING_ID)), 404, "not_found")
    assert_error(alice_api.delete(draft_path(deleted["id"])), 410, "gone")


def test_a_save_by_the_drafts_writer_ends_it_and_someone_elses_does_not(alice_api, bob_api, posted):
    put_draft(alice_api, posted["id"], seq=5, body="alice typing")
    put_draft(bob_api, posted["id"], seq=5, body="bob typing")
    save(alice_api, posted["id"], 1, "alice's version two")
    assert_error(alice_api.get(draft_path(posted["id"])), 404, "not_found")
    assert bob_api.get(draft_path(posted["id"])).json()["body"] == "bob typing"
    assert draft_files() == {Draft.objects.get(user__username="bob").body_key}
    assert_out_of_sequence(put_draft(alice_api, posted["id"], seq=5, base_version=2), 5)
    assert put_draft(alice_api, posted["id"], seq=6, base_version=2).status_code == 200


def test_a_save_under_the_lease_ends_the_draft_too(alice_api, posted):
    token = alice_api.take_lease(posted["id"])
    put_draft(alice_api, posted["id"], seq=1)
    save(alice_api, posted["id"], 1, "saved under the lease", **{"Lease-Token": token})
    assert_error(alice_api.get(draft_path(posted["id"])), 404, "not_found")


def test_a_revert_does_not_end_the_draft(alice_api, posted):
    save(alice_api, posted["id"], 1, "version two")
    put_draft(alice_api, posted["id"], seq=1, body="my own text", base_version=2)
    response = alice_api.post(f"/api/messages/{posted['id']}/revisions/1/revert", headers={"If-Match": '"2"'})
    assert response.status_code == 200, response.content
    assert Message.objects.get().version == 3
    assert alice_api.get(draft_path(posted["id"])).json()["body"] == "my own text"


# The order of checks


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "draft", None),
        ("PUT", "draft", {"body": "", "base_version": 0, "seq": 0}),
        ("PUT", "draft", {"body": "x", "base_version": 1, "seq": 1}),
        ("DELETE", "draft", None),
        ("POST", "merge", {"body": "", "base_version": 0}),
        ("POST", "merge", {"body": "x", "base_version": 1}),
    ],
)
def test_without_a_user_every_draft_and_merge_call_is_401_first(anon, alice_api, deleted, method, path, body):
    for message_id in (MISSING_ID, deleted["id"]):
        response = anon.call(method, f"/api/messages/{message_id}/{path}", body)
        assert_error(response, 401, "unauthenticated")
        assert "Bearer" in response["WWW-Authenticate"]
    assert not Draft.objects.exists()


@pytest.mark.parametrize("path", ["draft", "merge"])
@pytest.mark.parametrize(
    "body",
    [{"body": "", "base_version": 0, "seq": 0}, {"body": "x", "base_version": 99, "seq": 1}],
    ids=["schema", "domain"],
)
def test_a_missing_message_is_404_before_permission_and_input(alice_api, path, body):
    method = "PUT" if path == "draft" else "POST"
    assert_error(alice_api.call(method, f"/api/messages/{MISSING_ID}/{path}", body), 404, "not_found")


@pytest.mark.parametrize("path", ["draft", "merge"])
@pytest.mark.parametrize(
    "body",
    [{"body": "", "base_version": 0, "seq": 0}, {"body": "x", "base_version": 99, "seq": 1}],
    ids=["schema", "domain"],
)
def test_a_deleted_protected_message_is_410_before_403_and_422(alice_api, protected, mia, path, body):
    services.message_delete(message_id=protected["id"], user=mia)
    method = "PUT" if path == "draft" else "POST"
    assert_error(alice_api.call(method, f"/api/messages/{protected['id']}/{path}", body), 410, "gone")


@pytest.mark.parametrize("path", ["draft", "merge"])
@pytest.mark.parametrize(
    "body",
    [{"body": "", "base_version": 0, "seq": 0}, {"body": "x", "base_version": 99, "seq": 1}],
    ids=["schema", "domain"],
)
def test_a_protected_message_is_403_for_a_member_before_422(alice_api, protected, path, body):
    method = "PUT" if path == "draft" else "POST"
    assert_error(alice_api.call(method, f"/api/messages/{protected['id']}/{path}", body), 403, "forbidden")
    assert not Draft.objects.exists()


def test_bad_input_is_checked_before_the_sequence(alice_api, posted):
    put_draft(alice_api, posted["id"], seq=9)
    assert_error(put_draft(alice_api, posted["id"], seq=1, body=" "), 422, "invalid")


def test_the_sequence_is_checked_before_the_cap(alice_api, posted, alice, settings, make_message):
    settings.MESSAGEBOARD_MAX_DRAFTS_PER_USER = 1
    put_draft(alice_api, posted["id"], seq=3)
    alice_api.delete(draft_path(posted["id"]))
    other = make_message(author=alice)
    put_draft(alice_api, other.pk, seq=1)
    assert_out_of_sequence(put_draft(alice_api, posted["id"], seq=3), 3)
    assert_error(put_draft(alice_api, posted["id"], seq=4), 429, "too_many_drafts")


# POST …/merge


def snapshot(message_id: int) -> tuple:
    message = Message.objects.values("version", "subject", "body_key", "updated_at").get(pk=message_id)
    revisions = list(Revision.objects.filter(message_id=message_id).values_list("version", "body_key"))
    return message, revisions, Draft.objects.count()


def test_merge_of_edits_to_different_sentences_of_one_paragraph_is_clean_and_saves_nothing(
    alice_api, bob_api, posted, body_files
):
    save(bob_api, posted["id"], 1, PARAGRAPH.replace("Anyone", "Every member"))
    before, files = snapshot(posted["id"]), body_files()
    response = alice_api.post(
        merge_path(posted["id"]), {"base_version": 1, "body": PARAGRAPH.replace("Friday", "Monday")}
    )
    assert response.status_code == 200, response.content
    data = response.json()
    assert set(data) == {"version", "merged", "conflicts"}
    assert data["version"] == 2
    assert data["merged"] == {
        "subject": "Meeting",
        "body": "The board meets on Monday at noon. Minutes go out the next day. Every member may add an item.",
    }
    assert data["conflicts"] == []
    assert snapshot(posted["id"]) == before
    assert body_files() == files
    assert draft_files() == set()


def test_merge_of_the_same_sentence_changed_both_ways_lists_the_conflict_and_keeps_mine(
    alice_api, bob_api, posted, body_files
):
    save(bob_api, posted["id"], 1, PARAGRAPH.replace("Friday", "Tuesday"))
    before, files = snapshot(posted["id"]), body_files()
    mine = PARAGRAPH.replace("Friday", "Monday")
    response = alice_api.post(merge_path(posted["id"]), {"base_version": 1, "body": mine})
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["version"] == 2
    assert data["merged"]["body"] == mine
    assert data["conflicts"] == [
        {
            "field": "body",
            "base": "The board meets on Friday at noon.",
            "mine": "The board meets on Monday at noon.",
            "theirs": "The board meets on Tuesday at noon.",
        }
    ]
    assert snapshot(posted["id"]) == before
    assert body_files() == files


def test_merge_reports_a_subject_changed_both_ways_as_a_subject_conflict(alice_api, bob_api, posted):
    response = bob_api.put(
        f"/api/messages/{posted['id']}",
        {"subject": "Meeting cancelled", "body": PARAGRAPH},
        headers={"If-Match": '"1"'},
    )
    assert response.status_code == 200
    data = alice_api.post(
        merge_path(posted["id"]), {"base_version": 1, "subject": "Meeting moved", "body": PARAGRAPH}
    ).json()
    assert data["merged"]["subject"] == "Meeting moved"
    assert [conflict["field"] for conflict in data["conflicts"]] == ["subject"]
    assert data["conflicts"][0]["theirs"] == "Meeting cancelled"


def test_merge_from_the_current_version_gives_back_the_callers_text(alice_api, posted):
    data = alice_api.post(merge_path(posted["id"]), {"base_version": 1, "body": "All rewritten."}).json()
    assert data == {"version": 1, "merged": {"subject": "Meeting", "body": "All rewritten."}, "conflicts": []}


def test_merge_with_a_base_version_above_the_current_one_is_422(alice_api, posted):
    data = assert_error(alice_api.post(merge_path(posted["id"]), {"base_version": 2, "body": "x"}), 422, "invalid")
    assert "base_version" in data["fields"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"base_version": 0, "body": "x"}, "base_version", id="base-0"),
        pytest.param({"body": "x"}, "base_version", id="base-missing"),
        pytest.param({"base_version": 1, "body": ""}, "body", id="body-empty"),
        pytest.param({"base_version": 1, "body": "a\x00b"}, "body", id="body-nul"),
        pytest.param({"base_version": 1, "subject": "", "body": "x"}, "subject", id="subject-empty"),
    ],
)
def test_merge_refuses_bad_input_with_422_naming_the_field(alice_api, posted, body, field):
    data = assert_error(alice_api.post(merge_path(posted["id"]), body), 422, "invalid")
    assert field in data["fields"]


def test_merge_of_a_body_over_the_limit_is_413(alice_api, posted, settings):
    settings.MESSAGEBOARD_MAX_BODY_BYTES = 100
    assert_error(alice_api.post(merge_path(posted["id"]), {"base_version": 1, "body": "b" * 101}), 413, "too_large")


def test_merge_on_a_protected_message_is_403_for_a_member_and_allowed_for_a_moderator(
    alice_api, moderator_api, protected
):
    body = {"base_version": 1, "body": "x"}
    assert_error(alice_api.post(merge_path(protected["id"]), body), 403, "forbidden")
    assert moderator_api.post(merge_path(protected["id"]), body).status_code == 200


def test_merge_of_a_missing_message_is_404_and_of_a_deleted_one_410(alice_api, deleted):
    body = {"base_version": 1, "body": "x"}
    assert_error(alice_api.post(merge_path(MISSING_ID), body), 404, "not_found")
    assert_error(alice_api.post(merge_path(deleted["id"]), body), 410, "gone")


def test_merge_needs_no_lease_and_works_while_someone_else_holds_it(alice_api, bob_api, posted):
    bob_api.take_lease(posted["id"])
    assert alice_api.post(merge_path(posted["id"]), {"base_version": 1, "body": "x"}).status_code == 200
    assert EditLease.objects.get().holder.username == "bob"
