"""/metrics: who may read it, each metric moving when its event happens, and two gunicorn workers adding up."""

import os
import re
import signal
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.test import Client

from messages_app import editing, services
from messages_app.errors import LeaseHeld, RateLimited
from tests.support.processes import served

pytestmark = pytest.mark.django_db(transaction=True)


def scrape(client: Client | None = None, **headers) -> str:
    answer = (client or Client(REMOTE_ADDR="127.0.0.1")).get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.status_code
    assert answer["Content-Type"].startswith("text/plain")
    return answer.content.decode()


def value(text: str, name: str, **labels) -> float:
    """The sample's value in an exposition, 0 when it is not there yet."""
    wanted = ",".join(f'{key}="{label}"' for key, label in sorted(labels.items()))
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "") + r" ([0-9.e+-]+)$"
    for line in text.splitlines():
        found = re.match(pattern, line)
        if found:
            return float(found[1])
    return 0.0


def moved(name: str, action, **labels) -> float:
    before = value(scrape(), name, **labels)
    action()
    return value(scrape(), name, **labels) - before


def test_only_allowed_addresses_or_the_token_may_read_the_metrics(settings):
    settings.MESSAGEBOARD_METRICS_TOKEN = "scrape-secret-" + "x" * 20
    assert Client(REMOTE_ADDR="203.0.113.9").get("/metrics").status_code == 403
    wrong = Client(REMOTE_ADDR="203.0.113.9").get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    token = Client(REMOTE_ADDR="203.0.113.9").get(
        "/metrics", headers={"Authorization": f"Bearer {settings.MESSAGEBOARD_METRICS_TOKEN}"}
    )
    assert token.status_code == 200
    assert Client(REMOTE_ADDR="::1").get("/metrics").status_code == 200
    settings.MESSAGEBOARD_METRICS_ALLOW = ("10.0.0.0/8",)
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 403


def test_requests_and_database_statements_are_counted(make_message):
    message = make_message()
    client = Client()
    assert (
        moved("messageboard_requests_total", lambda: client.get(f"/messages/{message.pk}/"), method="GET", status="200")
        >= 1
    )
    text = scrape()
    assert value(text, "messageboard_db_queries_total", vendor=_vendor()) > 0


def _vendor() -> str:
    from django.db import connection

    return connection.vendor


def test_lease_grants_refusals_releases_and_breaks_are_counted(make_message, alice, bob, mia):
    message = make_message()
    grant = None

    def take():
        nonlocal grant
        grant = editing.message_lease_acquire(message_id=message.pk, user=alice)

    def refused():
        with pytest.raises(LeaseHeld):
            editing.message_lease_acquire(message_id=message.pk, user=bob)

    assert moved("messageboard_leases_total", take, outcome="granted") == 1
    assert moved("messageboard_leases_total", refused, outcome="refused") == 1
    assert (
        moved(
            "messageboard_leases_total",
            lambda: editing.message_lease_release(message_id=message.pk, user=alice, token=grant.token),
            outcome="released",
        )
        == 1
    )
    take()
    assert (
        moved(
            "messageboard_leases_total",
            lambda: editing.message_lease_break(message_id=message.pk, user=mia),
            outcome="broken",
        )
        == 1
    )


def test_saves_are_counted_and_timed_by_part(make_message, alice):
    message = make_message()

    def save():
        editing.message_edit_save(
            message_id=message.pk, user=alice, base_version=1, lease_token=None, subject=None, body="New text."
        )

    assert moved("messageboard_saves_total", save, outcome="ok") == 1
    text = scrape()
    assert value(text, "messageboard_save_seconds_count", part="body_write") >= 1
    assert value(text, "messageboard_save_seconds_count", part="commit") >= 1


def test_body_cache_hits_and_misses_are_counted(make_message):
    from messages_app import bodies

    message = make_message()
    bodies.body_uncache(message.body_key)
    assert moved("messageboard_body_cache_total", lambda: bodies.body_read(message.body_key), result="miss") == 1
    assert moved("messageboard_body_cache_total", lambda: bodies.body_read(message.body_key), result="hit") == 1


