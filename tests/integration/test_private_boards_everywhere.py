"""Every URL of the board and every API route, walked: none shows a private message to someone who may not read it."""

import json

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from messages_app import editing, leases
from tests.support.api import api_for

pytestmark = pytest.mark.django_db

METHODS = ("GET", "POST", "PUT", "DELETE")
# Answers that say nothing about the message: not found, not signed in, a method the route lacks.
SILENT = {401, 404, 405}


def _routes(patterns, prefix: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def _address(route: str, message_id: int) -> str | None:
    """Fill a route's parameters for the private message; None for routes not about one message or board."""
    if "<int:message_id>" not in route and "<slug:slug>" not in route and "{slug}" not in route:
        return None
    address = route.replace("<int:message_id>", str(message_id)).replace("{int:message_id}", str(message_id))
    for name in ("version", "old", "new"):
        address = address.replace(f"<int:{name}>", "1").replace(f"{{int:{name}}}", "1")
    address = address.replace("<slug:slug>", "private").replace("{slug}", "private")
    # Ninja's routes are regular expressions: anchors and groups off.
    address = address.lstrip("^").rstrip("$")
    return "/" + address


@pytest.fixture
def world(world):
    # Someone on the team edits the private message: its lease holder's name must not leak either.
    editing.message_lease_acquire(message_id=world.messages["private"].pk, user=world.people["editor"])
    return world


def _walked(world) -> list[str]:
    message_id = world.messages["private"].pk
    addresses = sorted({a for a in (_address(r, message_id) for r in _routes(get_resolver().url_patterns)) if a})
    assert any(a.startswith("/api/") for a in addresses) and any(a.startswith("/messages/") for a in addresses)
    assert "/b/private/" in addresses
    return addresses


def _assert_silent(response, world, where: str) -> None:
    text = response.content.decode(errors="replace")
    assert "On private" not in text, where
    assert "A message on the private board" not in text, where
    assert "eve" not in text.split("Signed in as")[0] if response.status_code == 200 else True, where
    if response.status_code in (301, 302):
        assert "/accounts/login/" in response["Location"], where
    else:
        assert response.status_code in SILENT, (where, response.status_code, text[:300])


def test_no_page_or_route_shows_a_private_message_to_a_signed_in_member(world):
    browser = Client()
    browser.force_login(world.people["member"])
    api = api_for(world.people["member"])
    for address in _walked(world):
        for method in METHODS:
            if address.startswith("/api/"):
                response = api.call(method, address, {"subject": "x", "body": "y", "base_version": 1, "seq": 1})
            else:
                response = browser.generic(method, address, "", content_type="application/x-www-form-urlencoded")
            _assert_silent(response, world, f"{method} {address}")


def test_no_page_or_route_shows_a_private_message_to_a_visitor(world):
    visitor = Client()
    for address in _walked(world):
        for method in METHODS:
            body = json.dumps({"subject": "x", "body": "y"}) if address.startswith("/api/") else ""
            response = visitor.generic(method, address, body, content_type="application/json")
            _assert_silent(response, world, f"{method} {address}")


def test_lists_feeds_and_the_boards_page_leave_the_private_board_out(world, client):
    client.force_login(world.people["member"])
    for address in ("/", "/messages/", "/b/open/", "/b/announce/", "/api/messages", "/api/boards"):
        response = client.get(address)
        assert response.status_code == 200, address
        text = response.content.decode()
        assert "On private" not in text and "Restricted" not in text and "Private" not in text, address


def test_the_team_sees_the_private_board_and_its_lease_holder(world, client):
    client.force_login(world.people["named"])
    page = client.get(f"/messages/{world.messages['private'].pk}/").content.decode()
    assert "On private" in page and "eve" in page
    assert "Private" in client.get("/").content.decode()
    assert leases.lease_current(message_id=world.messages["private"].pk).holder == "eve"
