"""The permission matrix through the pages, the API and the admin: each role on each board's message.

tests/unit/test_board_permissions.py holds the rules; here every way in answers as they say.
"""

import pytest
from django.test import Client

from messages_app.models import EditLease, Message
from tests.support.api import ApiClient, api_for
from tests.support.boards import ROLES, signed_in

pytestmark = pytest.mark.django_db


def _row(value: str) -> dict[str, str]:
    # One letter per role in ROLES order: Y allowed, N refused (403), H hidden (404), L sign in first.
    assert len(value) == len(ROLES)
    return dict(zip(ROLES, value, strict=True))


#                    vis mem pos edi nam bmo smo
READ_PAGE = {
    "open": _row("YYYYYYY"),
    "private": _row("HHYYYYY"),
    "announce": _row("YYYYYYY"),
    "restricted": _row("HHYYYYY"),
}
EDIT = {
    "open": _row("LYYYYYY"),
    "private": _row("LHYYYYY"),
    "announce": _row("LNYNNNY"),
    "restricted": _row("LHYNYYY"),
}
DELETE = {
    "open": _row("LNYNNNY"),
    "private": _row("LHYNNYY"),
    "announce": _row("LNYNNNY"),
    "restricted": _row("LHYNNYY"),
}
ADMIN = {  # a message's change page in the admin
    "open": _row("LLLLLNY"),
    "private": _row("LLLLLYY"),
}
STATUS = {
    "page": {"Y": {200}, "H": {404}},
    "edit page": {"Y": {200}, "N": {403}, "H": {404}, "L": {302}},
    "api put": {"Y": {200}, "N": {403}, "H": {404}, "L": {401}},
    "api delete": {"Y": {204}, "N": {403}, "H": {404}, "L": {401}},
    "admin": {"Y": {200}, "N": {302, 403, 404}, "L": {302}},
}


def _browser(world, role):
    person = world.people[role]
    return signed_in(person) if person.is_authenticated else Client()


def _api(world, role) -> ApiClient:
    person = world.people[role]
    return api_for(person) if person.is_authenticated else ApiClient()


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_edits_and_deletes_each_boards_message_as_the_rules_say(world, role):
    for name, message in world.messages.items():
        browser, api = _browser(world, role), _api(world, role)
        expected = READ_PAGE[name][role]
        assert browser.get(f"/messages/{message.pk}/").status_code in STATUS["page"][expected], (role, name)
        assert api.get(f"/api/messages/{message.pk}").status_code in STATUS["page"][expected], (role, name)

        expected = EDIT[name][role]
        response = browser.get(f"/messages/{message.pk}/edit/")
        assert response.status_code in STATUS["edit page"][expected], (role, name, response.status_code)
        EditLease.objects.filter(message=message).delete()  # the edit page took it: free for the API's PUT
        version = Message.objects.get(pk=message.pk).version
        response = api.put(
            f"/api/messages/{message.pk}", {"body": f"By {role}.\n"}, headers={"If-Match": f'"{version}"'}
        )
        assert response.status_code in STATUS["api put"][expected], (role, name, response.content)

        expected = DELETE[name][role]
        version = Message.objects.get(pk=message.pk).version
        response = api.delete(f"/api/messages/{message.pk}", headers={"If-Match": f'"{version}"'})
        assert response.status_code in STATUS["api delete"][expected], (role, name, response.content)
        if response.status_code == 204:
            assert api.post(f"/api/messages/{message.pk}/restore").status_code == 200, (role, name)


@pytest.mark.parametrize("role", ROLES)
def test_the_admin_shows_a_message_only_to_its_boards_moderators(world, role):
    for name, expected in ADMIN.items():
        message = world.messages[name]
        response = _browser(world, role).get(f"/admin/messages_app/message/{message.pk}/change/")
        assert response.status_code in STATUS["admin"][expected[role]], (role, name, response.status_code)
