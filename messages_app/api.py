"""The JSON API of shared/API.md: HTTP in and out, every rule left to services and selectors."""

import base64
import binascii
import logging
import re
from collections.abc import Callable
from datetime import datetime
from functools import wraps

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse
from django.urls import URLPattern, re_path, reverse
from django.views.decorators.csrf import csrf_exempt
from ninja import Field, Header, NinjaAPI, Path, Query, Schema, Status, Swagger
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.responses import NinjaJSONEncoder
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from messages_app import permissions, ratelimits, selectors, services, tokens
from messages_app.errors import (
    AlreadyCurrent,
    BodyTooLarge,
    DomainError,
    InvalidBody,
    LeaseCooldown,
    LeaseHeld,
    LeaseLost,
    MessageGone,
    MessageNotFound,
    NotAllowed,
    RateLimited,
    RevisionNotFound,
    TokenNotFound,
    TooManyLeases,
    TooManyTokens,
    VersionConflict,
)
from messages_app.leases import LeaseGrant

logger = logging.getLogger("django.request")

# Ids are 64-bit and versions 32-bit in the database; larger numbers are not ids, and
# SQLite raises OverflowError on them instead of finding nothing.
MAX_ID = 2**63 - 1
MAX_VERSION = 2**31 - 1
MAX_PAGE = 200
HISTORY_PAGE = selectors.HISTORY_PAGE_SIZE
LEASE_EVENT_PAGE = selectors.LEASE_EVENT_PAGE_SIZE

BAD_CREDENTIALS = "The username or password is wrong."
SIGN_IN = "Sign in first: send 'Authorization: Bearer <token>' (POST /api/auth/token gives one) or use a session."
CSRF_FAILED = "The CSRF check failed: a request signed in by session cookie must send the X-CSRFToken header."
NOT_JSON = "The request body is not valid JSON."
NO_IF_MATCH = 'Send If-Match with the version you started from, like If-Match: "3".'
NO_ROUTE = "There is nothing at this address; the API is described at /api/docs."
NO_METHOD = "This address does not answer {method}; it answers {allowed}."
BAD_CURSOR = "The cursor is not one this API gave out."
LEASE_TOKEN_EMPTY = "The Lease-Token header is empty."


# Errors ----------------------------------------------------------------------------------


class ApiError(Exception):
    """An HTTP-level refusal that no service decides (a missing header, a bad cursor)."""

    def __init__(self, status: int, error: str, detail: str, **extra) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.extra = extra


# The one mapping from domain errors to statuses and codes; the first matching class wins.
DOMAIN_ERRORS: list[tuple[type[DomainError], int, str]] = [
    (MessageNotFound, 404, "not_found"),
    (RevisionNotFound, 404, "not_found"),
    (TokenNotFound, 404, "not_found"),
    (MessageGone, 410, "gone"),
    (NotAllowed, 403, "forbidden"),
    (BodyTooLarge, 413, "too_large"),
    (InvalidBody, 422, "invalid"),
    (LeaseHeld, 423, "locked"),
    (LeaseLost, 409, "lease_lost"),
    (VersionConflict, 412, "version_conflict"),
    (AlreadyCurrent, 400, "invalid"),
    (TooManyTokens, 429, "too_many_tokens"),
    (TooManyLeases, 429, "too_many_leases"),
    (RateLimited, 429, "rate_limited"),
    (LeaseCooldown, 403, "lease_cooldown"),
]

HTTP_ERROR_CODES = {
    400: "invalid",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    422: "invalid",
}


def error_response(status: int, error: str, detail: str, **extra) -> HttpResponse:
    """Return the API's error body, {"error", "detail"} plus any extra members."""
    return JsonResponse(
        {"error": error, "detail": detail, **extra},
        status=status,
        encoder=NinjaJSONEncoder,
        content_type="application/json; charset=utf-8",
    )


def _domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    status, error = next(((s, e) for cls, s, e in DOMAIN_ERRORS if isinstance(exc, cls)), (400, "invalid"))
    extra = {}
    if isinstance(exc, LeaseHeld):
        extra["lease"] = {"holder": exc.holder, "expires_at": exc.expires_at}
    elif isinstance(exc, InvalidBody) and not isinstance(exc, BodyTooLarge):
        extra["fields"] = {exc.field: exc.detail}
    elif isinstance(exc, TooManyLeases):
        extra["held"] = [message_id for message_id, _subject in exc.held]
    response = error_response(status, error, exc.detail, **extra)
    if isinstance(exc, (LeaseCooldown, RateLimited)):
        response["Retry-After"] = str(exc.retry_after)
    return response


