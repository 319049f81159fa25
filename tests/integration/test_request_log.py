"""Request ids and JSON log lines: one per request, per lease transition and per save, never any text."""

import json
import logging

import pytest
from django.test import Client

from messageboard.logs import JsonFormatter
from messages_app import editing, selectors
from messages_app.errors import LeaseHeld

pytestmark = pytest.mark.django_db

SECRET_TEXT = "the-body-text-that-must-never-be-logged"


def lines(caplog, logger: str) -> list[dict]:
    """The records of one logger, written as the board writes them."""
    formatter = JsonFormatter()
    return [json.loads(formatter.format(record)) for record in caplog.records if record.name == logger]


@pytest.fixture
def caplog(caplog):
    caplog.set_level(logging.INFO, logger="messageboard")
    # The board's loggers write to their own handler only; caplog's sits on the root.
    logging.getLogger("messageboard").propagate = True
    yield caplog
    logging.getLogger("messageboard").propagate = False


def test_every_answer_carries_a_request_id_and_one_json_line(client, make_message, caplog):
    message = make_message()
    answer = client.get(f"/messages/{message.pk}/?q=secret-search-words")

    request_id = answer["X-Request-ID"]
    assert len(request_id) == 32
    (line,) = lines(caplog, "messageboard.requests")
    assert line["event"] == "request" and line["request_id"] == request_id
    assert line["method"] == "GET" and line["path"] == f"/messages/{message.pk}/"
    assert line["status"] == 200 and line["duration_ms"] >= 0
    assert "secret-search-words" not in json.dumps(line)


def test_a_sane_id_from_the_proxy_is_kept_and_anything_else_replaced(client):
    assert client.get("/healthz", headers={"X-Request-ID": "nginx-1a2b.3c_4"})["X-Request-ID"] == "nginx-1a2b.3c_4"
    for forged in ("a b", "x" * 65, '"}{"level": "CRITICAL', "\u00e9t\u00e9"):
        replaced = client.get("/healthz", headers={"X-Request-ID": forged})["X-Request-ID"]
        assert replaced != forged and len(replaced) == 32


def test_a_signed_in_request_names_its_user(alice_client, alice, make_message, caplog):
    message = make_message()
    alice_client.get(f"/messages/{message.pk}/edit/")
    request_lines = lines(caplog, "messageboard.requests")
    assert request_lines[-1]["user_id"] == alice.pk


def test_saves_and_lease_transitions_are_logged_with_their_outcome_and_no_text(make_message, alice, bob, caplog):
    message = make_message(body=SECRET_TEXT)
    grant = editing.message_lease_acquire(message_id=message.pk, user=alice)
    with pytest.raises(LeaseHeld):
        editing.message_lease_acquire(message_id=message.pk, user=bob)
    editing.message_edit_save(
        message_id=message.pk,
        user=alice,
        base_version=1,
        lease_token=grant.token,
        subject=None,
        body=SECRET_TEXT + " and more",
        release_lease=True,
    )

    events = lines(caplog, "messageboard.events")
    assert [(line["event"], line["outcome"], line["user_id"]) for line in events] == [
        ("lease.acquire", "ok", alice.pk),
        ("lease.acquire", "LeaseHeld", bob.pk),
        ("save", "ok", alice.pk),
    ]
    assert events[-1]["version"] == 2 and events[-1]["message_id"] == message.pk
    assert all(line["duration_ms"] >= 0 for line in events)
    assert SECRET_TEXT not in json.dumps(events)
    assert grant.token not in json.dumps(events)


def test_the_500_page_shows_the_request_id_to_quote(make_message, monkeypatch, caplog):
    message = make_message()

    def broken(**kwargs):
        raise RuntimeError("the database fell over")

    monkeypatch.setattr(selectors, "message_fetch", broken)
    client = Client(raise_request_exception=False)
    answer = client.get(f"/messages/{message.pk}/", headers={"X-Request-ID": "quote-me-123"})

    assert answer.status_code == 500
    assert answer["X-Request-ID"] == "quote-me-123"
    assert "quote-me-123" in answer.content.decode()
    (line,) = [line for line in lines(caplog, "messageboard.requests") if line["status"] == 500]
    assert line["request_id"] == "quote-me-123"


def test_the_log_level_setting_quiets_the_request_lines(client, caplog):
    logging.getLogger("messageboard").setLevel(logging.WARNING)
    try:
        client.get("/healthz")
    finally:
        logging.getLogger("messageboard").setLevel(logging.INFO)
    assert lines(caplog, "messageboard.requests") == []
