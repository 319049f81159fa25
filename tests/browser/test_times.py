"""Times are shown in the reader's own time zone, as "in 2 minutes" / "3 hours ago" where that
reads better; without the page's script they stay UTC and say so (issue 12, "Times a person reads")."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from messages_app import editing, services
from messages_app.models import Revision

pytestmark = pytest.mark.django_db(transaction=True)

TOKYO = {"timezone_id": "Asia/Tokyo", "locale": "en-US"}  # UTC+9 all year


def test_a_lease_expiry_is_said_in_the_readers_time_and_in_words(open_page, make_message, alice, bob):
    message = make_message()
    editing.message_lease_acquire(message_id=message.pk, user=alice)
    page = open_page(bob, **TOKYO)
    page.goto(f"/messages/{message.pk}/edit/")
    expiry = page.locator("#lease-status time")
    expect(expiry).to_have_text(re.compile(r"^\d{1,2}:\d\d:\d\d [AP]M \(in (2 minutes|\d+ seconds)\)$"))
    expect(expiry).to_have_attribute("title", re.compile(r"GMT\+9"))
    # The hour is Tokyo's, not the server's UTC.
    shown_hour = int(expiry.inner_text().split(":")[0]) % 12
    expected_hour = (services.leases.lease_current(message_id=message.pk).expires_at + timedelta(hours=9)).hour % 12
    assert shown_hour == expected_hour


def test_recent_versions_read_as_so_long_ago_and_old_ones_as_a_local_date(open_page, make_message, alice):
    message = make_message()
    editing.message_edit_save(
        message_id=message.pk, user=alice, base_version=1, lease_token=None, subject=None, body="Second."
    )
    Revision.objects.filter(message=message, version=1).update(created_at=timezone.now() - timedelta(days=30))
    page = open_page(alice, **TOKYO)
    page.goto(f"/messages/{message.pk}/history/")
    times = page.locator("td time")
    expect(times.nth(0)).to_have_text(re.compile(r"^(now|\d+ seconds? ago)$"))
    expect(times.nth(1)).to_have_text(re.compile(r"^[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d [AP]M$"))
    expect(times.nth(1)).not_to_contain_text("UTC")


def test_without_the_script_times_say_they_are_utc(client, make_message, alice):
    message = make_message()
    html = client.get(f"/messages/{message.pk}/history/").content.decode()
    assert re.search(r'<time datetime="[^"]+" data-show="date">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</time>', html)
