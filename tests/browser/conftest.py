"""Browser fixtures: real Chromium pages against the live server, one context per person.

Every page opened through ``open_page`` records where its requests go, the console and page
errors; at teardown a test fails if any request left the live server or the browser
reported a Content Security Policy violation or a JavaScript error.
"""

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.test import Client
from playwright.sync_api import Browser, BrowserContext, Page

from messages_app import edit_views, editing
from messages_app.models import EditLease

# The board must work with nothing but the machine it runs on: serve it on 127.0.0.1.
os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")

DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


@dataclass
class PageLog:
    requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def foreign_requests(self, origin: str) -> list[str]:
        host = urlsplit(origin).hostname
        return [url for url in self.requests if urlsplit(url).hostname != host and not url.startswith("data:")]

    def csp_violations(self) -> list[str]:
        return [text for text in self.console if "Content Security Policy" in text]


@pytest.fixture
def short_poll(monkeypatch):
    """A waiting editor's page asks every second instead of every five."""
    monkeypatch.setattr(edit_views, "WAIT_POLL_SECONDS", 1)


class RequestsInFlight:
    """Count the live server's requests, so a test ends only once the server is quiet.

    Closing a page fires its last requests (the lease release beacon, a draft's autosave). One
    still running when the test's database flush starts holds row locks the flush's TRUNCATE
    must wait for, and PostgreSQL may break the pair as a deadlock, failing the flush and
    leaving the rows to the next test.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._last_change = time.monotonic()

    def started(self, **kwargs) -> None:
        with self._lock:
            self._running += 1
            self._last_change = time.monotonic()

    def finished(self, **kwargs) -> None:
        with self._lock:
            self._running = max(0, self._running - 1)
            self._last_change = time.monotonic()

    def wait_until_quiet(self, *, quiet: float = 0.3, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._running == 0 and time.monotonic() - self._last_change >= quiet:
                    return True
            time.sleep(0.05)
        return False


@pytest.fixture
def open_page(browser: Browser, live_server) -> Callable[..., Page]:
    """Open a page in a new browser context, logged in as ``user`` (or anonymous).

    ``context=`` opens another tab in an existing context (the same person, a second tab).
    """
    in_flight = RequestsInFlight()
    request_started.connect(in_flight.started, weak=False)
    request_finished.connect(in_flight.finished, weak=False)
    contexts: list[BrowserContext] = []
    logs: list[PageLog] = []

    def open_(
        user=None, *, context: BrowserContext | None = None, viewport: dict | None = None, **context_options
    ) -> Page:
        if context is None:
            # UTC in English unless a test asks for a reader elsewhere (timezone_id=, locale=).
            options = {"timezone_id": "UTC", "locale": "en-GB", **context_options}
            context = browser.new_context(base_url=live_server.url, viewport=viewport or DESKTOP, **options)
            context.set_default_timeout(5_000)
            contexts.append(context)
            if user is not None:
                login_cookie(context, user, live_server.url)
        page = context.new_page()
        log = PageLog()
        logs.append(log)
        page.on("request", lambda request: log.requests.append(request.url))
        page.on("console", lambda message: log.console.append(message.text))
        page.on("pageerror", lambda error: log.errors.append(str(error)))
        page.log = log
        return page

    yield open_
    for context in contexts:
        context.close()
    quiet = in_flight.wait_until_quiet()
    request_started.disconnect(in_flight.started)
    request_finished.disconnect(in_flight.finished)
    assert quiet, "the live server was still answering the pages' requests 10 s after they closed"
    for log in logs:
        assert not log.foreign_requests(live_server.url), "requests left the board"
        assert not log.csp_violations(), "Content Security Policy violations"
        assert not log.errors, "JavaScript errors"


@pytest.fixture
def release_calls(monkeypatch) -> list[dict]:
    """Record every lease release the server carries out (Cancel, or the page's beacon)."""
    calls: list[dict] = []
    original = editing.message_lease_release

    def recording(**kwargs):
        calls.append(kwargs)
        return original(**kwargs)

    monkeypatch.setattr(editing, "message_lease_release", recording)
    return calls


def login_cookie(context: BrowserContext, user, url: str) -> None:
    """Give the browser context a session for ``user`` made by Django's test client."""
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": url}])


def lease_row(message_id: int) -> EditLease | None:
    return EditLease.objects.filter(message_id=message_id).select_related("holder").first()


def wait_until(condition: Callable[[], object], *, timeout: float = 3.0, interval: float = 0.1):
    """Poll ``condition`` (e.g. a database look-up) until it is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
