"""Drafts, merges and take-overs against a hostile member: rate limits, permission, escaping, nothing stored early.

Every way the drafts feature writes is counted against a per-user rate (``draft_user``,
``merge_user``); a refused request writes no file; a member cannot take a lease over; a draft's
text is escaped wherever the editor shows it.
"""

import pytest
from django.test import Client

from messages_app import bodies, drafts, editing, services
from messages_app.models import Draft, EditLease
from tests.support.api import api_for, assert_error

pytestmark = pytest.mark.django_db


def draft_files() -> set[str]:
    return {listed.key for listed in bodies.draft_listing()}


def test_draft_writes_through_the_api_are_limited_per_user_and_a_refused_one_writes_no_file(
    rate_limits, alice, bob, make_message
):
    rate_limits.MESSAGEBOARD_RATE_DRAFTS = "2/minute"
    message = make_message()
    alice_api = api_for(alice)
    path = f"/api/messages/{message.pk}/draft"
    for seq in (1, 2):
        assert alice_api.put(path, {"body": f"Draft {seq}", "base_version": 1, "seq": seq}).status_code == 200
    files = draft_files()
    refused = alice_api.put(path, {"body": "Draft 3", "base_version": 1, "seq": 3})
    assert_error(refused, 429, "rate_limited")
    assert int(refused["Retry-After"]) > 0
    assert draft_files() == files
    assert Draft.objects.get(user=alice).seq == 2
    # Discarding writes too: it is counted against the same rate.
    assert_error(alice_api.delete(path), 429, "rate_limited")
    assert Draft.objects.get(user=alice).consumed_at is None
    # Another member has a count of their own.
    assert api_for(bob).put(path, {"body": "Bob's", "base_version": 1, "seq": 1}).status_code == 200


def test_the_pages_draft_writes_are_limited_and_the_heartbeat_keeps_its_lease_when_refused(
    rate_limits, alice, alice_client, make_message
):
    rate_limits.MESSAGEBOARD_RATE_DRAFTS = "1/minute"
    message = make_message()
    draft = {"subject": "S", "body": "Typed.", "base_version": "1"}
    assert alice_client.post(f"/messages/{message.pk}/draft/", {**draft, "draft_seq": "1"}).status_code == 204
    files = draft_files()
    refused = alice_client.post(f"/messages/{message.pk}/draft/", {**draft, "draft_seq": "2"})
    assert refused.status_code == 429
    assert draft_files() == files
    # The heartbeat renews the lease whatever becomes of the text it carries.
    token = editing.message_lease_acquire(message_id=message.pk, user=alice).token
    beat = alice_client.post(f"/messages/{message.pk}/lease/renew/", {"lease_token": token, **draft, "draft_seq": "3"})
    assert beat.status_code == 200
    assert 'data-lease-state="holding"' in beat.content.decode()
    assert Draft.objects.get(user=alice).seq == 1
    assert alice_client.post(f"/messages/{message.pk}/draft/discard/").status_code == 429


def test_merges_through_the_api_are_limited_per_user(rate_limits, alice, make_message):
    rate_limits.MESSAGEBOARD_RATE_MERGES = "2/minute"
    message = make_message()
    alice_api = api_for(alice)
    path = f"/api/messages/{message.pk}/merge"
    for _ in range(2):
        assert alice_api.post(path, {"base_version": 1, "body": "Mine."}).status_code == 200
    refused = alice_api.post(path, {"base_version": 1, "body": "Mine."})
    assert_error(refused, 429, "rate_limited")
    assert int(refused["Retry-After"]) > 0


def test_a_member_cannot_take_a_lease_over(alice, bob_client, make_message):
    message = make_message()
    grant = editing.message_lease_acquire(message_id=message.pk, user=alice)
    response = bob_client.post(f"/messages/{message.pk}/edit/", {"intent": "take-over"})
    assert response.status_code == 403
    lease = EditLease.objects.get(message=message)
    assert (lease.holder, lease.token) == (alice, grant.token)
    # Nor is the button offered to a member kept waiting.
    waiting = bob_client.get(f"/messages/{message.pk}/edit/").content.decode()
    assert "alice</strong> is editing" in waiting
    assert "Take over editing" not in waiting


def test_a_take_over_of_a_missing_message_is_404_and_of_a_deleted_one_410(mod_client, alice, make_message):
    assert mod_client.post("/messages/999999/edit/", {"intent": "take-over"}).status_code == 404
    message = make_message(author=alice)
    services.message_delete(message_id=message.pk, user=alice)
    assert mod_client.post(f"/messages/{message.pk}/edit/", {"intent": "take-over"}).status_code == 410


def test_a_drafts_markup_is_shown_as_text_in_the_offer_never_run(alice, make_message):
    message = make_message()
    hostile = '</textarea><script>alert(1)</script><img src=x onerror="alert(2)">'
    drafts.draft_put(message_id=message.pk, user=alice, subject=hostile[:200], body=hostile, base_version=1, seq=1)
    client = Client()
    client.force_login(alice)
    page = client.get(f"/messages/{message.pk}/edit/").content.decode()
    assert 'id="draft-offer"' in page
    assert "<script>alert(1)" not in page
    assert "<img src=x" not in page
    assert "&lt;/textarea&gt;&lt;script&gt;" in page


def test_someone_elses_draft_is_never_shown_or_readable(alice, bob, bob_client, make_message):
    message = make_message()
    secret = "Alice's secret plan."
    drafts.draft_put(message_id=message.pk, user=alice, subject=None, body=secret, base_version=1, seq=1)
    page = bob_client.get(f"/messages/{message.pk}/edit/").content.decode()
    assert "Alice's secret plan" not in page and "Alice&#x27;s secret plan" not in page
    assert_error(api_for(bob).get(f"/api/messages/{message.pk}/draft"), 404, "not_found")
