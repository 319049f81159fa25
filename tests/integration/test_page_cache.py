"""The kept articles and list pages (messages_app/pagecache.py) never show what is no longer true.

Each test first has the page kept (requested once), then changes what it shows through the
way a person or an operator would, and asserts the next request shows the change. A kept page
that survived the change would fail here.
"""

import time
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import constants
from django.contrib.messages.storage.base import Message as Notice
from django.contrib.messages.storage.cookie import CookieStorage
from django.db import connection, transaction
from django.http import HttpRequest
from django.test import Client
from django.utils import timezone

from messages_app import boards, editing, leases, pagecache, services
from messages_app.models import EditLease, Message

pytestmark = pytest.mark.django_db


def text(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def first_row(client) -> str:
    return text(client.get("/messages/")).split("<tr>")[2]


@pytest.fixture
def listed(client, make_message):
    """A message on the list, with the list kept."""
    message = make_message(subject="Kept subject")
    assert "Kept subject" in first_row(client)
    return message


def test_a_kept_list_page_is_served_until_something_on_it_changes(client, listed, django_assert_num_queries):
    kept = text(client.get("/messages/"))
    with django_assert_num_queries(1):  # the list generation alone
        assert text(client.get("/messages/")) == kept


def test_a_post_shows_on_the_kept_list(client, listed, make_message):
    make_message(subject="Posted after")
    assert "Posted after" in first_row(client)


def test_a_save_shows_its_subject_and_version_on_the_kept_list(client, listed, alice):
    editing.message_edit_save(
        message_id=listed.pk, user=alice, base_version=1, lease_token=None, subject="Saved subject", body="v2"
    )
    row = first_row(client)
    assert "Saved subject" in row
    assert '<td class="num">2</td>' in row


def test_a_delete_and_a_restore_show_on_the_kept_list(client, listed, make_message, alice):
    make_message(subject="Older one")
    services.message_delete(message_id=listed.pk, user=alice)
    assert "Kept subject" not in text(client.get("/messages/"))
    services.message_restore(message_id=listed.pk, user=alice)
    assert "Kept subject" in text(client.get("/messages/"))


def test_a_lease_taken_released_or_broken_shows_on_the_kept_list(client, listed, bob, mia):
    grant = leases.lease_acquire(message_id=listed.pk, user=bob)
    assert '<span class="badge editing">bob</span>' in first_row(client)
    leases.lease_release(message_id=listed.pk, user=bob, token=grant.token)
    assert "badge editing" not in first_row(client)
    leases.lease_acquire(message_id=listed.pk, user=bob)
    assert "badge editing" in first_row(client)
    editing.message_lease_break(message_id=listed.pk, user=mia)
    assert "badge editing" not in first_row(client)


def test_a_lease_that_runs_out_leaves_the_kept_list_when_it_expires(client, listed, bob, settings):
    # No event marks an expiry: the kept page goes stale at the first expiry it shows.
    settings.MESSAGEBOARD_LEASE_SECONDS = 1
    leases.lease_acquire(message_id=listed.pk, user=bob)
    assert "badge editing" in first_row(client)
    time.sleep(1.2)
    assert "badge editing" not in first_row(client)


def test_a_renamed_author_shows_on_the_kept_list(client, listed, alice):
    alice.username = "alicia"
    alice.save()
    assert "<td>alicia</td>" in first_row(client)


def test_a_sign_in_does_not_move_the_list_generation(client, listed, alice):
    before = pagecache.list_generation()
    Client().force_login(alice)  # saves last_login only
    assert pagecache.list_generation() == before


def test_the_htmx_section_and_the_whole_page_are_kept_apart(client, listed):
    whole = text(client.get("/messages/"))
    section = text(client.get("/messages/", headers={"HX-Request": "true"}))
    assert "<html" in whole and "<html" not in section
    assert section.lstrip().startswith('<section id="message-list">')
    assert "<html" in text(client.get("/messages/"))


def test_the_empty_list_invites_a_member_but_not_a_visitor_to_post(alice_client):
    visitor = Client()
    assert "Post the first one" not in text(visitor.get("/messages/"))
    assert "Post the first one" in text(alice_client.get("/messages/"))
    assert "Post the first one" not in text(visitor.get("/messages/"))


def test_subjects_and_names_are_escaped_in_kept_pages(client, make_user, make_message):
    author = make_user("<b>eve</b>")
    message = make_message(subject="<script>alert(1)</script>", body="<img src=x onerror=alert(1)>", author=author)
    for page in (text(client.get("/messages/")), text(client.get(f"/messages/{message.pk}/"))):
        assert "<script>alert" not in page and "<b>eve</b>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "&lt;b&gt;eve&lt;/b&gt;" in page
    assert "<img src=x" not in text(client.get(f"/messages/{message.pk}/"))


def test_many_distinct_list_pages_stay_within_the_cache_budget(client, many_messages, settings):
    # A hostile reader asking for every ?before= there is cannot grow the process without end.
    settings.MESSAGEBOARD_PAGE_CACHE_BYTES = 256 * 1024
    ids = many_messages(300)
    for before in ids:
        assert client.get(f"/messages/?before={before}").status_code == 200
    kept = pagecache._cache("list")
    assert 0 < kept.bytes <= settings.MESSAGEBOARD_PAGE_CACHE_BYTES // len(pagecache.KINDS)
    assert len(kept) < len(ids)


# --- the message page's article ---------------------------------------------------------------


def test_a_kept_article_opens_no_body_file(client, make_message, opened_bodies):
    message = make_message(body="Read once.")
    assert "Read once." in text(client.get(f"/messages/{message.pk}/"))
    opened = len(opened_bodies)
    assert "Read once." in text(client.get(f"/messages/{message.pk}/"))
    assert len(opened_bodies) == opened


def test_a_new_version_replaces_the_kept_article(client, make_message, alice):
    message = make_message(body="First words.")
    assert "First words." in text(client.get(f"/messages/{message.pk}/"))
    editing.message_edit_save(
        message_id=message.pk, user=alice, base_version=1, lease_token=None, subject=None, body="Second words."
    )
    page = text(client.get(f"/messages/{message.pk}/"))
    assert "Second words." in page and "First words." not in page
    assert "History (2 versions)" in page


def test_a_lease_and_a_protection_show_on_the_kept_article(client, make_message, bob, mia):
    message = make_message()
    assert "is editing this message" not in text(client.get(f"/messages/{message.pk}/"))
    leases.lease_acquire(message_id=message.pk, user=bob)
    assert "<strong>bob</strong> is editing this message" in text(client.get(f"/messages/{message.pk}/"))
    services.message_protect(message_id=message.pk, user=mia)
    page = text(client.get(f"/messages/{message.pk}/"))
    assert "data-protected" in page
    assert ">Edit</a>" not in page  # a visitor is not offered what no sign-in allows


def test_each_viewer_sees_the_buttons_of_their_role_on_a_kept_article(client, make_message, alice, bob, mia):
    message = make_message()  # by alice
    url = f"/messages/{message.pk}/"
    viewers = {"visitor": client}
    for user in (alice, bob, mia):
        viewers[user.username] = Client()
        viewers[user.username].force_login(user)
    for _round in range(2):  # the second round is served from what the first kept
        assert ">Delete</a>" not in text(viewers["visitor"].get(url))
        assert ">Edit</a>" in text(viewers["visitor"].get(url))  # asked to sign in on the way
        assert ">Delete</a>" in text(viewers["alice"].get(url))
        assert ">Delete</a>" not in text(viewers["bob"].get(url))
        assert ">Delete</a>" in text(viewers["mia"].get(url))


def test_a_renamed_editor_shows_on_the_kept_article(client, make_message, alice):
    message = make_message()
    assert "<strong>alice</strong>" in text(client.get(f"/messages/{message.pk}/"))
    user = get_user_model().objects.get(pk=alice.pk)
    user.username = "alicia"
    user.save()
    assert "<strong>alicia</strong>" in text(client.get(f"/messages/{message.pk}/"))


# --- a visitor's whole message page ----------------------------------------------------------


def test_a_visitors_kept_message_page_costs_the_message_statement_alone(
    client, make_message, django_assert_num_queries, opened_bodies
):
    message = make_message(body="Kept whole.")
    kept = text(client.get(f"/messages/{message.pk}/"))
    opened = len(opened_bodies)
    with django_assert_num_queries(1):
        assert text(client.get(f"/messages/{message.pk}/")) == kept
    assert len(opened_bodies) == opened


def test_a_protection_and_its_removal_show_on_a_visitors_kept_message_page(client, make_message, mia):
    message = make_message()
    assert ">Edit</a>" in text(client.get(f"/messages/{message.pk}/"))
    services.message_protect(message_id=message.pk, user=mia)
    page = text(client.get(f"/messages/{message.pk}/"))
    assert "data-protected" in page and ">Edit</a>" not in page
    services.message_unprotect(message_id=message.pk, user=mia)
    page = text(client.get(f"/messages/{message.pk}/"))
    assert "data-protected" not in page and ">Edit</a>" in page


def test_named_editors_show_on_a_visitors_kept_message_page(client, make_message, alice, bob):
    message = make_message()  # by alice
    assert "data-restricted" not in text(client.get(f"/messages/{message.pk}/"))
    boards.message_editors_set(message_id=message.pk, user=alice, users=["bob"], groups=[])
    page = text(client.get(f"/messages/{message.pk}/"))
    assert "data-restricted" in page and ">Edit</a>" not in page


def test_a_move_to_a_private_board_or_a_board_made_private_hides_a_visitors_kept_message_page(
    client, make_message, mia
):
    moved, stays = make_message(), make_message()
    for message in (moved, stays):
        text(client.get(f"/messages/{message.pk}/"))
    boards.board_create(slug="staff", name="Staff", private=True)
    boards.message_move(message_id=moved.pk, board_slug="staff", user=mia)
    assert client.get(f"/messages/{moved.pk}/").status_code == 404
    boards.board_revoke(slug=boards.default_board().slug, audience="everyone")
    assert client.get(f"/messages/{stays.pk}/").status_code == 404


def test_a_delete_ends_a_visitors_kept_message_page(client, make_message, alice):
    message = make_message()
    text(client.get(f"/messages/{message.pk}/"))
    services.message_delete(message_id=message.pk, user=alice)
    assert client.get(f"/messages/{message.pk}/").status_code == 410


def test_a_lease_renewal_and_expiry_show_on_a_visitors_kept_message_page(client, make_message, bob, settings):
    message = make_message()
    grant = editing.message_lease_acquire(message_id=message.pk, user=bob)
    first = text(client.get(f"/messages/{message.pk}/"))
    assert "<strong>bob</strong> is editing this message" in first
    # A renewal moves the expiry shown and no generation: the row it is read from moves.
    settings.MESSAGEBOARD_LEASE_SECONDS = settings.MESSAGEBOARD_LEASE_MAX_HOLD_SECONDS = 3600
    renewed = editing.message_lease_renew(message_id=message.pk, user=bob, token=grant.token)
    page = text(client.get(f"/messages/{message.pk}/"))
    assert renewed.expires_at > grant.expires_at
    assert f">{renewed.expires_at:%H:%M:%S} UTC</time>" in page
    assert f">{grant.expires_at:%H:%M:%S} UTC</time>" not in page
    # Run out, the lease is no longer shown, though nothing was written.
    EditLease.objects.filter(message_id=message.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert "is editing this message" not in text(client.get(f"/messages/{message.pk}/"))


# --- the generation itself --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_generation_moves_with_a_change_and_again_after_its_commit(alice, make_message):
    # PostgreSQL's sequence moves at once, before the change is visible: a reader may keep the
    # old list under the new number, so the number must move once more after the commit.
    message = make_message()
    start = pagecache.list_generation()
    with transaction.atomic():
        Message.objects.filter(pk=message.pk).update(subject="Changed")
        pagecache.list_changed()
        during = pagecache.list_generation()
    after = pagecache.list_generation()
    assert during > start
    if connection.vendor == "postgresql":
        assert after > during
    else:
        assert after == during  # SQLite's row moves with the change, in its transaction


@pytest.mark.django_db(transaction=True)
def test_a_flushed_generation_row_starts_again(alice, make_message):
    # Between transactional tests every table is emptied; the next change makes the row again.
    message = make_message(subject="Before the flush")
    client = Client()
    assert "Before the flush" in first_row(client)
    editing.message_edit_save(
        message_id=message.pk, user=alice, base_version=1, lease_token=None, subject="After", body="v2"
    )
    assert "After" in first_row(client)


def test_seeded_and_imported_messages_show_on_the_kept_list(client, listed, run_command, tmp_path):
    assert run_command("seed_messages", "--count", "3", verbosity=0).code == 0
    assert "Kept subject" not in first_row(client)  # a seeded message is the newest now
    exported = tmp_path / "board.jsonl"
    assert run_command("export_messages", str(exported), verbosity=0).code == 0
    Message.objects.all().delete()
    pagecache.list_changed()
    assert "No messages yet" in text(client.get("/messages/"))
    assert run_command("import_messages", str(exported), verbosity=0).code == 0
    assert "Kept subject" in text(client.get("/messages/"))


# --- a visitor's whole page -------------------------------------------------------------------


def test_a_visitors_kept_page_logs_in_back_to_its_own_address(client, make_message):
    message = make_message()
    url = f"/messages/{message.pk}/"
    assert f"?next={url}" in text(client.get(url))
    assert f"?next={url}%3Fsort%3Dold" in text(client.get(url + "?sort=old"))
    assert f'?next={url}"' in text(client.get(url))


def test_a_visitor_with_a_notice_waiting_sees_it_on_a_kept_page(client, make_message):
    message = make_message()
    url = f"/messages/{message.pk}/"
    kept = text(client.get(url))
    notices = CookieStorage(HttpRequest())
    client.cookies["messages"] = notices._encode([Notice(constants.INFO, "Signed out: see you soon.")])
    page = text(client.get(url))
    assert "Signed out: see you soon." in page
    assert "Signed out" not in text(client.get(url))  # shown once
    assert text(client.get(url)) == kept


def test_a_member_never_gets_a_visitors_kept_page(client, alice_client, make_message):
    message = make_message()
    url = f"/messages/{message.pk}/"
    text(Client().get(url))
    page = text(alice_client.get(url))
    assert "Log out" in page and "?next=" not in page


def test_a_holder_taking_back_their_own_expired_lease_shows_on_the_kept_list(client, listed, bob, settings):
    settings.MESSAGEBOARD_LEASE_SECONDS = 1
    leases.lease_acquire(message_id=listed.pk, user=bob)
    time.sleep(1.2)
    assert "badge editing" not in first_row(client)  # expired, and the row is still there
    settings.MESSAGEBOARD_LEASE_SECONDS = 120
    leases.lease_acquire(message_id=listed.pk, user=bob)  # takes over its own expired row
    assert '<span class="badge editing">bob</span>' in first_row(client)


def test_a_save_that_gives_up_its_lease_moves_the_list_generation_once(client, listed, alice):
    # The save and the release share one transaction: one move tells readers of both.
    grant = leases.lease_acquire(message_id=listed.pk, user=alice)
    assert "badge editing" in first_row(client)
    before = pagecache.list_generation()
    editing.message_edit_save(
        message_id=listed.pk,
        user=alice,
        base_version=1,
        lease_token=grant.token,
        subject="Saved and released",
        body="v2",
        release_lease=True,
    )
    assert pagecache.list_generation() == before + 1
    row = first_row(client)
    assert "Saved and released" in row and "badge editing" not in row


def test_deleting_a_message_under_ones_own_lease_moves_the_list_generation_once(client, listed, alice, make_message):
    make_message(subject="Stays")
    leases.lease_acquire(message_id=listed.pk, user=alice)
    before = pagecache.list_generation()
    services.message_delete(message_id=listed.pk, user=alice)
    assert pagecache.list_generation() == before + 1
    assert "Kept subject" not in text(client.get("/messages/"))


def test_crafted_addresses_cannot_grow_the_kept_visitor_pages_past_the_budget(client, make_message, settings):
    # Each query string is a key of its own (the Log in link returns there): a hostile reader
    # inventing them only pushes older pages out.
    settings.MESSAGEBOARD_PAGE_CACHE_BYTES = 256 * 1024
    message = make_message(body="x" * 20_000)
    for n in range(200):
        assert client.get(f"/messages/{message.pk}/?junk={n}").status_code == 200
    for kind in ("visitor", "visitor-message"):
        kept = pagecache._cache(kind)
        assert 0 < kept.bytes <= settings.MESSAGEBOARD_PAGE_CACHE_BYTES // len(pagecache.KINDS)
        assert len(kept) < 200
