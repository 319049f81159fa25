"""Every page of the editing story renders whole on a desktop and on a phone.

Each scene is checked at both sizes for sideways overflow. With $MESSAGEBOARD_SHOTS_DIR set,
each is also photographed (full page) into it for people to look at:

    MESSAGEBOARD_SHOTS_DIR=/tmp/shots .venv/bin/python -m pytest tests/browser/test_screens.py
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from messages_app import leases
from tests.browser.conftest import DESKTOP, PHONE

pytestmark = pytest.mark.django_db(transaction=True)

LONG_BODY = (
    "Bring a blanket, something to share and a hat.\n\n"
    "We meet by the old oak at the north gate; if it rains we move under the bandstand. "
    "Children welcome. https://example.org/a-very-long-link-that-should-wrap-instead-of-widening-the-page-on-a-phone\n"
)


def test_pages_render_without_overflow(open_page, alice, bob, make_message, settings, short_poll):
    shots = Path(os.environ["MESSAGEBOARD_SHOTS_DIR"]) if os.environ.get("MESSAGEBOARD_SHOTS_DIR") else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    for n in range(3):
        make_message(subject=f"Older note {n}", body="Nothing much.", author=bob)
    message = make_message(subject="Summer picnic in the park: who brings what?", body=LONG_BODY)
    leases.lease_acquire(message_id=make_message(subject="Being edited", body="Draft.").pk, user=bob)

    alice_page = open_page(alice)
    bob_page = open_page(bob)

    def shot(page: Page, name: str) -> None:
        for screen, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            page.set_viewport_size(viewport)
            if shots:
                page.screenshot(path=str(shots / f"{name}-{screen}.png"), full_page=True)
            wider = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert wider <= 0, f"{name} is {wider}px wider than a {screen} screen"

    alice_page.goto("/messages/")
    expect(alice_page.locator(".badge.editing")).to_have_text("bob")
    shot(alice_page, "list")

    alice_page.goto(f"/messages/{message.pk}/edit/")
    expect(alice_page.locator("#lease-status")).to_have_attribute("data-lease-state", "holding")
    shot(alice_page, "edit-holding")

    bob_page.goto(f"/messages/{message.pk}/")
    expect(bob_page.locator(".lease")).to_contain_text("alice is editing")
    shot(bob_page, "detail")

    bob_page.goto(f"/messages/{message.pk}/edit/")
    expect(bob_page.locator("#lease-status")).to_have_attribute("data-lease-state", "waiting")
    shot(bob_page, "edit-waiting")

    # Bob takes the message over (as after Alice's lease lapsed); Alice's save is refused.
    leases.lease_break(message_id=message.pk)
    leases.lease_acquire(message_id=message.pk, user=bob)
    alice_page.get_by_label("Body").fill(LONG_BODY + "I bring lemonade.")
    alice_page.get_by_role("button", name="Save").click()
    expect(alice_page.locator(".notice")).to_contain_text("Your save was refused")
    shot(alice_page, "refused-save-waiting")

    # Bob lets go; Alice continues with her kept text, the stored version shown beside it.
    leases.lease_break(message_id=message.pk)
    alice_page.get_by_role("button", name="Continue editing").click()
    expect(alice_page.locator(".current-version")).to_be_visible()
    shot(alice_page, "edit-resumed")
    alice_page.get_by_role("button", name="Save").click()
    expect(alice_page.locator(".flash")).to_contain_text("version 2")

    alice_page.goto(f"/messages/{message.pk}/history/")
    expect(alice_page.locator("table.history tbody tr")).to_have_count(2)
    shot(alice_page, "history")

    # The lease ends under an open editor (renewals every second now); the one waiting gets the editor.
    settings.MESSAGEBOARD_LEASE_SECONDS = 4
    alice_page.goto(f"/messages/{message.pk}/edit/")
    bob_page.goto(f"/messages/{message.pk}/edit/")
    expect(bob_page.locator("#lease-status")).to_have_attribute("data-lease-state", "waiting")
    leases.lease_break(message_id=message.pk)
    expect(alice_page.locator("#lease-status")).to_have_attribute("data-lease-state", "lost")
    shot(alice_page, "edit-lost")
    expect(bob_page.locator("#lease-status")).to_have_attribute("data-lease-state", "holding")
    shot(bob_page, "edit-your-turn")

    visitor = open_page()
    visitor.goto("/accounts/login/")
    shot(visitor, "login")
