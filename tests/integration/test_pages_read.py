"""Reading pages: list, message, history, and the 404/410 pages, signed in or not."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messages_app import bodies, editing, leases, pagecache, permissions, services
from messages_app.models import Message

pytestmark = [pytest.mark.django_db, pytest.mark.both_storages]


def html(response) -> str:
    return response.content.decode()


def test_root_lists_the_boards_with_their_counters_and_newest_message(client, make_message):
    make_message(subject="Older")
    newest = make_message(subject="Newest here")
    page = client.get("/").content.decode()
    assert "General" in page and f"/messages/{newest.pk}/" in page and "Newest here" in page
    assert '<td class="num">2</td>' in page
    assert 'href="/b/general/"' in page


def test_list_shows_subject_author_updated_time_version_and_who_edits(client, make_message, bob, alice):
    quiet = make_message(subject="Quiet one")
    busy = make_message(subject="Busy one")
    editing.message_edit_save(message_id=busy.pk, user=alice, base_version=1, lease_token=None, subject=None, body="v2")
    leases.lease_acquire(message_id=busy.pk, user=bob)
    response = client.get("/messages/")
    assert response.status_code == 200
    page = html(response)
    rows = page.split("<tr>")[2:]
    assert "Busy one" in rows[0]  # newest first
    assert "Quiet one" in rows[1]
    assert "alice" in rows[0]
    assert '<td class="num">2</td>' in rows[0]
    assert '<td class="num">1</td>' in rows[1]
    updated = Message.objects.get(pk=busy.pk).updated_at
    assert f'<time datetime="{updated.isoformat()}" data-show="date">{updated:%Y-%m-%d %H:%M} UTC</time>' in rows[0]
    assert '<span class="badge editing">bob</span>' in rows[0]
    assert "badge editing" not in rows[1]
    assert f'href="/messages/{quiet.pk}/"' in rows[1]


def test_list_opens_no_body_file(client, make_message, body_storage, opened_bodies):
    for n in range(5):
        make_message(subject=f"Message {n}")
    for key in body_storage.stored_keys():
        body_storage.remove(key)
        bodies.body_uncache(key)
    response = client.get("/messages/")
    assert response.status_code == 200
    assert all(f"Message {n}" in html(response) for n in range(5))
    assert opened_bodies == []


def test_list_queries_do_not_grow_with_the_number_of_messages(
    alice_client, many_messages, bob, django_assert_max_num_queries, settings
):
    # Bob holds ten leases: more than the per-user limit allows, to fill the list with badges.
    settings.MESSAGEBOARD_MAX_LEASES_PER_USER = 0
    ids = many_messages(5)
    leases.lease_acquire(message_id=ids[0], user=bob)
    alice_client.get("/messages/")  # the session is cached from here on, as for any repeat visitor
    pagecache.clear()  # rendered afresh, both times: the rendering is what is measured
    with CaptureQueriesContext(connection) as few:
        assert alice_client.get("/messages/").status_code == 200
    ids = many_messages(55)
    for message_id in ids[:10]:
        leases.lease_acquire(message_id=message_id, user=bob)
    pagecache.clear()
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = alice_client.get("/messages/")
    assert html(response).count("badge editing") == 10
    assert len(few.captured_queries) <= 3


def test_anonymous_list_page_is_two_queries_and_one_once_kept(client, many_messages, django_assert_num_queries):
    many_messages(60)
    # The grants, as every process keeps them after its first request (permissions.py).
    permissions.access(AnonymousUser())
    # Both generations (what changed, and which boards the reader may read) in one read, then the rows.
    with django_assert_num_queries(2):
        first = client.get("/messages/")
    with django_assert_num_queries(1):  # both generations: unchanged, so the page is kept
        again = client.get("/messages/")
    assert first.content == again.content


def test_list_pages_with_before_50_at_a_time(client, many_messages):
    ids = many_messages(60)
    first = html(client.get("/messages/"))
    assert first.count('<td><a href="/messages/') == 50
    assert f'href="?before={ids[49]}"' in first
    second = client.get(f"/messages/?before={ids[49]}")
    assert second.status_code == 200
    page = html(second)
    assert page.count('<td><a href="/messages/') == 10
    assert f"/messages/{ids[50]}/" in page
    assert f"/messages/{ids[49]}/" not in page
    assert "?before=" not in page  # the last page has no older link
    assert "« Newest" in page


def test_list_htmx_request_gets_only_the_list_fragment(client, many_messages):
    ids = many_messages(60)
    response = client.get(f"/messages/?before={ids[49]}", headers={"HX-Request": "true"})
    page = html(response)
    assert page.lstrip().startswith('<section id="message-list">')
    assert "<html" not in page
    assert "HX-Request" in response["Vary"]


def test_empty_list_says_so(client):
    assert "No messages yet." in html(client.get("/messages/"))


def test_deleted_messages_are_not_listed(client, make_message, alice):
    make_message(subject="Still here")
    gone = make_message(subject="Gone now")
    services.message_delete(message_id=gone.pk, user=alice)
    page = html(client.get("/messages/"))
    assert "Still here" in page
    assert "Gone now" not in page


def test_detail_shows_escaped_body_with_line_breaks_author_and_version(client, make_message):
    message = make_message(subject="<b>bold</b> & co", body="<script>alert(1)</script>\nline two\n\nline four")
    response = client.get(f"/messages/{message.pk}/")
    assert response.status_code == 200
    page = html(response)
    assert "<script>alert(1)</script>" not in page
    # Markdown: a line break stays one (<br>), a blank line starts a paragraph; HTML is text.
    assert "<p>&lt;script&gt;alert(1)&lt;/script&gt;<br>\nline two</p>\n<p>line four</p>\n</div>" in page
    assert "<h1>&lt;b&gt;bold&lt;/b&gt; &amp; co</h1>" in page
    assert "<title>&lt;b&gt;bold&lt;/b&gt; &amp; co · Messageboard</title>" in page
    assert "<strong>alice</strong>" in page
    assert "version 1" in page


def test_detail_says_who_is_editing_and_until_when(client, make_message, bob):
    message = make_message()
    grant = leases.lease_acquire(message_id=message.pk, user=bob)
    page = html(client.get(f"/messages/{message.pk}/"))
    assert "<strong>bob</strong> is editing this message" in page
    assert f"{grant.expires_at:%H:%M:%S} UTC" in page


def test_detail_of_an_edited_message_names_the_last_editor(client, make_message, bob):
    message = make_message()
    editing.message_edit_save(
        message_id=message.pk, user=bob, base_version=1, lease_token=None, subject=None, body="bob's text"
    )
    page = html(client.get(f"/messages/{message.pk}/"))
    assert "version 2, last edited by <strong>bob</strong>" in page
    assert "<p>bob's text" in page


def test_history_lists_every_version_newest_first_with_author_and_time(client, make_message, bob):
    message = make_message(subject="First subject")
    editing.message_edit_save(
        message_id=message.pk, user=bob, base_version=1, lease_token=None, subject="Second subject", body="two"
    )
    response = client.get(f"/messages/{message.pk}/history/")
    assert response.status_code == 200
    rows = html(response).split("<tr>")[2:]
    assert len(rows) == 2
    assert f'/messages/{message.pk}/history/2/">2</a>' in rows[0]
    assert "Second subject" in rows[0]
    assert "<td>bob</td>" in rows[0]
    assert "First subject" in rows[1]
    assert "<td>alice</td>" in rows[1]
    assert "<time datetime=" in rows[1]


def test_old_version_page_shows_that_versions_full_text(client, make_message, bob):
    message = make_message(subject="Old", body="the <old> text\nin two lines")
    editing.message_edit_save(
        message_id=message.pk, user=bob, base_version=1, lease_token=None, subject="New", body="the new text"
    )
    response = client.get(f"/messages/{message.pk}/history/1/")
    assert response.status_code == 200
    page = html(response)
    assert "the &lt;old&gt; text<br>\nin two lines" in page
    assert "the new text" not in page
    assert "version 1 · saved by <strong>alice</strong>" in page
    assert "the new text" in html(client.get(f"/messages/{message.pk}/history/2/"))


@pytest.mark.parametrize(
    "url",
    ["/messages/999/", "/messages/999/history/", "/messages/999/history/1/", "/messages/999/lease/"],
)
def test_unknown_message_gets_the_404_page(client, url):
    response = client.get(url)
    assert response.status_code == 404
    assert "There is no such message." in html(response)
    assert "Back to all messages" in html(response)


def test_unknown_version_gets_the_404_page(client, make_message):
    message = make_message()
    response = client.get(f"/messages/{message.pk}/history/2/")
    assert response.status_code == 404
    assert "That message has no such version." in html(response)


def test_unknown_address_gets_the_404_page(client):
    response = client.get("/messages/not-a-number/")
    assert response.status_code == 404
    assert "There is no page at this address." in html(response)


@pytest.mark.parametrize("suffix", ["", "history/", "history/1/", "lease/"])
def test_deleted_message_gets_the_410_page(client, make_message, alice, suffix):
    message = make_message()
    services.message_delete(message_id=message.pk, user=alice)
    response = client.get(f"/messages/{message.pk}/{suffix}")
    assert response.status_code == 410
    assert "This message was deleted." in html(response)
    assert "Restore it" not in html(response)


def test_anonymous_visitor_reads_list_message_and_history(client, make_message):
    message = make_message(subject="Public", body="for everyone")
    assert "Public" in html(client.get("/messages/"))
    assert "for everyone" in html(client.get(f"/messages/{message.pk}/"))
    assert client.get(f"/messages/{message.pk}/history/").status_code == 200
    assert client.get(f"/messages/{message.pk}/history/1/").status_code == 200
    assert "Log in" in html(client.get("/messages/"))


def test_detail_offers_delete_only_to_the_author(client, make_message, alice, bob):
    message = make_message()
    client.force_login(bob)
    assert f"/messages/{message.pk}/delete/" not in html(client.get(f"/messages/{message.pk}/"))
    client.force_login(alice)
    assert f"/messages/{message.pk}/delete/" in html(client.get(f"/messages/{message.pk}/"))