def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return error_response(exc.status, exc.error, exc.detail, **exc.extra)


# Calls whose permission is the right to edit the message (PUT's rules), by method and route
# (one route serves several methods, under the name of the first).
EDITING_CALLS = {
    ("PUT", "/messages/<int:message_id>"),
    ("POST", "/messages/<int:message_id>/revisions/<int:version>/revert"),
}


def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    # API.md's order of checks: the message exists (404, 410) and the caller may edit it (403)
    # before anything about the request's own input (428, 422) is said.
    try:
        _message_checks(request)
    except DomainError as refused:
        return _domain_error(request, refused)
    fields: dict[str, str] = {}
    for item in exc.errors:
        source, *where = item["loc"]
        if source == "header" and where == ["If-Match"] and item["type"] == "missing":
            # Rule 1 of PUT: an unconditional write is refused before its body is even looked at.
            return error_response(428, "precondition_required", NO_IF_MATCH)
        if source == "body":
            where = where[1:]  # the view's parameter name, not a field the client sent
        name = ".".join(str(part) for part in where) or "json"
        fields.setdefault(name, item["msg"])
    detail = "The request is not valid: " + "; ".join(f"{name}: {msg}" for name, msg in fields.items()) + "."
    return error_response(422, "invalid", detail, fields=fields)


def _message_checks(request: HttpRequest) -> None:
    """Raise what API.md puts before input errors for a call on one message: 404, 410, then 403."""
    match = request.resolver_match
    message_id = match.kwargs.get("message_id") if match else None
    if not isinstance(message_id, int):
        return
    current = selectors.message_get(message_id=message_id)
    user = getattr(request, "auth", None)
    editing = any(request.method == method and match.route.endswith(route) for method, route in EDITING_CALLS)
    if editing and user is not None:
        permissions.ensure_may_edit(user, protected=current.protected)


def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc, AuthenticationError):
        response = error_response(401, "unauthenticated", SIGN_IN)
        response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
        # Ninja wraps the JSON decoder's complaint; the client needs only to know the body is not JSON.
        return error_response(400, "invalid", NOT_JSON)
    return error_response(exc.status_code, HTTP_ERROR_CODES.get(exc.status_code, "error"), str(exc))


def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return error_response(413, "too_large", f"The request is larger than the limit of {limit:,} bytes.")


def _not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return error_response(404, "not_found", NO_ROUTE)


def _server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.error(
        "Internal Server Error: %s", request.path, exc_info=exc, extra={"status_code": 500, "request": request}
    )
    return error_response(500, "server_error", "Something went wrong on our side; it has been logged.")


# Authentication --------------------------------------------------------------------------


class BearerToken(HttpBearer):
    """Authorization: Bearer <token>, a key from POST /api/auth/token or manage.py create_api_token."""

    def __call__(self, request: HttpRequest):
        key = _bearer_key(request)
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


def _bearer_key(request: HttpRequest) -> str | None:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    key = key.strip()
    return key if scheme.lower() == "bearer" and key else None


WRITE_AUTH = [BearerToken(), SessionWithCsrf()]

api = NinjaAPI(
    title="Messageboard API",
    version="1",
    description=(
        "Post, read, edit (under an editing lease) and delete messages. Writes need "
        "`Authorization: Bearer <token>` (POST /api/auth/token) or a browser session with CSRF. "
        "Failed sign-ins, token requests, posts, saves (reverts too) and lease requests are rate-limited "
        "per username and address, address or user: `429 rate_limited` with a `Retry-After` header "
        "(seconds); the figures are the board's settings, listed in its README under Limits."
    ),
    urls_namespace="api",
    # Writes by default; reads opt out with auth=None. A default with a cookie auth also makes
    # the docs page hand Swagger UI the CSRF token, so "Try it out" works from a signed-in browser.
    auth=WRITE_AUTH,
    docs=Swagger(),
)
api.add_exception_handler(DomainError, _domain_error)
api.add_exception_handler(ApiError, _api_error)
api.add_exception_handler(ValidationError, _validation_error)
api.add_exception_handler(HttpError, _http_error)
api.add_exception_handler(RequestDataTooBig, _too_big)
api.add_exception_handler(Http404, _not_found)
api.add_exception_handler(Exception, _server_error)


# Schemas ---------------------------------------------------------------------------------


class ErrorOut(Schema):
    error: str
    detail: str


