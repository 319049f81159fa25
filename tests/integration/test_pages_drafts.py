"""Drafts and merges through the edit page: the heartbeat, the beacon, the offer, restore, discard, conflicts.

The page's script is not run here: each test posts what it would post (the heartbeat's fields,
the offer's hidden form), as tests/integration/test_pages_edit.py does for the editor itself.
"""

import re
from html import unescape

import pytest

from messages_app import bodies, drafts, editing
from messages_app.models import Draft, EditLease, Message
from tests.support.api import expire_leases

pytestmark = [pytest.mark.django_db, pytest.mark.both_storages]

PARAGRAPH = "The board meets on Friday at noon. Minutes go out the next day. Anyone may add an item."


def html(response) -> str:
    return response.content.decode()


def section(page: str, element_id: str) -> str:
    """Return the element with this id, up to its closing tag (section, form or p)."""
    match = re.search(rf'<(section|form|p)\b[^>]*\bid="{element_id}".*?</\1>', page, re.S)
    assert match, f"no #{element_id} on the page"
    return match.group(0)


def hidden(part: str, name: str) -> str:
    match = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', part)
    assert match, f"no hidden {name} field"
    return unescape(match.group(1))


def textarea(part: str, name: str = "body") -> str:
    match = re.search(rf'<textarea [^>]*name="{name}"[^>]*>\n?(.*?)</textarea>', part, re.S)
    assert match, f"no {name} textarea"
    return unescape(match.group(1))


def subject_value(part: str) -> str:
    match = re.search(r'<input type="text" name="subject" value="([^"]*)"', part)
    assert match, "no subject field"
    return unescape(match.group(1))


def draft_files() -> set[str]:
    return {listed.key for listed in bodies.draft_listing()}


def draft_text(message, user) -> str | None:
    found = drafts.draft_find(message_id=message.pk, user=user)
    return None if found is None else found.body


def open_editor(client, message) -> str:
    """GET the editor; return its edit form."""
    response = client.get(f"/messages/{message.pk}/edit/")
    assert response.status_code == 200
    return section(html(response), "edit-form")


def heartbeat(client, message, token, *, seq=None, body=None, base_version="1", subject="Hello"):
    data = {"lease_token": token}
    if body is not None:
        data.update(subject=subject, body=body, base_version=base_version, draft_seq=str(seq))
    return client.post(f"/messages/{message.pk}/lease/renew/", data, headers={"HX-Request": "true"})


def post_save(client, message, form: str, *, body: str, subject: str = "Hello", **extra):
    data = {
        "subject": subject,
        "body": body,
        "base_version": hidden(form, "base_version"),
        "lease_token": hidden(form, "lease_token"),
        **extra,
    }
    return client.post(f"/messages/{message.pk}/edit/", data)


def put_draft(message, user, *, body: str, seq: int = 1, base_version: int = 1, subject: str | None = None):
    return drafts.draft_put(
        message_id=message.pk, user=user, subject=subject, body=body, base_version=base_version, seq=seq
    )


def save_as(user, message, *, base_version: int, body: str):
    editing.message_edit_save(
        message_id=message.pk, user=user, base_version=base_version, lease_token=None, subject=None, body=body
    )


def restore(client, message) -> str:
    """Open the editor, press "Restore my draft" (post the offer's form as it is), return the page."""
    offer = section(html(client.get(f"/messages/{message.pk}/edit/")), "draft-offer")
    fields = {
        "intent": hidden(offer, "intent"),
        "base_version": hidden(offer, "base_version"),
        "subject": hidden(offer, "subject"),
        "body": textarea(offer),
    }
    response = client.post(f"/messages/{message.pk}/edit/", fields)
    assert response.status_code == 200
    return html(response)


# The heartbeat and the beacon


def test_a_heartbeat_with_text_keeps_it_as_a_draft_and_says_so(alice_client, alice, make_message, body_storage):
    message = make_message()
    token = hidden(open_editor(alice_client, message), "lease_token")
    response = heartbeat(alice_client, message, token, seq=41, body="typed on the page")
    assert response.status_code == 200
    status = section(html(response), "lease-status")
    assert 'data-lease-state="holding"' in status
    assert 'data-draft-seq="41"' in status
    assert "Your text is kept as a draft" in status
    kept = drafts.draft_find(message_id=message.pk, user=alice)
    assert (kept.body, kept.seq, kept.base_version) == ("typed on the page", 41, 1)
    assert body_storage.read(Draft.objects.get().body_key) == b"typed on the page"


