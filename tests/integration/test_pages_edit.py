"""Editing through the pages: the lease, its heartbeat and release, saving and refused saves."""

import re
from datetime import timedelta
from html import unescape as html_unescape

import pytest
from django.test import Client
from django.utils import timezone

from messages_app import history_selectors, leases, selectors, services
from messages_app.edit_views import STALE_EDIT_FORM
from messages_app.models import EditLease, Message, Revision

pytestmark = [pytest.mark.django_db, pytest.mark.both_storages]


def html(response) -> str:
    return response.content.decode()


def hidden(page: str, name: str) -> str:
    match = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', page)
    assert match, f"no hidden {name} field"
    return match.group(1)


def textarea(page: str, name: str = "body") -> str:
    match = re.search(rf'<textarea [^>]*name="{name}"[^>]*>\n?(.*?)</textarea>', page, re.S)
    assert match, f"no {name} textarea"
    return match.group(1)


def open_editor(client, message) -> tuple[str, str]:
    """GET the edit page; return the lease token and base version it hands out."""
    response = client.get(f"/messages/{message.pk}/edit/")
    assert response.status_code == 200
    page = html(response)
    return hidden(page, "lease_token"), hidden(page, "base_version")


def post_save(client, message, token, base_version, *, subject="Edited", body="Edited body", extra=None):
    return client.post(
        f"/messages/{message.pk}/edit/",
        {"subject": subject, "body": body, "base_version": base_version, "lease_token": token, **(extra or {})},
    )


def test_edit_page_takes_the_lease_and_puts_token_and_version_in_the_form(alice_client, make_message, alice):
    message = make_message(subject="Topic", body="Current <text>")
    response = alice_client.get(f"/messages/{message.pk}/edit/")
    assert response.status_code == 200
    page = html(response)
    lease = EditLease.objects.get(message=message)
    assert lease.holder == alice
    assert hidden(page, "lease_token") == lease.token
    assert hidden(page, "base_version") == "1"
    assert textarea(page) == "Current &lt;text&gt;"
    assert 'value="Topic"' in page
    assert 'data-lease-state="holding"' in page
    assert f"{lease.expires_at:%H:%M:%S} UTC" in page


def test_edit_page_tells_the_heartbeat_interval_from_the_lease_ttl(alice_client, make_message, settings):
    message = make_message()
    assert 'data-renew-seconds="30"' in html(alice_client.get(f"/messages/{message.pk}/edit/"))
    settings.MESSAGEBOARD_LEASE_SECONDS = 8
    assert 'data-renew-seconds="2"' in html(alice_client.get(f"/messages/{message.pk}/edit/"))
    page = html(alice_client.get(f"/messages/{message.pk}/edit/"))
    assert f'data-renew-url="/messages/{message.pk}/lease/renew/"' in page
    assert f'data-release-url="/messages/{message.pk}/lease/release/"' in page


def test_second_user_is_told_who_edits_until_when_and_gets_a_poll_instead_of_the_form(
    alice_client, bob_client, make_message
):
    message = make_message()
    open_editor(alice_client, message)
    lease = EditLease.objects.get()
    response = bob_client.get(f"/messages/{message.pk}/edit/")
    assert response.status_code == 200
    page = html(response)
    assert "<strong>alice</strong> is editing this message until" in page
    assert f"{lease.expires_at:%H:%M:%S} UTC" in page
    assert f'hx-get="/messages/{message.pk}/lease/"' in page
    assert 'hx-trigger="every 5s"' in page
    assert 'name="lease_token"' not in page
    assert "<textarea" not in page
    assert EditLease.objects.get().token == lease.token


def test_lease_status_poll_says_waiting_then_free_once_released(alice_client, bob_client, make_message):
    message = make_message()
    token, _version = open_editor(alice_client, message)
    waiting = bob_client.get(f"/messages/{message.pk}/lease/", headers={"HX-Request": "true"})
    assert 'data-lease-state="waiting"' in html(waiting)
    assert "<html" not in html(waiting)
    alice_client.post(f"/messages/{message.pk}/lease/release/", {"lease_token": token})
    free = bob_client.get(f"/messages/{message.pk}/lease/", headers={"HX-Request": "true"})
    assert free.status_code == 200
    page = html(free)
    assert page.strip().startswith('<p id="lease-status"')
    assert 'data-lease-state="free"' in page
    assert f'href="/messages/{message.pk}/edit/"' in page
    assert "hx-get" not in page  # the poll stops