class InvalidOut(ErrorOut):
    fields: dict[str, str] | None = Field(None, description="Each field at fault, with what is wrong with it.")


class LeaseOut(Schema):
    holder: str
    expires_at: datetime


class LockedOut(ErrorOut):
    lease: LeaseOut


class MessageSummaryOut(Schema):
    id: int
    subject: str
    version: int
    author: str
    created_at: datetime
    updated_at: datetime
    updated_by: str
    size: int = Field(description="Bytes of UTF-8 in the body.")
    sha256: str
    protected: bool
    lease: LeaseOut | None


class MessageOut(MessageSummaryOut):
    body: str


class MessagePageOut(Schema):
    items: list[MessageSummaryOut]
    next_cursor: str | None


class MessageIn(Schema):
    subject: str = Field(min_length=1, max_length=services.SUBJECT_MAX_LENGTH)
    body: str = Field(min_length=1)


class MessageEditIn(Schema):
    subject: str = Field(
        None, min_length=1, max_length=services.SUBJECT_MAX_LENGTH, description="Left out: the subject stays."
    )
    body: str = Field(min_length=1)


class RevisionOut(Schema):
    version: int
    author: str
    created_at: datetime
    size: int
    sha256: str
    subject: str


class RevisionDetailOut(RevisionOut):
    body: str


class RevisionPageOut(Schema):
    items: list[RevisionOut]
    next_cursor: str | None


class LeaseGrantOut(Schema):
    token: str
    holder: str
    expires_at: datetime
    ttl_seconds: int


class LeaseEventOut(Schema):
    event: str = Field(description="acquired, released, expired, replaced or broken.")
    user: str = Field(description="The holder the event is about.")
    by: str | None = Field(description="The moderator who broke the lease; null for every other event.")
    at: datetime


class LeaseEventPageOut(Schema):
    items: list[LeaseEventOut]
    next_cursor: str | None


class CredentialsIn(Schema):
    # PostgreSQL refuses NUL in a query string, so such a username must not reach the look-up.
    username: str = Field(pattern=r"^[^\x00]*$")
    password: str


class TokenRequestIn(CredentialsIn):
    expires_in_days: int = Field(
        tokens.TOKEN_DAYS_DEFAULT,
        ge=tokens.TOKEN_DAYS_MIN,
        le=tokens.TOKEN_DAYS_MAX,
        strict=True,
        description="Days until the token stops signing in.",
    )


class TokenOut(Schema):
    token: str = Field(description="The secret: shown this once, never stored.")
    id: int
    expires_at: datetime


class TokenInfoOut(Schema):
    id: int
    prefix: str = Field(description="The token's first characters, to tell tokens apart.")
    created_at: datetime
    last_used_at: datetime | None = Field(description="To the minute; null if never used.")
    expires_at: datetime


class TokenListOut(Schema):
    items: list[TokenInfoOut]


# OpenAPI fragments: headers and links ninja cannot infer from the view signatures.
ETAG = {"ETag": {"description": 'The message\'s version in quotes, like "3".', "schema": {"type": "string"}}}
MESSAGE_LINKS = {
    name: {"operationId": operation, "parameters": {"message_id": "$response.body#/id", **more}}
    for name, operation, more in [
        ("read", "message_get", {}),
        ("readBody", "message_body", {}),
        ("edit", "message_update", {"header.If-Match": "$response.header.ETag"}),
        ("delete", "message_delete", {}),
        ("restore", "message_restore", {}),
        ("takeLease", "lease_acquire", {}),
        ("history", "revision_list", {}),
        ("oneVersion", "revision_get", {"version": "$response.body#/version"}),
    ]
}
LEASE_LINKS = {
    name: {
        "operationId": operation,
        "parameters": {"message_id": "$request.path.message_id", "header.Lease-Token": "$response.body#/token"},
    }
    for name, operation in [("renew", "lease_renew"), ("release", "lease_release")]
}
LEASE_LINKS["save"] = {
    "operationId": "message_update",
    "parameters": {"message_id": "$request.path.message_id", "header.Lease-Token": "$response.body#/token"},
}

READ_ERRORS = {404: ErrorOut, 410: ErrorOut, 422: InvalidOut}
WRITE_ERRORS = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 410: ErrorOut, 422: InvalidOut}
BODY_ERRORS = {400: InvalidOut, 413: ErrorOut}


# Helpers ---------------------------------------------------------------------------------


def _etag(version: int) -> str:
    return f'"{version}"'


