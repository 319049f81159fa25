"""A reader left on a message page is told when a new version is saved, for the price of a 304."""

import pytest

from messages_app import editing, services

pytestmark = pytest.mark.django_db


def changes_url(message, seen) -> str:
    return f"/messages/{message.pk}/changes/?seen={seen}"


def test_the_message_page_asks_about_changes_since_the_version_it_shows(client, make_message):
    message = make_message()
    page = client.get(f"/messages/{message.pk}/").content.decode()
    assert f'hx-get="/messages/{message.pk}/changes/?seen=1"' in page
    assert 'hx-trigger="every 30s"' in page


def test_nothing_new_is_a_304_on_revalidation_and_costs_one_query(client, make_message, django_assert_num_queries):
    message = make_message()
    first = client.get(changes_url(message, 1))
    assert first.status_code == 200
    assert "changed" not in first.content.decode()
    assert first["Cache-Control"] == "no-cache"
    with django_assert_num_queries(1):
        again = client.get(changes_url(message, 1), HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    assert again.content == b""


def test_a_new_version_is_announced_with_a_link_and_the_polling_stops(client, make_message, bob):
    message = make_message()
    first = client.get(changes_url(message, 1))
    editing.message_edit_save(
        message_id=message.pk, user=bob, base_version=1, lease_token=None, subject=None, body="Bob's version."
    )
    response = client.get(changes_url(message, 1), HTTP_IF_NONE_MATCH=first["ETag"])
    assert response.status_code == 200
    html = response.content.decode()
    assert "This message changed while you read it: it is at version 2 now." in html
    assert f'href="/messages/{message.pk}/"' in html
    assert "hx-get" not in html


def test_a_deleted_message_is_announced_as_deleted(client, make_message, alice):
    message = make_message(author=alice)
    services.message_delete(message_id=message.pk, user=alice)
    response = client.get(changes_url(message, 1))
    assert response.status_code == 200
    assert "This message was deleted while you read it." in response.content.decode()


@pytest.mark.parametrize("seen", ["x", "-1", "²", ""])
def test_a_bad_version_is_a_clear_400(client, make_message, seen):
    message = make_message()
    response = client.get(f"/messages/{message.pk}/changes/?seen={seen}")
    if seen == "":
        # No version named: whatever the message is at, it is news.
        assert response.status_code == 200
    else:
        assert response.status_code == 400
        assert "must be a positive whole number." in response.content.decode()


def test_an_unknown_message_is_404(client):
    assert client.get("/messages/999999/changes/?seen=1").status_code == 404
