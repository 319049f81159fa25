"""Who is calling: a bearer token or a signed-in browser session with its CSRF token."""

from django.conf import settings
from django.http import HttpRequest
from ninja.errors import AuthenticationError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from messages_app import tokens
from messages_app.api.errors import CSRF_FAILED, ApiError


class BearerToken(HttpBearer):
    """Authorization: Bearer <token>, a key from POST /api/auth/token or manage.py create_api_token."""

    def __call__(self, request: HttpRequest):
        key = bearer_key(request)
        return self.authenticate(request, key) if key else None

    def authenticate(self, request: HttpRequest, token: str):
        return tokens.token_authenticate(key=token)


class SessionWithCsrf(APIKeyCookie):
    """A signed-in browser session; its writes must carry the CSRF token in X-CSRFToken."""

    param_name = settings.SESSION_COOKIE_NAME

    def _get_key(self, request: HttpRequest) -> str | None:
        # Without a signed-in session the caller is anonymous (401), not a forged request (403).
        if not request.user.is_authenticated:
            return None
        if check_csrf(request) is not None:
            raise ApiError(403, "forbidden", CSRF_FAILED)
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request: HttpRequest, key: str | None):
        return request.user if request.user.is_authenticated else None


def reader(request: HttpRequest):
    """Return who reads through a call open to visitors: the bearer token's user, the session's, or a visitor.

    What they may read (private boards) depends on it; a token that signs in nobody is a 401,
    not a silent visitor.
    """
    found = getattr(request, "_messageboard_reader", None)
    if found is None:
        key = bearer_key(request)
        if key:
            found = tokens.token_authenticate(key=key)
            if found is None:
                raise AuthenticationError()
        else:
            found = request.user
        request._messageboard_reader = found
    return found


def bearer_key(request: HttpRequest) -> str | None:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    key = key.strip()
    return key if scheme.lower() == "bearer" and key else None


WRITE_AUTH = [BearerToken(), SessionWithCsrf()]
