"""Bodies written in Markdown read as formatted text on the pages and, when asked, in the API; stored as typed."""

import pytest
from django.urls import reverse

from messages_app import bodies, editing
from messages_app.models import Message

pytestmark = pytest.mark.django_db

TYPED = "# Plans\n\n**bold** and ~~old~~\n\n<script>alert(1)</script>\n[x](javascript:alert(1))\n"


def test_the_message_page_shows_the_body_as_sanitised_markdown(make_message, client):
    message = make_message(body=TYPED)
    page = client.get(reverse("messages_app:message-detail", args=[message.pk])).content.decode()
    assert "<h1>Plans</h1>" in page
    assert "<strong>bold</strong> and <s>old</s>" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page
    assert 'href="javascript:' not in page


def test_the_stored_file_and_the_api_body_stay_exactly_what_was_typed(make_message, client):
    message = make_message(body=TYPED)
    assert bodies.body_read_bytes(Message.objects.get(pk=message.pk).body_key) == TYPED.encode()
    answer = client.get(f"/api/messages/{message.pk}")
    assert answer.status_code == 200
    assert answer.json()["body"] == TYPED
    assert "html" not in answer.json()


def test_the_api_adds_the_html_when_asked_and_refuses_an_unknown_rendering(make_message, client):
    message = make_message(body=TYPED)
    answer = client.get(f"/api/messages/{message.pk}?render=html")
    assert answer.status_code == 200
    assert answer.json()["body"] == TYPED
    assert "<strong>bold</strong>" in answer.json()["html"]
    assert "<script>" not in answer.json()["html"]
    refused = client.get(f"/api/messages/{message.pk}?render=pdf")
    assert refused.status_code == 422


def test_an_old_versions_page_shows_it_as_markdown(make_message, alice, client):
    message = make_message(body="*first*")
    editing.message_edit_save(
        message_id=message.pk, user=alice, base_version=1, lease_token=None, subject=None, body="second"
    )
    page = client.get(reverse("messages_app:revision-detail", args=[message.pk, 1])).content.decode()
    assert "<em>first</em>" in page


def test_asking_for_the_html_of_a_message_on_a_private_board_is_404_before_anything_is_rendered(
    make_message, client, monkeypatch
):
    from messages_app import boards, markup

    private = boards.board_create(slug="team", name="Team", private=True)
    message = make_message(body="*secret*")
    Message.objects.filter(pk=message.pk).update(board=private)
    rendered = []
    monkeypatch.setattr(markup, "render_markdown", lambda text: rendered.append(text))
    assert client.get(f"/api/messages/{message.pk}?render=html").status_code == 404
    assert rendered == []