def _etag_versions(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def _if_match_version(header: str, current: int) -> int:
    """Return the version an If-Match names, raising VersionConflict unless it is the current one."""
    # Strong comparison (RFC 9110): a weak tag or "*" never names the version the client edited.
    versions = {int(tag[1:-1]) for tag in _etag_versions(header) if re.fullmatch(r'"[0-9]{1,10}"', tag)}
    # Refused here, a stale request costs no body write; the service re-checks the version
    # atomically, so a save that lands between this read and the write still wins.
    if current not in versions:
        raise VersionConflict(current)
    return current


def _none_match(header: str | None, current: int) -> bool:
    if header is None:
        return False
    tags = {tag.removeprefix("W/") for tag in _etag_versions(header)}
    return "*" in tags or _etag(current) in tags


def _lease_token(header: str | None) -> str | None:
    if header is None:
        return None
    if not header.strip():
        # An empty token can never be a valid lease; without this it would read as "no token".
        raise LeaseLost(LEASE_TOKEN_EMPTY)
    return header.strip()


def _cursor_encode(kind: str, position: int | None) -> str | None:
    if position is None:
        return None
    return base64.urlsafe_b64encode(f"{kind}:{position}".encode()).decode().rstrip("=")


def _cursor_decode(kind: str, cursor: str | None, *, maximum: int) -> int | None:
    if not cursor:
        return None
    try:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", cursor):
            raise ValueError(cursor)
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        found = re.fullmatch(rf"{kind}:([1-9][0-9]{{0,18}})", raw)
        if found is None or int(found[1]) > maximum:
            raise ValueError(raw)
    except (ValueError, binascii.Error):
        raise ApiError(422, "invalid", BAD_CURSOR, fields={"cursor": BAD_CURSOR}) from None
    return int(found[1])


def _lease(holder: str | None, expires_at: datetime | None) -> dict | None:
    return {"holder": holder, "expires_at": expires_at} if holder and expires_at else None


def _message_summary(message) -> dict:
    return {
        "id": message.pk,
        "subject": message.subject,
        "version": message.version,
        "author": message.author_name,
        "created_at": message.created_at,
        "updated_at": message.updated_at,
        "updated_by": message.updated_by_name,
        "size": message.size,
        "sha256": message.sha256,
        "protected": message.protected,
        "lease": _lease(message.lease_holder, message.lease_expires_at),
    }


def _message_full(message, response: HttpResponse) -> dict:
    response["ETag"] = _etag(message.version)
    return {**_message_summary(message), "body": selectors.message_body(message)}


def _revision(revision) -> dict:
    return {
        "version": revision.version,
        "author": revision.author_name,
        "created_at": revision.created_at,
        "size": revision.size,
        "sha256": revision.sha256,
        "subject": revision.subject,
    }


def _lease_event(event) -> dict:
    return {"event": event.event, "user": event.user_name, "by": event.by_name, "at": event.at}


def _token_info(token) -> dict:
    return {
        "id": token.pk,
        "prefix": token.prefix,
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
        "expires_at": token.expires_at,
    }


def _grant(grant: LeaseGrant) -> dict:
    return {
        "token": grant.token,
        "holder": grant.holder,
        "expires_at": grant.expires_at,
        "ttl_seconds": grant.ttl_seconds,
    }


def _no_content() -> HttpResponse:
    response = HttpResponse(status=204)
    del response["Content-Type"]
    return response


def _not_modified(version: int) -> HttpResponse:
    response = HttpResponseNotModified()
    response["ETag"] = _etag(version)
    return response


# Authentication endpoints ----------------------------------------------------------------


@api.post(
    "/auth/token",
    response={201: TokenOut, 401: ErrorOut, 422: InvalidOut, 429: ErrorOut, **BODY_ERRORS},
    operation_id="token_create",
    auth=None,
    tags=["auth"],
    summary="Exchange a username and password for an API token",
    description=(
        f"The token expires after `expires_in_days` ({tokens.TOKEN_DAYS_MIN}–{tokens.TOKEN_DAYS_MAX}, "
        f"default {tokens.TOKEN_DAYS_DEFAULT}), when revoked, or when its user's password changes. "
        f"A user has at most {tokens.MAX_LIVE_TOKENS} live tokens: one more is `429 too_many_tokens`."
    ),
)
def token_create(request: HttpRequest, credentials: TokenRequestIn):
    ratelimits.limit_address("token_ip", request)
    user = authenticate(request, username=credentials.username, password=credentials.password)
    if user is None:
        # Refused before any password was hashed: this username or address is locked out.
        if refused := ratelimits.signin_refusal(request):
            raise refused
        raise ApiError(401, "unauthenticated", BAD_CREDENTIALS)
    token, key = tokens.token_create(user=user, expires_in_days=credentials.expires_in_days)
    return Status(201, {"token": key, "id": token.pk, "expires_at": token.expires_at})


@api.delete(
    "/auth/token",
    auth=BearerToken(),
    response={204: None, 401: ErrorOut},
    operation_id="token_revoke",
    tags=["auth"],
    summary="Revoke the bearer token this request is sent with",
)
def token_revoke(request: HttpRequest):
    tokens.token_revoke(key=_bearer_key(request))
    return _no_content()


@api.get(
    "/auth/tokens",
    response={200: TokenListOut, 401: ErrorOut},
    operation_id="token_list",
    tags=["auth"],
    summary="List the caller's live API tokens, newest first (never their secrets)",
)
def token_list(request: HttpRequest):
    return {"items": [_token_info(token) for token in tokens.token_list(user=request.auth)]}


@api.delete(
    "/auth/tokens/{int:token_id}",
    response={204: None, 401: ErrorOut, 404: ErrorOut},
    operation_id="token_revoke_by_id",
    tags=["auth"],
    summary="Revoke one of the caller's API tokens (anyone else's id is 404)",
)
def token_revoke_by_id(request: HttpRequest, token_id: int = Path(...)):
    # Any id that is not one of the caller's live tokens, 0 and numbers beyond any column included, is a 404.
    tokens.token_revoke_by_id(user=request.auth, token_id=token_id)
    return _no_content()


# Messages --------------------------------------------------------------------------------


@api.get(
    "/messages",
    response={200: MessagePageOut, 422: InvalidOut},
    operation_id="message_list",
    auth=None,
    tags=["messages"],
    summary="List messages, newest first",
)
def message_list(
    request: HttpRequest,
    limit: int = Query(settings.MESSAGEBOARD_PAGE_SIZE, ge=1, le=MAX_PAGE),
    cursor: str = Query(None, description="next_cursor of the previous page."),
):
    before = _cursor_decode("m", cursor, maximum=MAX_ID)
    page = selectors.message_list_page(before=before, limit=limit)
    return {"items": [_message_summary(m) for m in page.items], "next_cursor": _cursor_encode("m", page.next_before)}


@api.post(
    "/messages",
    response={201: MessageOut, 401: ErrorOut, 403: ErrorOut, 422: InvalidOut, 429: ErrorOut, **BODY_ERRORS},
    operation_id="message_create",
    tags=["messages"],
    summary="Post a message",
    openapi_extra={
        "responses": {
            201: {
                "headers": {
                    **ETAG,
                    "Location": {"description": "The new message's address.", "schema": {"type": "string"}},
                },
                "links": MESSAGE_LINKS,
            }
        }
    },
)
def message_create(request: HttpRequest, message: MessageIn, response: HttpResponse):
    ratelimits.limit_user("post_user", request.auth)
    created = services.message_create(author=request.auth, subject=message.subject, body=message.body)
    current = selectors.message_get(message_id=created.pk)
    response["Location"] = reverse("api:message_get", kwargs={"message_id": created.pk})
    return Status(201, _message_full(current, response))


@api.get(
    "/messages/{int:message_id}",
    response={200: MessageOut, 304: None, **READ_ERRORS},
    operation_id="message_get",
    auth=None,
    tags=["messages"],
    summary="Read a message",
    openapi_extra={"responses": {200: {"headers": ETAG}, 304: {"headers": ETAG}}},
)
def message_get(
    request: HttpRequest,
    response: HttpResponse,
    message_id: int = Path(..., ge=1, le=MAX_ID),
    if_none_match: str = Header(None, alias="If-None-Match"),
):
    message = selectors.message_get(message_id=message_id)
    if _none_match(if_none_match, message.version):
        return _not_modified(message.version)
    return _message_full(message, response)


@api.get(
    "/messages/{int:message_id}/body",
    response={200: None, 304: None, **READ_ERRORS},
    operation_id="message_body",
    auth=None,
    tags=["messages"],
    summary="Read a message's body as plain text",
    openapi_extra={
        "responses": {
            200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "headers": ETAG},
            304: {"headers": ETAG},
        }
    },
)
def message_body(
    request: HttpRequest,
    message_id: int = Path(..., ge=1, le=MAX_ID),
    if_none_match: str = Header(None, alias="If-None-Match"),
):
    message = selectors.message_get(message_id=message_id)
    if _none_match(if_none_match, message.version):
        return _not_modified(message.version)
    response = HttpResponse(selectors.message_body(message).encode(), content_type="text/plain; charset=utf-8")
    response["ETag"] = _etag(message.version)
    return response


