"""Markdown in a real browser: hostile bodies run nothing and break no policy; the Preview renders as the page."""

import pytest
from playwright.sync_api import expect

from tests.unit.test_markup import PAYLOADS

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_body_of_xss_payloads_runs_no_script_and_reports_no_policy_violation(
    open_page, alice, make_message, live_server
):
    # A body may not hold NUL characters: the payload that tries one is refused before rendering.
    message = make_message(subject="Every payload", body="\n\n".join(p for p in PAYLOADS if "\x00" not in p))
    page = open_page(alice)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"/messages/{message.pk}/")
    expect(page.locator(".body.markdown")).to_contain_text("<script>alert(1)</script>")
    for element in page.locator(".body.markdown a").all():
        element.hover()
    page.wait_for_timeout(300)
    assert dialogs == []
    executable = page.evaluate(
        """() => [...document.querySelectorAll('.body *')].filter(element =>
            ['SCRIPT', 'IFRAME', 'OBJECT', 'EMBED', 'STYLE', 'FORM', 'SVG'].includes(element.tagName.toUpperCase())
            || [...element.attributes].some(attribute => attribute.name.startsWith('on') || attribute.name === 'style')
        ).length"""
    )
    assert executable == 0
    # The open_page fixture fails the test at teardown on any CSP violation or JavaScript error.


def test_the_preview_shows_the_text_as_the_message_page_will(open_page, alice, make_message):
    make_message()  # the board to post to (a transactional test starts from an empty database)
    page = open_page(alice)
    page.goto("/messages/new/")
    page.locator("#id_body").fill("**bold** and <script>alert(1)</script>")
    page.locator("details.preview > summary").click()
    preview = page.locator("#id_body-preview")
    expect(preview.locator("strong")).to_have_text("bold")
    expect(preview).to_contain_text("<script>alert(1)</script>")
    page.locator("#id_body").fill("now _changed_")
    expect(preview.locator("em")).to_have_text("changed")


def test_typing_with_the_preview_closed_asks_the_server_nothing(open_page, alice, make_message):
    make_message()
    page = open_page(alice)
    page.goto("/messages/new/")
    asked = []
    page.on("request", lambda request: asked.append(request.url) if "/preview/" in request.url else None)
    page.locator("#id_body").fill("typed with the preview closed")
    page.wait_for_timeout(900)
    assert asked == []
