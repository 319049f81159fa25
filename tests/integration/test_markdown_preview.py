"""The editor's Preview: the text rendered as the page will, for signed-in people, bounded and rate-limited."""

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

PREVIEW = reverse("messages_app:markdown-preview")


def test_a_signed_in_user_gets_the_text_rendered_and_sanitised(alice_client):
    answer = alice_client.post(PREVIEW, {"body": "**bold** <script>alert(1)</script> [x](javascript:alert(1))"})
    assert answer.status_code == 200
    html = answer.content.decode()
    assert "<strong>bold</strong>" in html
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert 'href="javascript' not in html


def test_an_empty_text_says_there_is_nothing_to_preview(alice_client):
    assert "Nothing to preview yet." in alice_client.post(PREVIEW, {"body": "   "}).content.decode()


def test_a_visitor_is_sent_to_sign_in_and_a_get_is_refused(alice_client):
    assert Client().post(PREVIEW, {"body": "x"}).status_code == 302
    assert alice_client.get(PREVIEW).status_code == 405


def test_a_text_over_the_body_limit_is_refused_without_rendering(alice_client, settings):
    settings.MESSAGEBOARD_MAX_BODY_BYTES = 100
    answer = alice_client.post(PREVIEW, {"body": "x" * 101})
    assert answer.status_code == 413
    assert "larger than the limit of 100 bytes" in answer.content.decode()


def test_previews_are_rate_limited_per_user(alice_client, rate_limits, settings):
    settings.MESSAGEBOARD_RATE_PREVIEWS = "2/minute"
    assert alice_client.post(PREVIEW, {"body": "one"}).status_code == 200
    assert alice_client.post(PREVIEW, {"body": "two"}).status_code == 200
    refused = alice_client.post(PREVIEW, {"body": "three"})
    assert refused.status_code == 429
    assert "previews faster than this board allows" in refused.content.decode()


def test_the_new_message_and_edit_forms_offer_the_preview_and_the_formatting_help(alice_client, make_message):
    form = alice_client.get(reverse("messages_app:message-create")).content.decode()
    assert 'hx-post="/messages/preview/"' in form and "Formatting" in form
    message = make_message()
    editor = alice_client.get(reverse("messages_app:message-edit", args=[message.pk])).content.decode()
    assert 'hx-post="/messages/preview/"' in editor
