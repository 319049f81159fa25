"""Every bad input of the pages gets a clear message on the page and changes nothing."""

import re

import pytest

from messages_app.errors import BODY_EMPTY, SUBJECT_EMPTY, SUBJECT_TOO_LONG
from messages_app.models import EditLease, Message, Revision

pytestmark = pytest.mark.django_db

TOO_LARGE = "The body is larger than the limit of 100 bytes."

BAD_FORMS = [
    pytest.param({"subject": ""}, "This field is required.", id="empty-subject"),
    pytest.param({"subject": "   "}, SUBJECT_EMPTY, id="blank-subject"),
    pytest.param({"subject": "s" * 201}, SUBJECT_TOO_LONG, id="subject-201-chars"),
    pytest.param({"subject": "a\x00b"}, "Null characters are not allowed.", id="nul-subject"),
    pytest.param({"body": ""}, "This field is required.", id="empty-body"),
    pytest.param({"body": " \r\n \r\n"}, BODY_EMPTY, id="blank-body"),
    pytest.param({"body": "b" * 101}, TOO_LARGE, id="body-too-large"),
    pytest.param({"body": "é" * 51}, TOO_LARGE, id="body-too-large-in-bytes"),
    pytest.param({"body": "a\x00b"}, "Null characters are not allowed.", id="nul-body"),
]


def html(response) -> str:
    return response.content.decode()


@pytest.fixture(autouse=True)
def small_body_limit(settings):
    settings.MESSAGEBOARD_MAX_BODY_BYTES = 100


@pytest.mark.parametrize(("change", "error"), BAD_FORMS)
def test_new_message_with_bad_input_says_why_keeps_the_text_and_posts_nothing(alice_client, body_files, change, error):
    data = {"subject": "A subject", "body": "A body", **change}
    response = alice_client.post("/messages/new/", data)
    assert response.status_code in (200, 400)
    page = html(response)
    assert error in page
    assert 'class="errorlist"' in page
    if data["body"].strip() and "\x00" not in data["body"]:
        assert f">\n{data['body']}</textarea>" in page or f">{data['body']}</textarea>" in page
    assert not Message.objects.exists()
    assert body_files() == set()


@pytest.mark.parametrize(("change", "error"), BAD_FORMS)
def test_edit_with_bad_input_says_why_and_changes_nothing(alice_client, make_message, body_files, change, error):
    message = make_message(subject="Kept subject", body="kept body")
    page = html(alice_client.get(f"/messages/{message.pk}/edit/"))
    token = re.search(r'name="lease_token" value="([^"]+)"', page).group(1)
    files = body_files()
    data = {"subject": "A subject", "body": "A body", "base_version": "1", "lease_token": token, **change}
    response = alice_client.post(f"/messages/{message.pk}/edit/", data)
    assert response.status_code == 400
    page = html(response)
    assert error in page
    assert 'class="errorlist"' in page
    assert f'name="lease_token" value="{token}"' in page  # still editing under the same lease
    message.refresh_from_db()
    assert (message.version, message.subject) == (1, "Kept subject")
    assert Revision.objects.count() == 1
    assert body_files() == files
    assert EditLease.objects.get().token == token


@pytest.mark.parametrize("before", ["abc", "-1", "0", "1.5", "1e3", " 1", "²", "0x10"])
def test_malformed_before_cursor_gets_a_clear_400(client, make_message, before):
    make_message()
    response = client.get("/messages/", {"before": before})
    assert response.status_code == 400
    assert "&#x27;before&#x27; must be a positive whole number." in html(response)


def test_malformed_before_cursor_in_history_gets_a_clear_400(client, make_message):
    message = make_message()
    response = client.get(f"/messages/{message.pk}/history/", {"before": "x"})
    assert response.status_code == 400
    assert "&#x27;before&#x27; must be a positive whole number." in html(response)


def test_before_cursor_beyond_any_id_shows_an_empty_page_not_an_error(client, make_message):
    make_message()
    response = client.get("/messages/", {"before": "9" * 30})
    assert response.status_code == 200
    assert "No older messages." in html(response)


@pytest.mark.parametrize("suffix", ["", "history/", "history/1/", "lease/", "delete/", "edit/"])
def test_id_beyond_any_integer_is_not_found(alice_client, body_files, suffix):
    huge = 10**30
    assert alice_client.get(f"/messages/{huge}/{suffix}").status_code == 404
    if suffix in ("edit/", "delete/"):
        data = {"subject": "s", "body": "b", "base_version": "1", "lease_token": "t"}
        assert alice_client.post(f"/messages/{huge}/{suffix}", data).status_code == 404
    assert body_files() == set()
