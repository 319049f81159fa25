"""The list's template filters say what Django's own tags would."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse, set_script_prefix

from messages_app.templatetags.board import clock, message_url, when


@pytest.mark.parametrize("message_id", [1, 9, 10, 987654321, 2**63 - 1])
def test_message_url_is_what_reverse_gives(message_id):
    assert message_url(message_id) == reverse("messages_app:message-detail", args=[message_id])


def test_message_url_follows_the_script_prefix():
    # Served under a sub-path (SCRIPT_NAME), links must carry it, as {% url %} does.
    set_script_prefix("/board/")
    try:
        assert message_url(7) == "/board/messages/7/" == reverse("messages_app:message-detail", args=[7])
    finally:
        set_script_prefix("/")


def test_message_url_refuses_what_is_not_an_id():
    with pytest.raises(ValueError):
        message_url("7/../../admin")


def test_times_are_time_elements_in_utc_until_the_script_localises_them():
    moment = datetime(2026, 12, 6, 5, 4, 3, tzinfo=UTC)
    assert when(moment) == '<time datetime="2026-12-06T05:04:03+00:00" data-show="date">2026-12-06 05:04 UTC</time>'
    assert "05:04:03 UTC" in when(moment, "seconds")
    assert clock(moment) == '<time datetime="2026-12-06T05:04:03+00:00" data-show="clock">05:04:03 UTC</time>'
    assert when(None) == "" and clock(None) == ""