def test_lease_status_poll_says_free_once_the_lease_expired(alice_client, bob_client, make_message):
    message = make_message()
    open_editor(alice_client, message)
    EditLease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert 'data-lease-state="free"' in html(bob_client.get(f"/messages/{message.pk}/lease/"))


def test_renew_endpoint_extends_the_lease_and_keeps_the_token(alice_client, make_message):
    message = make_message()
    token, _version = open_editor(alice_client, message)
    soon = timezone.now() + timedelta(seconds=3)
    EditLease.objects.update(expires_at=soon)
    response = alice_client.post(
        f"/messages/{message.pk}/lease/renew/", {"lease_token": token}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    lease = EditLease.objects.get()
    assert lease.token == token
    assert lease.expires_at > soon + timedelta(seconds=60)
    page = html(response)
    assert 'data-lease-state="holding"' in page
    assert f"{lease.expires_at:%H:%M:%S} UTC" in page


def test_renew_with_a_dead_token_reports_the_lease_lost(alice_client, make_message):
    message = make_message()
    old_token, _version = open_editor(alice_client, message)
    open_editor(alice_client, message)  # another tab
    response = alice_client.post(f"/messages/{message.pk}/lease/renew/", {"lease_token": old_token})
    assert response.status_code == 200
    assert 'data-lease-state="lost"' in html(response)


def test_renew_is_post_only(alice_client, make_message):
    message = make_message()
    assert alice_client.get(f"/messages/{message.pk}/lease/renew/").status_code == 405


def test_release_beacon_answers_204_and_frees_the_lease(alice_client, make_message):
    message = make_message()
    token, _version = open_editor(alice_client, message)
    response = alice_client.post(f"/messages/{message.pk}/lease/release/", {"lease_token": token, "beacon": "1"})
    assert response.status_code == 204
    assert response.content == b""
    assert not EditLease.objects.exists()


def test_release_of_an_already_dead_lease_is_still_fine(alice_client, make_message):
    message = make_message()
    old_token, _version = open_editor(alice_client, message)
    new_token, _version = open_editor(alice_client, message)
    response = alice_client.post(f"/messages/{message.pk}/lease/release/", {"lease_token": old_token, "beacon": "1"})
    assert response.status_code == 204
    assert EditLease.objects.get().token == new_token  # the other tab's lease is untouched


def test_cancel_releases_the_lease_and_returns_to_the_message(alice_client, make_message):
    message = make_message()
    token, base_version = open_editor(alice_client, message)
    # Cancel submits the whole edit form to the release URL.
    response = alice_client.post(
        f"/messages/{message.pk}/lease/release/",
        {"subject": "typed", "body": "typed", "base_version": base_version, "lease_token": token},
        follow=True,
    )
    assert response.redirect_chain == [(f"/messages/{message.pk}/", 302)]
    assert "Editing cancelled; nothing was changed." in html(response)
    assert not EditLease.objects.exists()
    assert Message.objects.get().version == 1


def test_cancel_from_htmx_redirects_the_browser(alice_client, make_message):
    message = make_message()
    token, _version = open_editor(alice_client, message)
    response = alice_client.post(
        f"/messages/{message.pk}/lease/release/", {"lease_token": token}, headers={"HX-Request": "true"}
    )
    assert response["HX-Redirect"] == f"/messages/{message.pk}/"
    assert not EditLease.objects.exists()


def test_save_publishes_a_version_releases_the_lease_and_shows_it_in_history(alice_client, bob_client, make_message):
    message = make_message(subject="Old subject", body="old body")
    token, base_version = open_editor(alice_client, message)
    response = post_save(alice_client, message, token, base_version, subject="New subject", body="new\r\nbody")
    assert response.status_code == 302
    assert response["Location"] == f"/messages/{message.pk}/"
    detail = html(alice_client.get(response["Location"]))
    assert "Saved: this is now version 2." in detail
    assert "new<br>\nbody" in detail
    # The browser's CRLF is stored as LF.
    assert selectors.message_body(selectors.message_get(message_id=message.pk)) == "new\nbody"
    assert not EditLease.objects.exists()
    history = html(bob_client.get(f"/messages/{message.pk}/history/"))
    assert '/history/2/">2</a>' in history
    assert '/history/1/">1</a>' in history
    assert "New subject" in history and "Old subject" in history
    # Now free, the other user can edit the new version.
    assert hidden(html(bob_client.get(f"/messages/{message.pk}/edit/")), "base_version") == "2"


def test_second_tab_takes_the_lease_and_the_first_tabs_save_is_refused_keeping_its_text(alice_client, make_message):
    message = make_message(body="stored text")
    first_token, base_version = open_editor(alice_client, message)
    second_token, _version = open_editor(alice_client, message)
    assert second_token != first_token
    response = post_save(alice_client, message, first_token, base_version, subject="Mine", body="typed in tab one")
    assert response.status_code == 409
    page = html(response)
    assert "Your save was refused. Your editing lease is no longer valid" in page
    assert textarea(page) == "typed in tab one"
    assert 'value="Mine"' in page
    # The second tab keeps its lease: the first is offered to continue, not given it unasked.
    assert "You are editing this message in another tab or window" in page
    assert 'name="intent" value="resume"' in page
    assert EditLease.objects.get(message=message).token == second_token
    message.refresh_from_db()
    assert message.version == 1
    assert Revision.objects.count() == 1
    assert selectors.message_body(message) == "stored text"


def test_stale_version_rewritten_on_both_sides_comes_back_as_a_conflict_to_resolve_before_saving(
    alice_client, bob_client, make_message
):
    message = make_message(body="version one")
    alice_token, alice_version = open_editor(alice_client, message)
    # alice's lease lapses; bob edits and saves version 2 meanwhile.
    EditLease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    bob_token, bob_version = open_editor(bob_client, message)
    assert post_save(bob_client, message, bob_token, bob_version, body="bob's version two").status_code == 302
    response = post_save(alice_client, message, alice_token, alice_version, body="alice's late text")
    assert response.status_code == 409
    page = html(response)
    assert "The message was changed since you opened it: it is now at version 2." in page
    assert "changed on both sides" in page
    # Both sides are in the form, between conflict marks, and listed above it.
    assert html_unescape(textarea(page)) == (
        "\n<<<<<<< your text\nalice's late text\n======= version 2\nbob's version two\n>>>>>>> end of conflict\n"
    )
    assert hidden(page, "conflict_marks") == "1"
    # The re-shown form is based on version 2 with a fresh lease; the marks must go before it saves.
    assert hidden(page, "base_version") == "2"
    marked = html_unescape(textarea(page))
    refused = post_save(
        alice_client, message, hidden(page, "lease_token"), "2", body=marked, extra={"conflict_marks": "1"}
    )
    assert refused.status_code == 400
    assert "still has conflict marks" in html(refused)
    assert Message.objects.get().version == 2
    retry = post_save(
        alice_client, message, hidden(page, "lease_token"), "2", body="alice's late text", extra={"conflict_marks": "1"}
    )
    assert retry.status_code == 302
    assert Message.objects.get().version == 3


def test_refused_save_while_another_user_holds_the_lease_keeps_the_text_and_waits(
    alice_client, bob_client, make_message
):
    message = make_message()
    alice_token, alice_version = open_editor(alice_client, message)
    EditLease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    open_editor(bob_client, message)
    response = post_save(alice_client, message, alice_token, alice_version, subject="S", body="alice's words")
    assert response.status_code == 409
    page = html(response)
    assert "<strong>bob</strong> is editing this message until" in page
    assert "alice&#x27;s words</textarea>" in page
    assert 'name="intent" value="resume"' in page
    assert Message.objects.get().version == 1


def test_resuming_kept_text_once_free_opens_the_editor_with_it(alice_client, make_message):
    message = make_message(body="stored")
    response = alice_client.post(
        f"/messages/{message.pk}/edit/", {"intent": "resume", "subject": "Kept", "body": "kept words"}
    )
    assert response.status_code == 200
    page = html(response)
    assert textarea(page) == "kept words"
    assert hidden(page, "lease_token") == EditLease.objects.get().token


def test_save_without_the_form_fields_is_refused_and_changes_nothing(alice_client, make_message):
    message = make_message()
    open_editor(alice_client, message)
    response = alice_client.post(f"/messages/{message.pk}/edit/", {"subject": "S", "body": "my words"})
    assert response.status_code == 400
    page = html(response)
    assert STALE_EDIT_FORM in page
    assert textarea(page) == "my words"
    assert Message.objects.get().version == 1


def test_save_with_a_tampered_base_version_is_refused_and_changes_nothing(alice_client, make_message):
    message = make_message()
    token, _version = open_editor(alice_client, message)
    response = post_save(alice_client, message, token, "not-a-number", body="my words")
    assert response.status_code == 400
    assert STALE_EDIT_FORM in html(response)
    assert Message.objects.get().version == 1


def test_editing_a_deleted_message_gets_the_410_page(alice_client, make_message, alice):
    message = make_message()
    services.message_delete(message_id=message.pk, user=alice)
    response = alice_client.get(f"/messages/{message.pk}/edit/")
    assert response.status_code == 410
    assert not EditLease.objects.exists()


def test_saving_a_message_deleted_meanwhile_gets_410_with_the_text_to_copy(alice_client, make_message, alice):
    message = make_message()
    token, base_version = open_editor(alice_client, message)
    services.message_delete(message_id=message.pk, user=alice)
    response = post_save(alice_client, message, token, base_version, body="my unsaved words")
    assert response.status_code == 410
    assert "my unsaved words</textarea>" in html(response)


def test_editing_an_unknown_message_gets_the_404_page(alice_client):
    assert alice_client.get("/messages/999/edit/").status_code == 404


@pytest.mark.parametrize("suffix", ["edit/", "lease/renew/", "lease/release/"])
def test_lease_endpoints_for_an_id_beyond_any_integer_are_not_found(alice_client, suffix):
    url = f"/messages/{10**25}/{suffix}"
    response = alice_client.get(url) if suffix == "edit/" else alice_client.post(url, {"lease_token": "x"})
    assert response.status_code == 404


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("suffix", ["edit/", "delete/", "lease/renew/", "lease/release/", "restore/"])
def test_anonymous_visitor_is_sent_to_log_in_before_changing_anything(client, make_message, method, suffix):
    message = make_message()
    url = f"/messages/{message.pk}/{suffix}"
    if method == "post":
        response = client.post(url, {"subject": "x", "body": "y", "base_version": 1, "lease_token": "t"})
    else:
        response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"
    assert not EditLease.objects.exists()
    assert Message.objects.visible().get().version == 1


def test_anonymous_visitor_is_sent_to_log_in_to_post(client):
    for response in (client.get("/messages/new/"), client.post("/messages/new/", {"subject": "s", "body": "b"})):
        assert response.status_code == 302
        assert response["Location"] == "/accounts/login/?next=/messages/new/"
    assert not Message.objects.exists()


def test_new_message_form_posts_and_redirects_to_the_message(alice_client, alice, body_files):
    form = alice_client.get("/messages/new/")
    assert form.status_code == 200
    assert 'name="subject"' in html(form) and 'name="body"' in html(form)
    response = alice_client.post("/messages/new/", {"subject": "Posted", "body": "Hello\r\nthere"})
    message = Message.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/messages/{message.pk}/"
    assert (message.subject, message.author, message.version) == ("Posted", alice, 1)
    assert selectors.message_body(message) == "Hello\nthere"
    assert body_files() == {message.body_key}
    assert "Your message is posted." in html(alice_client.get(response["Location"]))


def test_two_users_take_turns_and_history_shows_both_versions(alice_client, make_message, make_user):
    message = make_message(body="v1")
    second = Client()
    second.force_login(make_user("dora"))
    token, version = open_editor(alice_client, message)
    assert "<strong>alice</strong> is editing" in html(second.get(f"/messages/{message.pk}/edit/"))
    post_save(alice_client, message, token, version, body="v2 by alice")
    # Dora waited on the edit page, so the freed lease is kept for her turn.
    assert 'data-lease-state="your-turn"' in html(second.get(f"/messages/{message.pk}/lease/"))
    token, version = open_editor(second, message)
    assert version == "2"
    post_save(second, message, token, version, body="v3 by dora")
    history = html(second.get(f"/messages/{message.pk}/history/"))
    assert "<td>dora</td>" in history and "<td>alice</td>" in history
    assert [r.version for r in history_selectors.revision_list(message_id=message.pk).items] == [3, 2, 1]
    assert leases.lease_current(message_id=message.pk) is None
