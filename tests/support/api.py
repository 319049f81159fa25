"""A JSON client for /api and the assertions every API test makes about an error body."""

import json
from datetime import timedelta

from django.test import Client
from django.utils import timezone

from messages_app import tokens
from messages_app.models import EditLease


class ApiClient:
    """A JSON client for /api, signed in by bearer token when it has one."""

    def __init__(self, token: str | None = None, client: Client | None = None) -> None:
        self.token = token
        self.client = client or Client()

    def call(self, method: str, path: str, body=None, *, raw: bytes | str | None = None, headers=None, **extra):
        headers = dict(headers or {})
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        data = raw if raw is not None else ("" if body is None else json.dumps(body))
        return self.client.generic(method, path, data, content_type="application/json", headers=headers, **extra)

    def get(self, path, **kwargs):
        return self.call("GET", path, **kwargs)

    def post(self, path, body=None, **kwargs):
        return self.call("POST", path, body, **kwargs)

    def put(self, path, body=None, **kwargs):
        return self.call("PUT", path, body, **kwargs)

    def delete(self, path, **kwargs):
        return self.call("DELETE", path, **kwargs)

    def create(self, subject: str = "Hello", body: str = "First version.\n") -> dict:
        response = self.post("/api/messages", {"subject": subject, "body": body})
        assert response.status_code == 201, response.content
        return response.json()

    def take_lease(self, message_id: int) -> str:
        response = self.post(f"/api/messages/{message_id}/lease")
        assert response.status_code == 201, response.content
        return response.json()["token"]


def api_for(user) -> ApiClient:
    _token, key = tokens.token_create(user=user)
    return ApiClient(key)


def assert_error(response, status: int, error: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    data = response.json()
    assert data["error"] == error
    assert isinstance(data["detail"], str) and data["detail"]
    assert set(data) <= {"error", "detail", "fields", "lease", "held"}
    return data


def expire_leases() -> None:
    EditLease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
