"""Waiting for a lease in Chromium: two people kept waiting get the message in the order they came."""

import re

import pytest
from playwright.sync_api import expect

from messages_app.models import Message
from tests.browser.conftest import lease_row

pytestmark = pytest.mark.django_db(transaction=True)


def edit_url(message) -> str:
    return f"/messages/{message.pk}/edit/"


def save(page, message, text: str) -> None:
    page.get_by_label("Body").fill(text)
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(rf"/messages/{message.pk}/$"))


def test_two_waiting_people_get_the_lease_in_turn(open_page, alice, bob, make_user, make_message, short_poll):
    carol = make_user("carol")
    message = make_message(body="Version one.")
    alice_page = open_page(alice)
    alice_page.goto(edit_url(message))
    expect(alice_page.locator("#lease-status")).to_have_attribute("data-lease-state", "holding")

    bob_page = open_page(bob)
    bob_page.goto(edit_url(message))
    expect(bob_page.locator("#lease-status")).to_contain_text("You are next in line")
    carol_page = open_page(carol)
    carol_page.goto(edit_url(message))
    expect(carol_page.locator("#lease-status")).to_contain_text("You are number 2 in line")

    # Alice saves: Bob came first, so his page opens the editor by itself; Carol is told it is his turn.
    save(alice_page, message, "Version two, by Alice.")
    expect(bob_page.locator("#lease-status")).to_have_attribute("data-lease-state", "holding", timeout=5_000)
    expect(bob_page.get_by_label("Body")).to_have_value("Version two, by Alice.")
    expect(carol_page.locator("#lease-status")).to_contain_text("bob", timeout=5_000)
    expect(carol_page.locator("#lease-status")).to_contain_text("You are next in line")
    assert lease_row(message.pk).holder == bob

    # Bob saves: now Carol's turn comes, and her page opens the editor on Bob's version.
    save(bob_page, message, "Version three, by Bob.")
    expect(carol_page.locator("#lease-status")).to_have_attribute("data-lease-state", "holding", timeout=5_000)
    expect(carol_page.get_by_label("Body")).to_have_value("Version three, by Bob.")
    save(carol_page, message, "Version four, by Carol.")
    assert Message.objects.get(pk=message.pk).version == 4