@api.put(
    "/messages/{int:message_id}",
    response={
        200: MessageOut,
        409: ErrorOut,
        412: ErrorOut,
        423: LockedOut,
        428: ErrorOut,
        429: ErrorOut,
        **WRITE_ERRORS,
        **BODY_ERRORS,
    },
    operation_id="message_update",
    tags=["messages"],
    summary="Save a new version of a message",
    description=(
        "`If-Match` names the version the edit started from. With `Lease-Token`, the caller must hold "
        "that valid lease; without it, nobody may hold one. The lease stays held after the save."
    ),
    openapi_extra={"responses": {200: {"headers": ETAG, "links": MESSAGE_LINKS}}},
)
def message_update(
    request: HttpRequest,
    edit: MessageEditIn,
    response: HttpResponse,
    message_id: int = Path(..., ge=1, le=MAX_ID),
    if_match: str = Header(..., alias="If-Match"),
    lease_token: str = Header(None, alias="Lease-Token"),
):
    current = selectors.message_get(message_id=message_id)
    permissions.ensure_may_edit(request.auth, protected=current.protected)
    ratelimits.limit_user("save_user", request.auth)
    services.message_save_edit(
        message_id=message_id,
        user=request.auth,
        base_version=_if_match_version(if_match, current.version),
        lease_token=_lease_token(lease_token),
        subject=edit.subject,
        body=edit.body,
    )
    return _message_full(selectors.message_get(message_id=message_id), response)


