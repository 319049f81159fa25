"""Error bodies of the API contract: every refusal as {"error", "detail"}, mapped in one place."""

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.responses import NinjaJSONEncoder

from messages_app import permissions, selectors
from messages_app.errors import (
    AlreadyCurrent,
    BoardNotFound,
    BodyTooLarge,
    DomainError,
    DraftNotFound,
    DraftOutOfSequence,
    InvalidInput,
    InvalidSearch,
    LeaseCooldown,
    LeaseHeld,
    LeaseLost,
    MessageGone,
    MessageNotFound,
    NotAllowed,
    RateLimited,
    RevisionNotFound,
    SearchTooBroad,
    TokenNotFound,
    TooManyDrafts,
    TooManyLeases,
    TooManyTokens,
    VersionConflict,
)

logger = logging.getLogger("django.request")


BAD_CREDENTIALS = "The username or password is wrong."
SIGN_IN = "Sign in first: send 'Authorization: Bearer <token>' (POST /api/auth/token gives one) or use a session."
CSRF_FAILED = "The CSRF check failed: a request signed in by session cookie must send the X-CSRFToken header."
NOT_JSON = "The request body is not valid JSON."
NO_IF_MATCH = 'Send If-Match with the version you started from, like If-Match: "3".'
NO_ROUTE = "There is nothing at this address; the API is described at /api/docs."
NO_METHOD = "This address does not answer {method}; it answers {allowed}."
BAD_CURSOR = "The cursor is not one this API gave out."
LEASE_TOKEN_EMPTY = "The Lease-Token header is empty."


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
    (BoardNotFound, 404, "not_found"),
    (RevisionNotFound, 404, "not_found"),
    (TokenNotFound, 404, "not_found"),
    (DraftNotFound, 404, "not_found"),
    (MessageGone, 410, "gone"),
    (NotAllowed, 403, "forbidden"),
    (BodyTooLarge, 413, "too_large"),
    (InvalidSearch, 400, "invalid"),
    (SearchTooBroad, 400, "too_broad"),
    (InvalidInput, 422, "invalid"),
    (LeaseHeld, 423, "locked"),
    (LeaseLost, 409, "lease_lost"),
    (VersionConflict, 412, "version_conflict"),
    (AlreadyCurrent, 400, "invalid"),
    (TooManyTokens, 429, "too_many_tokens"),
    (TooManyLeases, 429, "too_many_leases"),
    (TooManyDrafts, 429, "too_many_drafts"),
    (DraftOutOfSequence, 409, "draft_out_of_sequence"),
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
    elif isinstance(exc, InvalidInput) and not isinstance(exc, BodyTooLarge):
        extra["fields"] = {exc.field: exc.detail}
    elif isinstance(exc, DraftOutOfSequence):
        extra["seq"] = exc.stored_seq
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
    ("PUT", "/messages/<int:message_id>/draft"),
    ("POST", "/messages/<int:message_id>/merge"),
    ("PUT", "/messages/<int:message_id>/editors"),
}


def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    # docs/API.md's order of checks: the message exists (404, 410) and the caller may edit it (403)
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
    """Raise what docs/API.md puts before input errors for a call on one message: 404, 410, then 403."""
    match = request.resolver_match
    message_id = match.kwargs.get("message_id") if match else None
    if not isinstance(message_id, int):
        return
    user = getattr(request, "auth", None)
    current = selectors.message_get(message_id=message_id, viewer=user if user is not None else request.user)
    editing = any(request.method == method and match.route.endswith(route) for method, route in EDITING_CALLS)
    if editing and user is not None:
        permissions.ensure_may_edit(user, current)


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


def register_error_handlers(api: NinjaAPI) -> None:
    """Answer every exception the API's views raise with the contract's error body."""
    api.add_exception_handler(DomainError, _domain_error)
    api.add_exception_handler(ApiError, _api_error)
    api.add_exception_handler(ValidationError, _validation_error)
    api.add_exception_handler(HttpError, _http_error)
    api.add_exception_handler(RequestDataTooBig, _too_big)
    api.add_exception_handler(Http404, _not_found)
    api.add_exception_handler(Exception, _server_error)
