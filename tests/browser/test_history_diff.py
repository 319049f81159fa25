"""Comparing and restoring versions in a real browser, on a phone and on a desktop."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from messages_app import editing
from messages_app.models import Message
from tests.browser.conftest import DESKTOP, PHONE

pytestmark = pytest.mark.django_db(transaction=True)

LONG_LINE = "A very long line without many breaks " * 12 + "https://example.org/" + "x" * 120
V1 = f"Picnic on Friday.\nBring a blanket.\n{LONG_LINE}\nSee you!"
V2 = f"Picnic on Saturday.\nBring a blanket.\n{LONG_LINE}\nBring <b>lemonade</b> & cups.\nSee you!"


def no_overflow(page: Page, name: str) -> None:
    shots = os.environ.get("MESSAGEBOARD_SHOTS_DIR")
    for screen, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(viewport)
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(shots) / f"{name}-{screen}.png"), full_page=True)
        wider = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert wider <= 0, f"{name} is {wider}px wider than a {screen} screen"


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_member_compares_two_versions_and_restores_the_older(open_page, alice, bob, make_message, viewport):
    message = make_message(subject="Picnic", body=V1)
    editing.message_edit_save(
        message_id=message.pk, user=alice, base_version=1, lease_token=None, subject="Picnic!", body=V2
    )
    page = open_page(bob, viewport=viewport)

    page.goto(f"/messages/{message.pk}/history/")
    no_overflow(page, "history-compare")
    page.get_by_label("Compare from version 1").check()
    page.get_by_label("Compare to version 2").check()
    page.get_by_role("button", name="Compare the selected versions").click()
    expect(page).to_have_url(f"{page.url.split('/messages/')[0]}/messages/{message.pk}/diff/1/2/")
    expect(page.locator("del.line")).to_have_text(["Picnic on Friday."])
    expect(page.locator("ins.line")).to_have_text(["Picnic on Saturday.", "Bring <b>lemonade</b> & cups."])
    expect(page.locator(".diff-subject")).to_contain_text("Picnic")
    no_overflow(page, "diff")

    page.get_by_role("link", name="Version 1", exact=True).click()
    no_overflow(page, "old-version")
    page.get_by_role("button", name="Restore this version").click()
    expect(page.locator(".flash")).to_contain_text("Version 1 is restored: it is now version 3.")
    expect(page.locator(".body")).to_have_text(V1)
    restored = Message.objects.get(pk=message.pk)
    assert (restored.version, restored.subject, restored.updated_by_id) == (3, "Picnic", bob.pk)
