"""Search in a real browser: from the header's field to marked results, on a phone too, within the page's policy."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE

pytestmark = pytest.mark.django_db(transaction=True)


def test_searching_from_the_header_shows_marked_results_and_opens_the_message(open_page, alice, make_message):
    make_message(subject="Unrelated", body="Nothing to see.")
    wanted = make_message(subject="Boat trip", body="We saw a <b>puffin</b> near the cliffs.")
    page = open_page(alice)
    page.goto("/messages/")

    field = page.get_by_role("searchbox", name="Search messages")
    field.fill("puffin")
    field.press("Enter")

    expect(page).to_have_url(re.compile(r"/search/\?q=puffin$"))
    results = page.locator("ol.search-results li")
    expect(results).to_have_count(1)
    expect(results.locator("mark")).to_have_text("puffin")
    # The body's tag is text, never markup, in the snippet.
    assert results.locator("b").count() == 0
    results.get_by_role("link", name="Boat trip").click()
    expect(page).to_have_url(re.compile(rf"/messages/{wanted.pk}/$"))


def test_an_empty_search_says_what_to_type_on_a_phone(open_page, make_message):
    make_message()
    page = open_page(viewport=PHONE)
    page.goto("/search/?q=%20")

    expect(page.get_by_role("alert")).to_have_text("Type a word to search for.")
    expect(page.get_by_label("Words to find")).to_be_visible()