@api.delete(
    "/messages/{int:message_id}",
    response={204: None, 412: ErrorOut, 423: LockedOut, **WRITE_ERRORS},
    operation_id="message_delete",
    tags=["messages"],
    summary="Delete a message (its author or a moderator; it can be restored)",
)
def message_delete(
    request: HttpRequest,
    message_id: int = Path(..., ge=1, le=MAX_ID),
    if_match: str = Header(None, alias="If-Match"),
):
    # Deleted before forbidden: every call on a deleted message answers 410.
    current = selectors.message_get(message_id=message_id)
    permissions.ensure_may_delete(request.auth, author_id=current.author_id, protected=current.protected)
    base_version = None if if_match is None else _if_match_version(if_match, current.version)
    services.message_delete(message_id=message_id, user=request.auth, base_version=base_version)
    return _no_content()


@api.post(
    "/messages/{int:message_id}/restore",
    response={200: MessageOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: InvalidOut},
    operation_id="message_restore",
    tags=["messages"],
    summary="Restore a deleted message (its author or a moderator)",
    openapi_extra={"responses": {200: {"headers": ETAG}}},
)
def message_restore(request: HttpRequest, response: HttpResponse, message_id: int = Path(..., ge=1, le=MAX_ID)):
    services.message_restore(message_id=message_id, user=request.auth)
    return _message_full(selectors.message_get(message_id=message_id), response)


# Leases ----------------------------------------------------------------------------------


@api.post(
    "/messages/{int:message_id}/lease",
    response={201: LeaseGrantOut, 423: LockedOut, 429: ErrorOut, **WRITE_ERRORS},
    operation_id="lease_acquire",
    tags=["leases"],
    summary="Take the message's editing lease (a new token each time)",
    description=(
        "Someone else holds it: `423 locked`. A user holds at most `MESSAGEBOARD_MAX_LEASES_PER_USER` "
        "(default 5) valid leases: one more is `429 too_many_leases`, whose `held` lists the message ids. "
        "For `MESSAGEBOARD_BREAK_COOLDOWN_SECONDS` (default 600) after a moderator broke the caller's "
        "lease on this message (or protected it), `403 lease_cooldown` with `Retry-After`."
    ),
    openapi_extra={"responses": {201: {"links": LEASE_LINKS}}},
)
def lease_acquire(request: HttpRequest, message_id: int = Path(..., ge=1, le=MAX_ID)):
    ratelimits.limit_user("lease_user", request.auth, message_id=message_id)
    grant = services.message_lease_acquire(message_id=message_id, user=request.auth)
    return Status(201, _grant(grant))