def test_a_heartbeat_without_text_renews_the_lease_and_keeps_no_draft(alice_client, make_message):
    message = make_message()
    token = hidden(open_editor(alice_client, message), "lease_token")
    status = section(html(heartbeat(alice_client, message, token)), "lease-status")
    assert 'data-lease-state="holding"' in status
    assert "data-draft-seq" not in status
    assert not Draft.objects.exists()
    assert draft_files() == set()


def test_a_heartbeat_after_the_lease_was_lost_still_keeps_the_text_and_reports_the_loss(
    alice_client, bob_client, alice, make_message
):
    message = make_message()
    token = hidden(open_editor(alice_client, message), "lease_token")
    expire_leases()
    open_editor(bob_client, message)
    response = heartbeat(alice_client, message, token, seq=5, body="typed after the lease lapsed")
    status = section(html(response), "lease-status")
    assert 'data-lease-state="lost"' in status
    assert 'data-draft-seq="5"' in status
    assert draft_text(message, alice) == "typed after the lease lapsed"
    assert EditLease.objects.get().holder.username == "bob"


def test_a_late_heartbeat_keeps_the_lease_but_not_its_older_text(alice_client, alice, make_message):
    message = make_message()
    token = hidden(open_editor(alice_client, message), "lease_token")
    heartbeat(alice_client, message, token, seq=9, body="newer")
    status = section(html(heartbeat(alice_client, message, token, seq=8, body="older")), "lease-status")
    assert 'data-lease-state="holding"' in status
    assert "data-draft-seq" not in status
    assert draft_text(message, alice) == "newer"


def test_the_beacon_release_keeps_the_text_as_a_draft_then_frees_the_lease(alice_client, alice, make_message):
    message = make_message()
    token = hidden(open_editor(alice_client, message), "lease_token")
    response = alice_client.post(
        f"/messages/{message.pk}/lease/release/",
        {
            "lease_token": token,
            "beacon": "1",
            "subject": "Hello",
            "body": "typed before the tab closed",
            "base_version": "1",
            "draft_seq": "3",
        },
    )
    assert response.status_code == 204
    assert not EditLease.objects.exists()
    assert draft_text(message, alice) == "typed before the tab closed"
    assert len(draft_files()) == 1


# The draft endpoint the page uses without the lease


def test_the_draft_endpoint_keeps_text_and_answers_204_409_400_429(alice_client, alice, make_message, settings):
    settings.MESSAGEBOARD_MAX_DRAFTS_PER_USER = 1
    message, other = make_message(), make_message()
    url = f"/messages/{message.pk}/draft/"
    fields = {"subject": "Hello", "body": "kept without a lease", "base_version": "1", "draft_seq": "5"}
    assert alice_client.post(url, fields).status_code == 204
    assert draft_text(message, alice) == "kept without a lease"
    late = alice_client.post(url, {**fields, "body": "late", "draft_seq": "4"})
    assert late.status_code == 409
    assert "sequence 5" in html(late)
    assert alice_client.post(url, {**fields, "body": " ", "draft_seq": "6"}).status_code == 400
    assert alice_client.post(url, {**fields, "draft_seq": ""}).status_code == 400
    over_cap = alice_client.post(f"/messages/{other.pk}/draft/", fields)
    assert over_cap.status_code == 429
    assert draft_text(message, alice) == "kept without a lease"
    assert draft_files() == {Draft.objects.get().body_key}


def test_the_draft_endpoint_needs_a_signed_in_user(client, make_message):
    message = make_message()
    fields = {"subject": "Hello", "body": "x", "base_version": "1", "draft_seq": "1"}
    response = client.post(f"/messages/{message.pk}/draft/", fields)
    assert response.status_code == 302
    assert "/login" in response["Location"]
    assert not Draft.objects.exists()


# The offer


def test_the_editor_offers_a_draft_that_differs_with_restore_discard_and_a_diff(alice_client, alice, make_message):
    message = make_message(subject="Hello", body="First line.\nSecond line.")
    put_draft(message, alice, body="First line.\nSecond line, changed.", seq=12)
    page = html(alice_client.get(f"/messages/{message.pk}/edit/"))
    offer = section(page, "draft-offer")
    assert "Restore my draft" in offer
    assert "Discard my draft" in offer
    assert '<del class="line">Second line.</del>' in offer
    assert '<ins class="line">Second line, changed.</ins>' in offer
    assert '<span class="line">First line.</span>' in offer
    # Restore posts the draft back to the editor; Discard posts the draft's number.
    assert hidden(offer, "intent") == "resume"
    assert hidden(offer, "base_version") == "1"
    assert textarea(offer) == "First line.\nSecond line, changed."
    assert f'action="/messages/{message.pk}/draft/discard/"' in offer
    assert hidden(offer, "draft_seq") == "12"
    # Until restored, the form holds the current version, and tells the script the draft's number.
    form = section(page, "edit-form")
    assert textarea(form) == "First line.\nSecond line."
    assert 'data-server-draft-seq="12"' in form


