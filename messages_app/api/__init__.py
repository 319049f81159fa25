"""The JSON API of docs/API.md: HTTP in and out, every rule left to services and selectors.

One django-ninja Router per resource (tokens.py, messages.py, search.py, leases.py, revisions.py, drafts.py); the
error bodies (errors.py), authentication (auth.py), schemas (schemas.py) and HTTP helpers
(http.py) each have a module."""

from collections.abc import Callable
from functools import wraps

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, re_path
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI, Swagger

from messages_app.api.auth import WRITE_AUTH
from messages_app.api.boards import router as board_router
from messages_app.api.drafts import router as draft_router
from messages_app.api.errors import NO_METHOD, NO_ROUTE, error_response, register_error_handlers
from messages_app.api.leases import router as lease_router
from messages_app.api.messages import router as message_router
from messages_app.api.revisions import router as revision_router
from messages_app.api.search import router as search_router
from messages_app.api.tokens import router as token_router

__all__ = ["api", "api_urls", "error_response", "unknown_route"]

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
register_error_handlers(api)
for router in (token_router, board_router, message_router, search_router, lease_router, revision_router, draft_router):
    api.add_router("", router)


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