@api.put(
    "/messages/{int:message_id}/lease",
    response={200: LeaseGrantOut, 409: ErrorOut, **WRITE_ERRORS},
    operation_id="lease_renew",
    tags=["leases"],
    summary="Renew the caller's lease: same token, later expiry",
    description=(
        "A lease renews for at most `MESSAGEBOARD_LEASE_MAX_HOLD_SECONDS` (default 3600) after it was "
        "taken or after its holder's last save of the message; then, like a token that is not the "
        "current valid lease, `409 lease_lost`: take the lease again to go on."
    ),
)
def lease_renew(
    request: HttpRequest,
    message_id: int = Path(..., ge=1, le=MAX_ID),
    lease_token: str = Header(..., alias="Lease-Token"),
):
    token = _lease_token(lease_token)
    return _grant(services.message_lease_renew(message_id=message_id, user=request.auth, token=token))


@api.delete(
    "/messages/{int:message_id}/lease",
    response={204: None, 409: ErrorOut, **WRITE_ERRORS},
    operation_id="lease_release",
    tags=["leases"],
    summary="Release the caller's lease; without Lease-Token, a moderator breaks anyone's",
)
def lease_release(
    request: HttpRequest,
    message_id: int = Path(..., ge=1, le=MAX_ID),
    lease_token: str = Header(None, alias="Lease-Token"),
):
    services.message_lease_release(message_id=message_id, user=request.auth, token=_lease_token(lease_token))
    return _no_content()


@api.get(
    "/messages/{int:message_id}/lease/events",
    response={200: LeaseEventPageOut, 401: ErrorOut, 403: ErrorOut, **READ_ERRORS},
    operation_id="lease_events",
    tags=["leases"],
    summary="Who held the message's lease: its transitions, newest first (moderators only)",
    description=(
        "`acquired`; `released`; `expired` (found expired when someone else took the lease); "
        "`replaced` (the holder took it again, and the old token died); `broken` (`by` names the "
        "moderator). Renewals are not events."
    ),
)
def lease_events(
    request: HttpRequest,
    message_id: int = Path(..., ge=1, le=MAX_ID),
    limit: int = Query(LEASE_EVENT_PAGE, ge=1, le=MAX_PAGE),
    cursor: str = Query(None, description="next_cursor of the previous page."),
):
    before = _cursor_decode("e", cursor, maximum=MAX_ID)
    page = selectors.lease_event_list(message_id=message_id, viewer=request.auth, before=before, limit=limit)
    return {"items": [_lease_event(e) for e in page.items], "next_cursor": _cursor_encode("e", page.next_before)}


# Moderation ------------------------------------------------------------------------------


@api.post(
    "/messages/{int:message_id}/protect",
    response={200: MessageOut, **WRITE_ERRORS},
    operation_id="message_protect",
    tags=["moderation"],
    summary="Protect a message: only moderators can edit it then (moderators only)",
    openapi_extra={"responses": {200: {"headers": ETAG}}},
)
def message_protect(request: HttpRequest, response: HttpResponse, message_id: int = Path(..., ge=1, le=MAX_ID)):
    services.message_protect(message_id=message_id, user=request.auth)
    return _message_full(selectors.message_get(message_id=message_id), response)


@api.post(
    "/messages/{int:message_id}/unprotect",
    response={200: MessageOut, **WRITE_ERRORS},
    operation_id="message_unprotect",
    tags=["moderation"],
    summary="Unprotect a message: everyone can edit it again (moderators only)",
    openapi_extra={"responses": {200: {"headers": ETAG}}},
)
def message_unprotect(request: HttpRequest, response: HttpResponse, message_id: int = Path(..., ge=1, le=MAX_ID)):
    services.message_unprotect(message_id=message_id, user=request.auth)
    return _message_full(selectors.message_get(message_id=message_id), response)


# History ---------------------------------------------------------------------------------


@api.get(
    "/messages/{int:message_id}/revisions",
    response={200: RevisionPageOut, **READ_ERRORS},
    operation_id="revision_list",
    auth=None,
    tags=["history"],
    summary="List a message's versions, newest first",
)
def revision_list(
    request: HttpRequest,
    message_id: int = Path(..., ge=1, le=MAX_ID),
    limit: int = Query(HISTORY_PAGE, ge=1, le=MAX_PAGE),
    cursor: str = Query(None, description="next_cursor of the previous page."),
):
    before = _cursor_decode("r", cursor, maximum=MAX_VERSION)
    page = selectors.revision_list(message_id=message_id, before=before, limit=limit)
    return {"items": [_revision(r) for r in page.items], "next_cursor": _cursor_encode("r", page.next_before)}