def test_the_editor_shows_a_draft_whose_only_change_is_the_subject(alice_client, alice, make_message):
    message = make_message(subject="Hello", body="Same body.")
    put_draft(message, alice, body="Same body.", subject="Hello again")
    offer = section(html(alice_client.get(f"/messages/{message.pk}/edit/")), "draft-offer")
    assert "<del>Hello</del>" in offer
    assert "<ins>Hello again</ins>" in offer


def test_the_editor_offers_no_draft_whose_text_is_the_current_one(alice_client, alice, make_message):
    message = make_message(subject="Hello", body="Same text.")
    put_draft(message, alice, body="Same text.")
    page = html(alice_client.get(f"/messages/{message.pk}/edit/"))
    assert 'id="draft-offer"' not in page
    assert "Restore my draft" not in page


def test_the_editor_never_offers_someone_elses_draft(alice_client, bob, make_message):
    message = make_message()
    put_draft(message, bob, body="bob's private text")
    page = html(alice_client.get(f"/messages/{message.pk}/edit/"))
    assert 'id="draft-offer"' not in page
    assert "bob&#x27;s private text" not in page


def test_restoring_a_draft_of_the_current_version_puts_it_in_the_form_without_a_merge(
    alice_client, alice, make_message
):
    message = make_message(subject="Hello", body="Current text.")
    put_draft(message, alice, body="My draft text.", subject="My subject")
    page = restore(alice_client, message)
    form = section(page, "edit-form")
    assert textarea(form) == "My draft text."
    assert subject_value(form) == "My subject"
    assert hidden(form, "base_version") == "1"
    assert 'id="merge-clean"' not in page
    assert 'id="merge-conflicts"' not in page


def test_restoring_a_draft_of_an_older_version_merges_both_users_edits_of_one_paragraph(
    alice_client, alice, bob, make_message
):
    message = make_message(subject="Hello", body=PARAGRAPH)
    put_draft(message, alice, body=PARAGRAPH.replace("Friday", "Monday"), base_version=1)
    save_as(bob, message, base_version=1, body=PARAGRAPH.replace("Anyone", "Every member"))
    offer = section(html(alice_client.get(f"/messages/{message.pk}/edit/")), "draft-offer")
    assert "the message is at version 2 now: restoring merges your draft with it" in offer
    page = restore(alice_client, message)
    notice = section(page, "merge-clean")
    assert "Your changes and version 2 were merged — check and save" in notice
    form = section(page, "edit-form")
    merged = textarea(form)
    assert merged == "The board meets on Monday at noon. Minutes go out the next day. Every member may add an item."
    assert hidden(form, "base_version") == "2"
    assert 'name="conflict_marks"' not in form
    assert Message.objects.get().version == 2  # the merge is only offered
    saved = post_save(alice_client, message, form, body=merged, draft_seq="20")
    assert saved.status_code == 302
    message.refresh_from_db()
    assert message.version == 3
    assert bodies.body_read(message.body_key) == merged
    assert drafts.draft_find(message_id=message.pk, user=alice) is None
    assert draft_files() == set()


def test_discard_removes_the_draft_and_its_file_and_goes_back_to_the_editor(alice_client, alice, make_message):
    message = make_message(body="Current text.")
    put_draft(message, alice, body="Draft to throw away.", seq=4)
    offer = section(html(alice_client.get(f"/messages/{message.pk}/edit/")), "draft-offer")
    response = alice_client.post(
        f"/messages/{message.pk}/draft/discard/", {"draft_seq": hidden(offer, "draft_seq")}, follow=True
    )
    assert response.redirect_chain == [(f"/messages/{message.pk}/edit/", 302)]
    page = html(response)
    assert "Your draft is discarded." in page
    assert 'id="draft-offer"' not in page
    assert textarea(section(page, "edit-form")) == "Current text."
    assert drafts.draft_find(message_id=message.pk, user=alice) is None
    assert draft_files() == set()


# Saving


def test_a_page_save_consumes_the_draft_and_a_heartbeat_arriving_after_it_is_not_kept(
    alice_client, alice, make_message
):
    message = make_message()
    form = open_editor(alice_client, message)
    token = hidden(form, "lease_token")
    heartbeat(alice_client, message, token, seq=100, body="typing")
    assert draft_text(message, alice) == "typing"
    assert post_save(alice_client, message, form, body="typing, then saved", draft_seq="102").status_code == 302
    row = Draft.objects.get()
    assert row.consumed_at is not None
    assert row.seq == 102
    assert draft_files() == set()
    # A heartbeat the page sent (numbered 101) just before the save, arriving after it.
    late = heartbeat(alice_client, message, token, seq=101, body="typing")
    assert "data-draft-seq" not in section(html(late), "lease-status")
    assert drafts.draft_find(message_id=message.pk, user=alice) is None
    assert draft_files() == set()
    assert 'id="draft-offer"' not in html(alice_client.get(f"/messages/{message.pk}/edit/"))


