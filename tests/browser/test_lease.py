"""The editing lease as people meet it: real Chromium pages against the live server."""

import re
import time

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from messages_app import editing
from messages_app.models import EditLease, Message
from tests.browser.conftest import lease_row, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def edit_url(message) -> str:
    return f"/messages/{message.pk}/edit/"


def detail_url_re(message) -> re.Pattern:
    return re.compile(rf"/messages/{message.pk}/$")


def lease_state(page):
    return page.locator("#lease-status")


def test_second_editor_waits_in_line_gets_the_editor_on_his_turn_and_history_shows_both(
    open_page, alice, bob, make_message, short_poll
):
    message = make_message(subject="Picnic", body="Saturday at noon.")

    # Alice logs in through the real form on her way to the edit page.
    alice_page = open_page()
    alice_page.goto(edit_url(message))
    expect(alice_page).to_have_url(re.compile(r"/accounts/login/"))
    alice_page.get_by_label("Username").fill("alice")
    alice_page.get_by_label("Password").fill("correct horse battery staple")
    alice_page.get_by_role("button", name="Log in").click()
    expect(alice_page).to_have_url(re.compile(rf"{edit_url(message)}$"))
    expect(lease_state(alice_page)).to_have_attribute("data-lease-state", "holding")
    expect(alice_page.get_by_label("Body")).to_have_value("Saturday at noon.")

    bob_page = open_page(bob)
    bob_page.goto(edit_url(message))
    expect(lease_state(bob_page)).to_have_attribute("data-lease-state", "waiting")
    # Said in the reader's time (the context's UTC here) and in words.
    until = re.compile(r"alice is editing this message until \d\d:\d\d:\d\d \(in (2 minutes|\d+ seconds)\)")
    expect(lease_state(bob_page)).to_contain_text(until)
    expect(lease_state(bob_page)).to_contain_text("You are next in line")
    expect(bob_page.locator("form#edit-form")).to_have_count(0)
    expect(bob_page.locator("textarea")).to_have_count(0)

    alice_page.get_by_label("Body").fill("Saturday at one.")
    alice_page.get_by_role("button", name="Save").click()
    expect(alice_page).to_have_url(detail_url_re(message))
    expect(alice_page.locator(".flash")).to_contain_text("version 2")

    # Bob's page learns it by itself: his turn, so it opens the editor (the lease kept for him).
    expect(lease_state(bob_page)).to_have_attribute("data-lease-state", "holding", timeout=4_000)
    expect(bob_page.get_by_label("Body")).to_have_value("Saturday at one.")
    bob_page.get_by_label("Body").fill("Saturday at one. I bring lemonade.")
    bob_page.get_by_role("button", name="Save").click()
    expect(bob_page).to_have_url(detail_url_re(message))
    expect(bob_page.locator(".body")).to_have_text("Saturday at one. I bring lemonade.")

    bob_page.get_by_role("link", name=re.compile("History")).click()
    rows = bob_page.locator("table.history tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("bob")
    expect(rows.nth(1)).to_contain_text("alice")
    expect(rows.nth(0).locator("td").first).to_have_text("3")
    expect(rows.nth(1).locator("td").first).to_have_text("2")
    rows.nth(1).get_by_role("link", name="2").click()
    expect(bob_page.locator(".body")).to_have_text("Saturday at one.")


def test_heartbeat_keeps_an_active_editors_lease_past_its_ttl(open_page, alice, bob, make_message, settings):
    settings.MESSAGEBOARD_LEASE_SECONDS = 4  # the page renews every second
    message = make_message()
    page = open_page(alice)
    page.goto(edit_url(message))
    expect(lease_state(page)).to_have_attribute("data-lease-state", "holding")
    token = page.locator("input[name=lease_token]").input_value()
    first_expiry = lease_row(message.pk).expires_at

    body = page.get_by_label("Body")
    body.click()
    page.keyboard.press("Control+End")
    typed_until = time.monotonic() + 5  # longer than the TTL
    while time.monotonic() < typed_until:
        body.press_sequentially(" more", delay=40)

    lease = lease_row(message.pk)
    assert lease.token == token and lease.holder == alice
    assert lease.expires_at > timezone.now()
    assert (lease.expires_at - first_expiry).total_seconds() >= 3
    expect(lease_state(page)).to_have_attribute("data-lease-state", "holding")

    bob_page = open_page(bob)
    bob_page.goto(edit_url(message))
    expect(lease_state(bob_page)).to_contain_text("alice is editing")

    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(detail_url_re(message))
    assert Message.objects.get(pk=message.pk).version == 2
    expect(page.locator(".body")).to_contain_text("Second line. more more")


def test_idle_editor_lets_the_lease_lapse_and_keeps_her_text(open_page, alice, bob, make_message, settings, short_poll):
    settings.MESSAGEBOARD_LEASE_SECONDS = 2  # renewals would come every second
    settings.MESSAGEBOARD_IDLE_SECONDS = 1
    message = make_message(body="Original.")
    alice_page = open_page(alice)
    alice_page.goto(edit_url(message))
    expect(lease_state(alice_page)).to_have_attribute("data-lease-state", "holding")

    # Alice walks away: renewals stop, so the lease runs out by itself.
    assert wait_until(lambda: not EditLease.objects.filter(message=message, expires_at__gt=timezone.now()), timeout=5)
    renewals = [url for url in alice_page.log.requests if url.endswith("/lease/renew/")]
    assert len(renewals) <= 1, renewals

    # Bob's lease must outlast the rest of the story, however slow the machine.
    settings.MESSAGEBOARD_LEASE_SECONDS = 60
    settings.MESSAGEBOARD_IDLE_SECONDS = 900
    bob_page = open_page(bob)
    bob_page.goto(edit_url(message))
    expect(lease_state(bob_page)).to_have_attribute("data-lease-state", "holding")

    # Alice comes back and types: her next renewal is refused and the page says so.
    alice_page.get_by_label("Body").fill("Alice's careful rewrite.")
    expect(lease_state(alice_page)).to_have_attribute("data-lease-state", "lost", timeout=3_000)
    expect(alice_page.get_by_label("Body")).to_have_value("Alice's careful rewrite.")

    alice_page.get_by_role("button", name="Save").click()
    expect(alice_page.get_by_role("alert").first).to_contain_text("Your save was refused")
    expect(lease_state(alice_page)).to_contain_text("bob is editing")
    expect(alice_page.locator("#kept-body")).to_have_value("Alice's careful rewrite.")
    assert Message.objects.get(pk=message.pk).version == 1

    # Bob gives up; Alice waited in line, so her turn opens the editor with her kept text, not the old one.
    bob_page.get_by_role("button", name="Cancel").click()
    expect(bob_page).to_have_url(detail_url_re(message))
    expect(lease_state(alice_page)).to_have_attribute("data-lease-state", "holding", timeout=4_000)
    expect(alice_page.get_by_label("Body")).to_have_value("Alice's careful rewrite.")
    alice_page.get_by_role("button", name="Save").click()
    expect(alice_page).to_have_url(detail_url_re(message))
    expect(alice_page.locator(".body")).to_have_text("Alice's careful rewrite.")


@pytest.mark.parametrize("leave", ["close the tab", "navigate away"])
def test_leaving_the_edit_page_releases_the_lease(open_page, alice, make_message, release_calls, leave):
    message = make_message()
    page = open_page(alice)
    page.goto(edit_url(message))
    expect(lease_state(page)).to_have_attribute("data-lease-state", "holding")
    assert lease_row(message.pk) is not None

    if leave == "close the tab":
        page.close(run_before_unload=True)
    else:
        page.get_by_role("link", name="Messageboard").click()
        expect(page).to_have_url(re.compile(r"/messages/$"))

    assert wait_until(lambda: lease_row(message.pk) is None), "the lease outlived the page"
    assert [call["message_id"] for call in release_calls] == [message.pk]


def test_coming_back_to_the_edit_page_merges_the_draft_with_the_newer_version(open_page, alice, bob, make_message):
    message = make_message(body="Alice wrote this. Bob wrote that.")
    page = open_page(alice)
    page.goto(edit_url(message))
    page.get_by_label("Body").fill("Alice wrote this, twice. Bob wrote that.")
    page.get_by_role("link", name="Messageboard").click()
    expect(page).to_have_url(re.compile(r"/messages/$"))
    assert wait_until(lambda: lease_row(message.pk) is None)
    editing.message_edit_save(
        message_id=message.pk,
        user=bob,
        base_version=1,
        lease_token=None,
        subject=None,
        body="Alice wrote this. Bob wrote that, again.",
    )

    # The browser puts the draft back into the form; the page must not pass it off as based on
    # Bob's version, which a plain save would then overwrite unseen: it is merged with it.
    page.go_back()
    expect(page.locator("#merge-clean")).to_contain_text("Your changes and version 2 were merged")
    expect(page.get_by_label("Body")).to_have_value("Alice wrote this, twice. Bob wrote that, again.")
    expect(lease_state(page)).to_have_attribute("data-lease-state", "holding")
    assert lease_row(message.pk).token == page.locator("input[name=lease_token]").input_value()
    assert page.locator("input[name=base_version]").input_value() == "2"


def test_cancel_releases_and_returns_to_the_message(open_page, alice, make_message):
    message = make_message()
    page = open_page(alice)
    page.goto(edit_url(message))
    page.get_by_label("Body").fill("Never mind.")
    page.get_by_role("button", name="Cancel").click()
    expect(page).to_have_url(detail_url_re(message))
    expect(page.locator(".flash")).to_contain_text("Editing cancelled")
    expect(page.locator(".body")).to_have_text("First version.\nSecond line.")
    assert lease_row(message.pk) is None


def test_saving_is_never_undone_by_the_pages_own_release(open_page, alice, make_message, release_calls):
    message = make_message()
    page = open_page(alice)
    for version in (2, 3, 4):
        page.goto(edit_url(message))
        page.get_by_label("Body").fill(f"Version {version}.")
        page.get_by_role("button", name="Save").click()
        expect(page).to_have_url(detail_url_re(message))
        expect(page.locator(".flash")).to_contain_text(f"version {version}")
    # The save released the lease itself; the page sent no beacon to race it.
    assert release_calls == []
    assert Message.objects.get(pk=message.pk).version == 4
    assert lease_row(message.pk) is None


def test_second_tab_takes_over_and_the_first_tabs_save_keeps_its_text(open_page, alice, make_message, settings):
    settings.MESSAGEBOARD_LEASE_SECONDS = 4
    message = make_message()
    first = open_page(alice)
    first.goto(edit_url(message))
    expect(lease_state(first)).to_have_attribute("data-lease-state", "holding")
    second = open_page(context=first.context)
    second.goto(edit_url(message))
    expect(lease_state(second)).to_have_attribute("data-lease-state", "holding")

    # The first tab's heartbeat finds its token dead and says so.
    expect(lease_state(first)).to_have_attribute("data-lease-state", "lost", timeout=3_000)
    first.get_by_label("Body").fill("Typed in the first tab.")
    first.get_by_role("button", name="Save").click()
    notice = first.locator(".notice")
    expect(notice).to_contain_text("Your save was refused")
    expect(notice).to_contain_text("another tab")
    expect(notice).to_contain_text("Your text is kept")
    expect(first.get_by_label("Body")).to_have_value("Typed in the first tab.")
    assert Message.objects.get(pk=message.pk).version == 1


def test_pages_work_offline_and_within_the_content_security_policy(
    open_page, browser, alice, bob, make_message, live_server
):
    message = make_message()
    visits = {
        None: ["/messages/", f"/messages/{message.pk}/", "/accounts/login/"],
        alice: ["/messages/", f"/messages/{message.pk}/", edit_url(message)],
        bob: [edit_url(message), f"/messages/{message.pk}/history/", "/messages/new/"],
    }
    for user, paths in visits.items():
        page = open_page(user)
        # Offline: anything not for the board's own server fails.
        page.context.route(re.compile(r"^(?!http://127\.0\.0\.1[:/]).*"), lambda route: route.abort())
        for path in paths:
            page.goto(path)
            assert page.evaluate("typeof htmx === 'object' && htmx.version.startsWith('2')"), path
            scripts = page.locator("script[src]").evaluate_all("nodes => nodes.map(node => node.src)")
            htmx_src = [src for src in scripts if "htmx" in src]
            assert htmx_src and all(src.startswith(f"{live_server.url}/static/") for src in htmx_src), scripts
        page.wait_for_timeout(100)
        assert all(url.startswith("http://127.0.0.1:") for url in page.log.requests), page.log.requests
        assert not page.log.csp_violations(), page.log.console
        assert not [text for text in page.log.console if "Failed to load resource" in text], page.log.console

    # The listener does see violations: an inline script is refused and reported.
    context = browser.new_context(base_url=live_server.url)
    try:
        probe = context.new_page()
        console: list[str] = []
        probe.on("console", lambda message: console.append(message.text))
        probe.goto("/messages/")
        probe.evaluate("() => document.body.append(Object.assign(document.createElement('script'), {text: '1'}))")
        probe.wait_for_timeout(100)
        assert any("Content Security Policy" in text for text in console), console
    finally:
        context.close()