def test_django_cache_hits_misses_and_failed_calls_are_counted():
    from django.core.cache import cache

    backend = cache.backend_label  # locmem without REDIS_URL, redis with it
    key, absent = f"metrics-{uuid.uuid4().hex}", f"metrics-{uuid.uuid4().hex}"
    assert moved("messageboard_cache_gets_total", lambda: cache.get(key), backend=backend, result="miss") == 1
    cache.set(key, "kept")
    assert moved("messageboard_cache_gets_total", lambda: cache.get(key), backend=backend, result="hit") == 1
    assert (
        moved("messageboard_cache_gets_total", lambda: cache.get_many([key, absent]), backend=backend, result="hit")
        == 1
    )

    def unpicklable():
        with pytest.raises(Exception):  # noqa: B017 - whatever the backend's pickler raises
            cache.set(key, lambda: None)

    assert moved("messageboard_cache_errors_total", unpicklable, backend=backend) == 1
    assert cache.get(key) == "kept"


def test_storage_errors_are_counted(make_message, body_storage):
    from messages_app import bodies

    message = make_message()
    body_storage.remove(message.body_key)
    bodies.body_uncache(message.body_key)

    def read():
        with pytest.raises(OSError):
            bodies.body_read(message.body_key)

    assert moved("messageboard_storage_errors_total", read, op="read") == 1


def test_rate_limit_refusals_are_counted(alice, rate_limits, settings):
    from messages_app import ratelimits

    settings.MESSAGEBOARD_RATE_PREVIEWS = "1/minute"
    ratelimits.limit_user("preview_user", alice)

    def refused():
        with pytest.raises(RateLimited):
            ratelimits.limit_user("preview_user", alice)

    assert moved("messageboard_rate_limited_total", refused, limit="preview_user") == 1


def test_drafts_and_searches_are_counted(make_message, alice):
    from messages_app import drafts, search

    message = make_message(body="A shearwater.")
    assert (
        moved(
            "messageboard_drafts_saved_total",
            lambda: drafts.draft_put(
                message_id=message.pk, user=alice, subject=None, body="Draft text.", base_version=1, seq=1
            ),
        )
        == 1
    )
    assert (
        moved(
            "messageboard_searches_total",
            lambda: search.messages_search(viewer=alice, query=search.query_parse("shearwater")),
            outcome="ok",
        )
        == 1
    )


def test_waiting_editors_and_held_leases_are_gauged(make_message, alice):
    message = make_message()
    editing.message_lease_acquire(message_id=message.pk, user=alice)
    text = scrape()
    assert value(text, "messageboard_leases_held") == 1
    assert value(text, "messageboard_lease_queue_length") == 0


def test_two_gunicorn_workers_add_up_and_a_killed_one_still_counts(tmp_path, body_storage):
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_99999.db").write_bytes(b"left by a server before")
    env = {
        "MEDIA_ROOT": str(tmp_path / "media"),
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    with served(env) as address:
        assert not (tmp_path / "metrics" / "counter_99999.db").exists(), "the directory was not emptied at start"
        # Eight at a time: a sync worker answers one request at a time, so both answer some.
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: urllib.request.urlopen(address + "/healthz", timeout=10).close(), range(40)))
        served_text = _scraped(address)
        before = value(served_text, "messageboard_requests_total", method="GET", status="200")
        assert before >= 40
        worker_pids = {path.stem.rsplit("_", 1)[-1] for path in (tmp_path / "metrics").glob("counter_*.db")}
        assert len(worker_pids) == 2, "both workers counted requests, and /metrics added them up"

        os.kill(int(sorted(worker_pids)[0]), signal.SIGKILL)
        time.sleep(1)
        _wait_until_up(address)
        after = value(_scraped(address), "messageboard_requests_total", method="GET", status="200")
        # A dead worker's counts stay in the sum (counters never go back).
        assert after >= before


def _scraped(address: str) -> str:
    with urllib.request.urlopen(address + "/metrics", timeout=10) as answer:
        return answer.read().decode()


def _wait_until_up(address: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(address + "/healthz", timeout=5).close()
            return
        except (OSError, urllib.error.URLError):
            assert time.monotonic() < deadline, "the board did not start"
            time.sleep(0.1)


def test_a_posted_message_moves_no_save_counter(alice):
    # A post is not an edit: only saves of edits and reverts count as saves.
    before = value(scrape(), "messageboard_saves_total", outcome="ok")
    services.message_create(author=alice, subject="New", body="Posted.")
    assert value(scrape(), "messageboard_saves_total", outcome="ok") == before