def test_the_first_heartbeat_overtaken_by_the_save_does_not_come_back_as_a_draft_offer(
    alice_client, alice, bob, make_message
):
    """The page's first heartbeat with text (no draft kept yet) is still on its way when the save lands."""
    message = make_message(body="version one")
    form = open_editor(alice_client, message)
    token = hidden(form, "lease_token")
    assert post_save(alice_client, message, form, body="alice's version two", draft_seq="201").status_code == 302
    heartbeat(alice_client, message, token, seq=200, body="alice's version two")
    save_as(bob, message, base_version=2, body="bob's version three")
    page = html(alice_client.get(f"/messages/{message.pk}/edit/"))
    assert 'id="draft-offer"' not in page
    assert drafts.draft_find(message_id=message.pk, user=alice) is None


def test_a_refused_save_keeps_the_posted_text_as_the_users_draft(alice_client, bob_client, alice, make_message):
    message = make_message()
    form = open_editor(alice_client, message)
    expire_leases()
    open_editor(bob_client, message)
    response = post_save(
        alice_client, message, form, body="alice's refused text", subject="Her subject", draft_seq="77"
    )
    assert response.status_code == 409
    assert "Your save was refused." in html(response)
    kept = drafts.draft_find(message_id=message.pk, user=alice)
    assert (kept.body, kept.subject, kept.base_version, kept.seq) == ("alice's refused text", "Her subject", 1, 77)
    assert Message.objects.get().version == 1
    assert len(draft_files()) == 1


def test_a_refused_save_from_a_page_without_its_script_keeps_the_text_too(
    alice_client, bob_client, alice, make_message
):
    message = make_message()
    form = open_editor(alice_client, message)
    expire_leases()
    open_editor(bob_client, message)
    assert post_save(alice_client, message, form, body="no script here").status_code == 409
    assert draft_text(message, alice) == "no script here"


def test_conflict_marks_block_the_save_until_they_are_removed(alice_client, alice, bob, make_message):
    message = make_message(subject="Hello", body=PARAGRAPH)
    put_draft(message, alice, body=PARAGRAPH.replace("Friday", "Monday"), base_version=1)
    save_as(bob, message, base_version=1, body=PARAGRAPH.replace("Friday", "Tuesday"))
    page = restore(alice_client, message)
    notice = section(page, "merge-conflicts")
    assert "changed on both sides" in notice
    assert "The board meets on Monday at noon." in notice
    assert "The board meets on Tuesday at noon." in notice
    form = section(page, "edit-form")
    marked = textarea(form)
    assert marked == (
        "\n<<<<<<< your text\nThe board meets on Monday at noon.\n======= version 2\n"
        "The board meets on Tuesday at noon.\n>>>>>>> end of conflict\n"
        " Minutes go out the next day. Anyone may add an item."
    )
    assert hidden(form, "conflict_marks") == "1"
    assert hidden(form, "base_version") == "2"
    refused = post_save(alice_client, message, form, body=marked, conflict_marks="1")
    assert refused.status_code == 400
    assert "still has conflict marks" in html(refused)
    # The refused form keeps the flag, so the next try is checked too.
    assert hidden(section(html(refused), "edit-form"), "conflict_marks") == "1"
    assert Message.objects.get().version == 2
    resolved = PARAGRAPH.replace("Friday", "Monday")
    assert post_save(alice_client, message, form, body=resolved, conflict_marks="1").status_code == 302
    message.refresh_from_db()
    assert message.version == 3
    assert bodies.body_read(message.body_key) == resolved


def test_a_single_remaining_mark_still_blocks_the_save(alice_client, alice, bob, make_message):
    message = make_message(subject="Hello", body=PARAGRAPH)
    put_draft(message, alice, body=PARAGRAPH.replace("Friday", "Monday"), base_version=1)
    save_as(bob, message, base_version=1, body=PARAGRAPH.replace("Friday", "Tuesday"))
    form = section(restore(alice_client, message), "edit-form")
    half_resolved = "The board meets on Monday at noon.\n>>>>>>> end of conflict\n Minutes go out."
    assert post_save(alice_client, message, form, body=half_resolved, conflict_marks="1").status_code == 400
    assert Message.objects.get().version == 2