@api.get(
    "/messages/{int:message_id}/revisions/{int:version}",
    response={200: RevisionDetailOut, **READ_ERRORS},
    operation_id="revision_get",
    auth=None,
    tags=["history"],
    summary="Read one version of a message, with its body",
)
def revision_get(request: HttpRequest, message_id: int = Path(..., ge=1, le=MAX_ID), version: int = Path(...)):
    # Any version that does not exist, 0 and numbers beyond any column included, is a 404.
    revision = selectors.revision_get(message_id=message_id, version=version)
    return {**_revision(revision), "body": selectors.revision_body(revision)}


@api.post(
    "/messages/{int:message_id}/revisions/{int:version}/revert",
    response={
        200: MessageOut,
        400: ErrorOut,
        409: ErrorOut,
        412: ErrorOut,
        423: LockedOut,
        428: ErrorOut,
        413: ErrorOut,
        429: ErrorOut,
        **WRITE_ERRORS,
    },
    operation_id="revision_revert",
    tags=["history"],
    summary="Make an old version current again, as a new version",
    description=(
        "Publishes the old version's subject and body as a new version by the caller; history is "
        "never rewritten. The rules of `PUT /api/messages/{message_id}` apply: `If-Match` names the "
        "current version, and with `Lease-Token` the caller must hold that valid lease, without it "
        "nobody may hold one. Reverting to the current version is `400 invalid`."
    ),
    openapi_extra={"responses": {200: {"headers": ETAG, "links": MESSAGE_LINKS}}},
)
def revision_revert(
    request: HttpRequest,
    response: HttpResponse,
    message_id: int = Path(..., ge=1, le=MAX_ID),
    version: int = Path(...),
    if_match: str = Header(..., alias="If-Match"),
    lease_token: str = Header(None, alias="Lease-Token"),
):
    current = selectors.message_get(message_id=message_id)
    permissions.ensure_may_edit(request.auth, protected=current.protected)
    ratelimits.limit_user("save_user", request.auth)
    services.message_revert(
        message_id=message_id,
        user=request.auth,
        version=version,
        base_version=_if_match_version(if_match, current.version),
        lease_token=_lease_token(lease_token),
    )
    return _message_full(selectors.message_get(message_id=message_id), response)


# URLs ------------------------------------------------------------------------------------

# Ninja answers an unknown method with a plain-text 405 and its root address with an HTML
# 404; the contract wants the JSON error body everywhere under /api, so each route is wrapped.
READ_ONLY_ROUTES = {"openapi-json", "openapi-view"}


def _allowed(methods) -> str:
    methods = set(methods)
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


def _method_not_allowed(request: HttpRequest, allowed: str) -> HttpResponse:
    response = error_response(405, "method_not_allowed", NO_METHOD.format(method=request.method, allowed=allowed))
    response["Allow"] = allowed
    return response


def _json_errors(view: Callable, *, read_only: bool) -> Callable:
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if read_only and request.method not in {"GET", "HEAD"}:
            return _method_not_allowed(request, _allowed(["GET"]))
        head = request.method == "HEAD"
        if head:
            # Answer HEAD as GET; the server (or the test client) drops the body.
            request.method = "GET"
        try:
            response = view(request, *args, **kwargs)
        except Http404:
            response = error_response(404, "not_found", NO_ROUTE)
        finally:
            if head:
                request.method = "HEAD"
        if response.status_code == 405 and not response.get("Content-Type", "").startswith("application/json"):
            allowed = [method.strip() for method in response.get("Allow", "").split(",") if method.strip()]
            response = _method_not_allowed(request, _allowed(allowed))
        return response

    # Cookie-authenticated writes are CSRF-checked by SessionWithCsrf; bearer ones need none.
    wrapper.csrf_exempt = True
    return wrapper


@csrf_exempt
def unknown_route(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    """Answer any address under /api that no route serves with the JSON 404."""
    return error_response(404, "not_found", NO_ROUTE)


def api_urls() -> tuple[list, str, str]:
    """Return the API's URL patterns, namespace "api", for path("api/", …)."""
    patterns, app_name, namespace = api.urls
    wrapped = [
        URLPattern(
            pattern.pattern,
            _json_errors(pattern.callback, read_only=pattern.name in READ_ONLY_ROUTES),
            pattern.default_args,
            pattern.name,
        )
        for pattern in patterns
    ]
    wrapped.append(re_path(r"", unknown_route, name="unknown"))
    return wrapped, app_name, namespace
