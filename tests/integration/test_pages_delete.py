"""Deleting and restoring through the pages."""

import pytest

from messages_app import bodies, leases
from messages_app.models import EditLease, Message

pytestmark = [pytest.mark.django_db, pytest.mark.both_storages]


def html(response) -> str:
    return response.content.decode()


def test_delete_page_asks_the_author_to_confirm(alice_client, make_message):
    message = make_message(subject="Doomed <one>")
    response = alice_client.get(f"/messages/{message.pk}/delete/")
    assert response.status_code == 200
    page = html(response)
    assert "Delete “Doomed &lt;one&gt;”?" in page
    assert f'action="/messages/{message.pk}/delete/"' in page
    assert Message.objects.visible().count() == 1


def test_author_confirms_and_the_message_is_soft_deleted_without_reading_its_file(
    alice_client, make_message, alice, body_storage, opened_bodies, body_files
):
    message = make_message(subject="Doomed")
    files = body_files()
    bodies.body_uncache(message.body_key)
    response = alice_client.post(f"/messages/{message.pk}/delete/", follow=True)
    assert response.redirect_chain == [("/messages/", 302)]
    assert "“Doomed” is deleted. Its author or a moderator can restore it." in html(response)
    row = Message.objects.get(pk=message.pk)
    assert row.deleted_at is not None
    assert row.deleted_by == alice
    assert opened_bodies == []
    assert body_files() == files  # soft: the file stays for a restore
    assert "Doomed</a>" not in html(alice_client.get("/messages/"))


@pytest.mark.parametrize("method", ["get", "post"])
def test_someone_else_may_not_delete(bob_client, make_message, method):
    message = make_message()
    response = getattr(bob_client, method)(f"/messages/{message.pk}/delete/")
    assert response.status_code == 403
    assert "Only the author or a moderator can delete this message." in html(response)
    assert Message.objects.visible().filter(pk=message.pk).exists()


def test_delete_is_refused_while_another_user_holds_the_lease(alice_client, make_message, bob):
    message = make_message()
    leases.lease_acquire(message_id=message.pk, user=bob)
    response = alice_client.post(f"/messages/{message.pk}/delete/", follow=True)
    assert response.redirect_chain == [(f"/messages/{message.pk}/", 302)]
    assert "The message was not deleted: bob is editing this message until" in html(response)
    assert Message.objects.visible().filter(pk=message.pk).exists()
    assert leases.lease_current(message_id=message.pk).holder == "bob"


def test_author_may_delete_while_holding_the_lease_and_it_goes_too(alice_client, make_message, alice):
    message = make_message()
    leases.lease_acquire(message_id=message.pk, user=alice)
    assert alice_client.post(f"/messages/{message.pk}/delete/").status_code == 302
    assert Message.objects.get(pk=message.pk).deleted_at is not None
    assert not EditLease.objects.exists()


def test_deleted_message_shows_the_author_a_restore_button_that_works(alice_client, make_message):
    message = make_message(body="back again")
    alice_client.post(f"/messages/{message.pk}/delete/")
    gone = alice_client.get(f"/messages/{message.pk}/")
    assert gone.status_code == 410
    assert f'action="/messages/{message.pk}/restore/"' in html(gone)
    assert "Restore it" in html(gone)
    response = alice_client.post(f"/messages/{message.pk}/restore/", follow=True)
    assert response.redirect_chain == [(f"/messages/{message.pk}/", 302)]
    assert response.status_code == 200
    assert "The message is restored." in html(response)
    assert "back again" in html(response)
    assert Message.objects.visible().filter(pk=message.pk).exists()


def test_deleted_message_offers_no_restore_to_others_and_refuses_theirs(alice_client, bob_client, make_message):
    message = make_message()
    alice_client.post(f"/messages/{message.pk}/delete/")
    gone = bob_client.get(f"/messages/{message.pk}/")
    assert gone.status_code == 410
    assert "Restore it" not in html(gone)
    response = bob_client.post(f"/messages/{message.pk}/restore/")
    assert response.status_code == 403
    assert Message.objects.get(pk=message.pk).deleted_at is not None


def test_deleting_a_deleted_message_gets_the_410_page(alice_client, make_message):
    message = make_message()
    alice_client.post(f"/messages/{message.pk}/delete/")
    assert alice_client.get(f"/messages/{message.pk}/delete/").status_code == 410
    assert alice_client.post(f"/messages/{message.pk}/delete/").status_code == 410


def test_deleting_an_unknown_message_gets_the_404_page(alice_client):
    assert alice_client.get("/messages/999/delete/").status_code == 404
    assert alice_client.post("/messages/999/delete/").status_code == 404
    assert alice_client.post("/messages/999/restore/").status_code == 404
