"""Never lose a word: drafts on the server and in the browser, and merges, as people meet them in Chromium."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from messages_app.models import Draft, EditLease, Message
from tests.browser.conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def edit_url(message) -> str:
    return f"/messages/{message.pk}/edit/"


def live_draft(message, user) -> Draft | None:
    return Draft.objects.filter(message=message, user=user, consumed_at__isnull=True).first()


def test_text_typed_while_the_lease_runs_out_survives_a_reload_and_another_browser(
    open_page, alice, make_message, settings
):
    settings.MESSAGEBOARD_LEASE_SECONDS = 4  # a heartbeat every second
    message = make_message(body="Original.")
    page = open_page(alice)
    page.goto(edit_url(message))
    expect(page.locator("#lease-status")).to_have_attribute("data-lease-state", "holding")
    page.get_by_label("Body").fill("Typed before the lease ran out.")
    # The next heartbeat carries the text: it is kept on the server as Alice's draft.
    assert wait_until(lambda: live_draft(message, alice), timeout=5)
    EditLease.objects.filter(message=message).update(expires_at=timezone.now())
    expect(page.locator("#lease-status")).to_have_attribute("data-lease-state", "lost", timeout=4_000)

    page.reload()
    # Reopened, the editor offers the text, kept on the server (and in this browser).
    offer = page.locator("#draft-offer")
    expect(offer).to_contain_text("You have a draft of this message")
    expect(offer).to_contain_text("Typed before the lease ran out.")

    # A browser that never saw the text is offered it too.
    elsewhere = open_page(alice)
    elsewhere.goto(edit_url(message))
    expect(elsewhere.locator("#draft-offer")).to_contain_text("Typed before the lease ran out.")
    elsewhere.get_by_role("button", name="Restore my draft").click()
    expect(elsewhere.get_by_label("Body")).to_have_value("Typed before the lease ran out.")
    elsewhere.get_by_role("button", name="Save").click()
    expect(elsewhere).to_have_url(re.compile(rf"/messages/{message.pk}/$"))
    assert Message.objects.get(pk=message.pk).version == 2
    # Saved: the draft is done with.
    assert live_draft(message, alice) is None


def test_text_typed_offline_in_a_closed_tab_is_offered_on_return(open_page, alice, make_message):
    message = make_message(body="Original.")
    page = open_page(alice)
    page.goto(edit_url(message))
    expect(page.locator("#lease-status")).to_have_attribute("data-lease-state", "holding")
    context = page.context
    back = open_page(context=context)  # the browser stays open when the editing tab closes
    context.set_offline(True)
    page.get_by_label("Body").fill("Typed on a train with no network.")
    page.wait_for_timeout(600)  # the browser's copy is written a moment after the last key
    page.close(run_before_unload=True)
    page.wait_for_event("close")
    context.set_offline(False)
    assert live_draft(message, alice) is None  # nothing reached the server

    back.goto(edit_url(message))
    offer = back.locator("#local-draft-offer")
    expect(offer).to_be_visible()
    expect(offer).to_contain_text("was not saved")
    expect(back.get_by_label("Body")).to_have_value("Original.")
    offer.get_by_role("button", name="Restore it").click()
    expect(back.get_by_label("Body")).to_have_value("Typed on a train with no network.")
    back.get_by_role("button", name="Save").click()
    expect(back).to_have_url(re.compile(rf"/messages/{message.pk}/$"))
    expect(back.locator(".body")).to_have_text("Typed on a train with no network.")

    # Saved and confirmed: the browser's copy is gone, so the next editor offers nothing.
    back.goto(edit_url(message))
    expect(back.locator("#lease-status")).to_have_attribute("data-lease-state", "holding")
    expect(back.locator("#local-draft-offer")).to_be_hidden()


def alice_types_and_bob_saves_first(open_page, message, alice, bob, *, alice_text: str, bob_text: str):
    """Alice opens the editor and types; her lease runs out while she thinks, and Bob saves first."""
    alice_page = open_page(alice)
    alice_page.goto(edit_url(message))
    expect(alice_page.locator("#lease-status")).to_have_attribute("data-lease-state", "holding")
    alice_page.get_by_label("Body").fill(alice_text)
    EditLease.objects.filter(message=message).update(expires_at=timezone.now())
    bob_page = open_page(bob)
    bob_page.goto(edit_url(message))
    bob_page.get_by_label("Body").fill(bob_text)
    bob_page.get_by_role("button", name="Save").click()
    expect(bob_page).to_have_url(re.compile(rf"/messages/{message.pk}/$"))
    return alice_page


def test_two_people_editing_different_sentences_of_one_paragraph_merge_cleanly(
    open_page, alice, bob, make_message, settings
):
    message = make_message(body="The meeting is on Monday. Bring the slides.")
    # Bob edits the other sentence and saves first.
    alice_page = alice_types_and_bob_saves_first(
        open_page,
        message,
        alice,
        bob,
        alice_text="The meeting is on Tuesday. Bring the slides.",
        bob_text="The meeting is on Monday. Bring the slides and the budget.",
    )

    alice_page.get_by_role("button", name="Save").click()
    expect(alice_page.locator("#merge-clean")).to_contain_text("Your changes and version 2 were merged")
    expect(alice_page.locator("#merge-clean")).to_contain_text("and the budget")
    merged = "The meeting is on Tuesday. Bring the slides and the budget."
    expect(alice_page.get_by_label("Body")).to_have_value(merged)
    # Nothing was saved until she looked: she saves the merge herself.
    assert Message.objects.get(pk=message.pk).version == 2
    alice_page.get_by_role("button", name="Save").click()
    expect(alice_page).to_have_url(re.compile(rf"/messages/{message.pk}/$"))
    expect(alice_page.locator(".body")).to_have_text(merged)
    assert Message.objects.get(pk=message.pk).version == 3


def test_a_conflict_is_resolved_with_the_pages_buttons_before_saving(open_page, alice, bob, make_message):
    message = make_message(body="The meeting is on Monday. Bring the slides.")
    # Bob changes the same word differently and saves first.
    alice_page = alice_types_and_bob_saves_first(
        open_page,
        message,
        alice,
        bob,
        alice_text="The meeting is on Tuesday. Bring the slides.",
        bob_text="The meeting is on Wednesday. Bring the slides.",
    )

    alice_page.get_by_role("button", name="Save").click()
    conflicts = alice_page.locator("#merge-conflicts")
    expect(conflicts).to_contain_text("changed on both sides")
    expect(conflicts).to_contain_text("The meeting is on Wednesday.")
    expect(alice_page.get_by_label("Body")).to_have_value(re.compile("<<<<<<< your text"))
    conflicts.get_by_role("button", name="Take version 2's").click()
    expect(alice_page.get_by_label("Body")).to_have_value("The meeting is on Wednesday. Bring the slides.")
    alice_page.get_by_role("button", name="Save").click()
    expect(alice_page).to_have_url(re.compile(rf"/messages/{message.pk}/$"))
    assert Message.objects.get(pk=message.pk).version == 3


def test_a_moderator_takes_over_and_the_holders_page_says_so_with_her_text_kept(
    open_page, alice, mia, make_message, settings
):
    settings.MESSAGEBOARD_LEASE_SECONDS = 4  # a heartbeat every second
    message = make_message(body="Original.")
    alice_page = open_page(alice)
    alice_page.goto(edit_url(message))
    expect(alice_page.locator("#lease-status")).to_have_attribute("data-lease-state", "holding")
    alice_page.get_by_label("Body").fill("Alice's unfinished rewrite.")

    mia_page = open_page(mia)
    mia_page.goto(edit_url(message))
    expect(mia_page.locator("#lease-status")).to_contain_text("alice is editing")
    mia_page.get_by_role("button", name="Take over editing").click()
    expect(mia_page.locator("#lease-status")).to_have_attribute("data-lease-state", "holding")

    # Alice's next heartbeat finds the lease taken: her page says by whom, and her text is kept.
    status = alice_page.locator("#lease-status")
    expect(status).to_have_attribute("data-lease-state", "lost", timeout=4_000)
    expect(status).to_contain_text("mia, a moderator, took over editing this message")
    expect(status).to_contain_text("kept as your draft")
    expect(alice_page.get_by_label("Body")).to_have_value("Alice's unfinished rewrite.")
    draft = wait_until(lambda: live_draft(message, alice), timeout=4)
    assert draft is not None and draft.base_version == 1
    assert EditLease.objects.get(message=message).holder == mia
