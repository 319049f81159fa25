"""The boards' pages: the front page, one board's list, posting to a board, and who may edit a message."""

import pytest
from django.test import Client

from messages_app import boards, services
from messages_app.models import Board
from tests.support.boards import signed_in

pytestmark = pytest.mark.django_db


def test_the_front_page_shows_the_boards_one_may_read_with_counts_and_newest(world):
    visitor = Client().get("/").content.decode()
    assert "Announcements" in visitor and "Open" in visitor and "Private" not in visitor
    team = signed_in(world.people["editor"]).get("/").content.decode()
    assert "Private" in team and "Restricted" in team  # the private board's newest message
    assert Board.objects.get(slug="private").message_count == 2


def test_a_board_lists_its_messages_newest_first_with_keyset_pages(world, settings):
    settings.MESSAGEBOARD_PAGE_SIZE = 2
    poster = world.people["poster"]
    for n in range(3):
        services.message_create(author=poster, subject=f"Extra {n}", body="x", board_slug="open")
    browser = signed_in(poster)
    first = browser.get("/b/open/").content.decode()
    assert first.index("Extra 2") < first.index("Extra 1") and "Extra 0" not in first
    assert "On private" not in first
    older = first.split('rel="next" href="')[1].split('"')[0]
    second = browser.get(f"/b/open/{older}").content.decode()
    assert "Extra 0" in second and "On open" in second and "Extra 2" not in second


def test_a_private_board_is_404_like_an_unknown_one(world):
    member = signed_in(world.people["member"])
    assert member.get("/b/private/").status_code == 404
    assert member.get("/b/no-such-board/").status_code == 404
    assert signed_in(world.people["editor"]).get("/b/private/").status_code == 200


def test_the_new_message_form_offers_only_the_boards_one_may_post_to(world):
    page = signed_in(world.people["member"]).get("/messages/new/").content.decode()
    assert 'value="open"' in page and 'value="general"' in page
    assert 'value="announce"' not in page and 'value="private"' not in page
    poster_page = signed_in(world.people["poster"]).get("/messages/new/?board=announce").content.decode()
    assert 'value="announce" selected' in poster_page


def test_posting_to_a_board_one_may_not_is_403_with_the_text_kept(world):
    response = signed_in(world.people["member"]).post(
        "/messages/new/", {"board": "announce", "subject": "Mine", "body": "My careful words."}
    )
    assert response.status_code == 403
    page = response.content.decode()
    assert "My careful words." in page and "You may not post to this board." in page
    assert Board.objects.get(slug="announce").message_count == 1
    hidden = signed_in(world.people["member"]).post(
        "/messages/new/", {"board": "private", "subject": "Mine", "body": "Kept too."}
    )
    assert hidden.status_code == 404 and "Kept too." in hidden.content.decode()
    assert "There is no such board." in hidden.content.decode()


def test_posting_to_a_board_puts_the_message_there_and_the_page_names_it(world):
    response = signed_in(world.people["poster"]).post(
        "/messages/new/", {"board": "announce", "subject": "Staff news", "body": "Hello."}
    )
    assert response.status_code == 302
    page = Client().get(response["Location"]).content.decode()
    assert 'href="/b/announce/"' in page and "Announcements" in page


def test_the_all_messages_list_names_each_messages_board(world):
    page = signed_in(world.people["editor"]).get("/messages/").content.decode()
    assert 'href="/b/private/"' in page and 'href="/b/open/"' in page


def test_the_edit_page_says_who_may_edit_a_restricted_message(world):
    page = signed_in(world.people["named"]).get(f"/messages/{world.messages['restricted'].pk}/edit/").content.decode()
    assert "Only these may edit this message" in page and "<strong>ned</strong>" in page


def test_the_author_names_editors_on_the_who_may_edit_page(world):
    message = world.messages["private"]
    author = signed_in(world.people["poster"])
    assert "Who may edit" in author.get(f"/messages/{message.pk}/").content.decode()
    form = author.get(f"/messages/{message.pk}/editors/")
    assert form.status_code == 200
    saved = author.post(f"/messages/{message.pk}/editors/", {"users": "ned", "groups": ""})
    assert saved.status_code == 302
    assert boards.editors_of(message.pk).users == ["ned"]
    refused = author.post(f"/messages/{message.pk}/editors/", {"users": "ned, ghost", "groups": ""})
    assert refused.status_code == 422 and "No such user: ghost." in refused.content.decode()
    assert "ned, ghost" in refused.content.decode()  # what was typed stays
    assert boards.editors_of(message.pk).users == ["ned"]


def test_only_the_author_or_a_moderator_reaches_the_who_may_edit_page(world):
    message = world.messages["private"]
    assert signed_in(world.people["editor"]).get(f"/messages/{message.pk}/editors/").status_code == 403
    assert signed_in(world.people["member"]).get(f"/messages/{message.pk}/editors/").status_code == 404
    assert signed_in(world.people["board_moderator"]).get(f"/messages/{message.pk}/editors/").status_code == 200
    assert "Who may edit" not in signed_in(world.people["editor"]).get(f"/messages/{message.pk}/").content.decode()
