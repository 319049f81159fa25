"""A request body over the limit is refused with 413 before a byte of it is read (issue 11).

The limit is DATA_UPLOAD_MAX_MEMORY_SIZE, sized for the largest legal form or JSON body. Each
request here sends its body through a stream that counts what is read from it, so "refused
before reading" is measured, not assumed.
"""

import io
import json
from urllib.parse import urlencode

import pytest
from django.contrib.auth import views as auth_views
from django.test import Client

from messageboard.middleware import request_too_large
from messages_app.models import Message

pytestmark = pytest.mark.django_db

MB = 1_000_000


class CountingStream:
    """A request's wsgi.input that records how many bytes the board read from it."""

    def __init__(self, data: bytes) -> None:
        self._stream = io.BytesIO(data)
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self.bytes_read += len(chunk)
        return chunk

    def readline(self, size: int = -1) -> bytes:
        line = self._stream.readline(size)
        self.bytes_read += len(line)
        return line


class EndlessStream:
    """A body that never ends, as a chunked upload can be: reading it all would never finish."""

    def __init__(self) -> None:
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        size = 64 * 1024 if size is None or size < 0 else size
        self.bytes_read += size
        return b"x" * size

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)


def send(client: Client, path: str, payload: bytes, content_type: str, **extra):
    """POST a body through a counting stream; return the response and the stream."""
    stream = CountingStream(payload)
    environ = {"CONTENT_LENGTH": str(len(payload)), "CONTENT_TYPE": content_type, "wsgi.input": stream, **extra}
    return client.generic("POST", path, b"", **environ), stream


def multipart(fields: dict[str, str], files: dict[str, bytes], boundary: str = "b0undary") -> tuple[bytes, str]:
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, data in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@pytest.fixture
def login_view_runs(monkeypatch) -> list[str]:
    """Record every time the sign-in view runs."""
    runs: list[str] = []
    dispatch = auth_views.LoginView.dispatch

    def recording(self, request, *args, **kwargs):
        runs.append(request.method)
        return dispatch(self, request, *args, **kwargs)

    monkeypatch.setattr(auth_views.LoginView, "dispatch", recording)
    return runs


def test_a_20_mb_multipart_post_to_the_sign_in_page_is_413_and_never_read(client, alice, login_view_runs, settings):
    payload, content_type = multipart(
        {"username": "alice", "password": "correct horse battery staple"}, {"upload": b"\0" * (20 * MB)}
    )
    response, stream = send(client, "/accounts/login/", payload, content_type)
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert request_too_large(settings.DATA_UPLOAD_MAX_MEMORY_SIZE) in page
    assert "no page here takes files" in page
    assert stream.bytes_read == 0
    assert login_view_runs == []
    assert "_auth_user_id" not in client.session


def test_a_large_json_post_to_the_api_is_a_json_413_and_never_read(alice_api, settings):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    payload = json.dumps({"subject": "big", "body": "x" * (limit + 1)}).encode()
    response, stream = send(
        alice_api.client, "/api/messages", payload, "application/json", HTTP_AUTHORIZATION=f"Bearer {alice_api.token}"
    )
    assert response.status_code == 413
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"error": "too_large", "detail": request_too_large(limit)}
    assert stream.bytes_read == 0
    assert Message.objects.count() == 0


def test_a_large_multipart_post_to_the_api_is_a_json_413_too(alice_api, settings):
    payload, content_type = multipart({"subject": "s", "body": "b"}, {"upload": b"\0" * (5 * MB)})
    response, stream = send(
        alice_api.client, "/api/messages", payload, content_type, HTTP_AUTHORIZATION=f"Bearer {alice_api.token}"
    )
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    assert stream.bytes_read == 0


def test_a_normal_post_still_works_on_the_pages_and_the_api(alice_client, bob_api):
    response = alice_client.post("/messages/new/", {"subject": "Small", "body": "A normal message."})
    assert response.status_code == 302
    assert bob_api.create(subject="Also small", body="Through the API.")["size"] == len("Through the API.")
    assert Message.objects.count() == 2


def padded_json(length: int) -> bytes:
    """A legal new message of exactly ``length`` bytes: JSON allows any run of spaces."""
    core = json.dumps({"subject": "At the limit", "body": "Padded with spaces."}).encode()
    return core[:-1] + b" " * (length - len(core)) + core[-1:]


def test_the_api_takes_a_body_of_exactly_the_limit_and_refuses_one_byte_more(alice_api, bob_api, settings):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    at_limit = padded_json(limit)
    assert len(at_limit) == limit
    response = alice_api.call("POST", "/api/messages", raw=at_limit)
    assert response.status_code == 201, response.content
    over, stream = send(
        bob_api.client,
        "/api/messages",
        padded_json(limit + 1),
        "application/json",
        HTTP_AUTHORIZATION=f"Bearer {bob_api.token}",
    )
    assert over.status_code == 413
    assert over.json()["error"] == "too_large"
    assert stream.bytes_read == 0
    assert Message.objects.count() == 1


def padded_form(length: int) -> bytes:
    """A new-message form of exactly ``length`` bytes, made up by a field the form ignores."""
    core = urlencode({"subject": "At the limit", "body": "Padded.", "padding": ""}).encode()
    return core + b"p" * (length - len(core))


def test_the_pages_take_a_form_of_exactly_the_limit_and_refuse_one_byte_more(alice_client, bob_client, settings):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    form = "application/x-www-form-urlencoded"
    at_limit, stream = send(alice_client, "/messages/new/", padded_form(limit), form)
    assert at_limit.status_code == 302, at_limit.content[:500]
    assert stream.bytes_read == limit
    over, stream = send(bob_client, "/messages/new/", padded_form(limit + 1), form)
    assert over.status_code == 413
    assert request_too_large(limit) in over.content.decode()
    assert stream.bytes_read == 0
    assert list(Message.objects.values_list("subject", flat=True)) == ["At the limit"]


def test_a_chunked_body_without_content_length_is_never_read(alice_api, client, login_view_runs):
    endless = EndlessStream()
    response = client.generic(
        "POST",
        "/accounts/login/",
        b"",
        CONTENT_TYPE="multipart/form-data; boundary=b0undary",
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": endless},
    )
    assert response.status_code < 500
    assert endless.bytes_read == 0
    endless = EndlessStream()
    response = alice_api.client.generic(
        "POST",
        "/api/messages",
        b"",
        CONTENT_TYPE="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
        HTTP_AUTHORIZATION=f"Bearer {alice_api.token}",
        **{"wsgi.input": endless},
    )
    assert 400 <= response.status_code < 500
    assert endless.bytes_read == 0
    assert Message.objects.count() == 0


def test_a_file_part_is_refused_whatever_its_size(client, alice, login_view_runs):
    payload, content_type = multipart(
        {"username": "alice", "password": "correct horse battery staple"}, {"upload": b"tiny"}
    )
    response, _stream = send(client, "/accounts/login/", payload, content_type)
    assert response.status_code == 400
    assert "_auth_user_id" not in client.session
