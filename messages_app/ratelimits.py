"""Request rate limits: sign-in failures, sign-ups, API tokens, posts, saves and lease requests.

Counted by the ``limits`` library in a moving window (a refused request learns exactly when a
slot frees, for its Retry-After). The counts live in Redis when REDIS_URL is set, so every
worker and app server shares them; on the embedded default (one ``runserver`` process) they
live in this process's memory. Every figure is a setting in ``limits`` notation
(``"6/minute;60/hour"``: each part must hold), and ``MESSAGEBOARD_RATE_LIMITS=off`` turns
them all off for benchmarks and load tests.

Sign-in is guarded before any password is hashed: ``SignInLimitBackend`` comes first in
AUTHENTICATION_BACKENDS and stops ``authenticate()`` for a locked-out username+address or
address; the failures themselves are counted from the ``user_login_failed`` signal.
"""

import contextlib
import hashlib
import ipaddress
import logging
import math
import threading
import time
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from messages_app import metrics, permissions, selectors
from messages_app.errors import RateLimited

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Limit:
    setting: str  # where its figures are, in limits notation
    reason: str  # the sentence a refused person reads, before when to try again


LIMITS: dict[str, Limit] = {
    "signin_user_ip": Limit(
        "MESSAGEBOARD_RATE_SIGNIN", "Too many failed sign-ins for this username from your address."
    ),
    "signin_ip": Limit("MESSAGEBOARD_RATE_SIGNIN_IP", "Too many failed sign-ins from your address."),
    "signup_ip": Limit("MESSAGEBOARD_RATE_SIGNUPS", "Too many new accounts from your address."),
    "token_ip": Limit("MESSAGEBOARD_RATE_TOKENS", "Too many API token requests from your address."),
    "post_user": Limit("MESSAGEBOARD_RATE_POSTS", "You are posting messages faster than this board allows."),
    "save_user": Limit("MESSAGEBOARD_RATE_SAVES", "You are saving edits faster than this board allows."),
    "diff_ip": Limit("MESSAGEBOARD_RATE_DIFFS", "You are asking for comparisons faster than this board allows."),
    "lease_user": Limit(
        "MESSAGEBOARD_RATE_LEASES", "You are opening messages for editing faster than this board allows."
    ),
    "merge_user": Limit("MESSAGEBOARD_RATE_MERGES", "You are asking for merges faster than this board allows."),
    "draft_user": Limit("MESSAGEBOARD_RATE_DRAFTS", "You are saving drafts faster than this board allows."),
    "preview_user": Limit("MESSAGEBOARD_RATE_PREVIEWS", "You are asking for previews faster than this board allows."),
    "search_ip": Limit("MESSAGEBOARD_RATE_SEARCHES", "You are searching faster than this board allows."),
}

_limiter: MovingWindowRateLimiter | None = None
_limiter_lock = threading.Lock()


def enabled() -> bool:
    """Return whether request rate limits are on (MESSAGEBOARD_RATE_LIMITS)."""
    return bool(settings.MESSAGEBOARD_RATE_LIMITS)


def limiter() -> MovingWindowRateLimiter:
    """Return this process's limiter, built on first use from MESSAGEBOARD_RATE_STORAGE."""
    global _limiter
    if _limiter is None:
        with _limiter_lock:
            if _limiter is None:
                _limiter = _build_limiter()
    return _limiter


def reset() -> None:
    """Forget this process's limiter: the next request builds it again from the settings."""
    global _limiter
    with _limiter_lock:
        _limiter = None


@receiver(setting_changed)
def _rate_setting_changed(*, setting: str, **kwargs) -> None:
    # override_settings in tests: a new storage or key prefix must take effect, and a test
    # that turns limits on starts from empty counts on the per-process memory storage.
    if setting.startswith("MESSAGEBOARD_RATE_"):
        reset()


def _build_limiter() -> MovingWindowRateLimiter:
    url = settings.MESSAGEBOARD_RATE_STORAGE
    options: dict = {}
    if url.split(":", 1)[0].startswith(("redis", "rediss", "valkey")):
        # Short timeouts: a Redis that stopped answering must not hold every request up.
        options = {
            "key_prefix": settings.MESSAGEBOARD_RATE_KEY_PREFIX,
            "socket_timeout": 2,
            "socket_connect_timeout": 2,
        }
    return MovingWindowRateLimiter(storage_from_string(url, wrap_exceptions=True, **options))


@lru_cache(maxsize=64)
def _parse(setting: str, figures: str) -> tuple[RateLimitItem, ...]:
    try:
        items = parse_many(figures)
    except ValueError:
        raise ImproperlyConfigured(
            f"{setting} must be rate limits like '5/minute' or '6/minute;60/hour', not {figures!r}."
        ) from None
    # Shortest window first: a burst is refused by the minute before it eats into the hour.
    return tuple(sorted(items, key=lambda item: item.get_expiry()))


def limit_items(name: str) -> tuple[RateLimitItem, ...]:
    """Return the parsed figures of a named limit, shortest window first."""
    setting = LIMITS[name].setting
    return _parse(setting, getattr(settings, setting))


def count(name: str, *identifiers: str) -> None:
    """Count one request against a named limit; raise RateLimited if it would go over."""
    _check(name, identifiers, counting=True)


def test(name: str, *identifiers: str) -> None:
    """Raise RateLimited if a named limit is used up, without counting this request."""
    _check(name, identifiers, counting=False)


def _check(name: str, identifiers: tuple[str, ...], *, counting: bool) -> None:
    if not enabled():
        return
    for item in limit_items(name):
        try:
            allowed = (limiter().hit if counting else limiter().test)(item, name, *identifiers)
        except StorageError:
            _storage_failed(name)
            return
        if not allowed:
            raise _refusal(name, item, identifiers)


def _refusal(name: str, item: RateLimitItem, identifiers: tuple[str, ...]) -> RateLimited:
    metrics.RATE_LIMITED.labels(name).inc()
    try:
        reset_at = limiter().get_window_stats(item, name, *identifiers).reset_time
    except StorageError:
        reset_at = time.time() + item.get_expiry()
    retry_after = min(item.get_expiry(), max(1, math.ceil(reset_at - time.time())))
    return RateLimited(LIMITS[name].reason, retry_after=retry_after)


def _storage_failed(name: str) -> None:
    # Open, not shut: an unreachable Redis must not lock every member out of the board.
    logger.warning("rate limit %s not checked: its storage failed", name, exc_info=True)


# Who is counted --------------------------------------------------------------------------


def client_address(request: HttpRequest) -> str:
    """Return the address a request's limits count against.

    The caller's address (client_ip). IPv6 addresses count by network
    (MESSAGEBOARD_RATE_IPV6_PREFIX, /64 by default): one host is handed a whole /64 and could
    otherwise step through it.
    """
    address = client_ip(request)
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:64] or "unknown"
    if parsed.version == 6:
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        prefix = settings.MESSAGEBOARD_RATE_IPV6_PREFIX
        return str(ipaddress.ip_network(f"{parsed}/{prefix}", strict=False))
    return str(parsed)


def client_ip(request: HttpRequest) -> str:
    """Return the caller's address as sent: REMOTE_ADDR, or what the outermost trusted proxy saw.

    With MESSAGEBOARD_TRUSTED_PROXY_COUNT proxies in front, the address the outermost of them
    saw, from X-Forwarded-For (entries further left are the client's to invent).
    """
    address = request.META.get("REMOTE_ADDR", "")
    proxies = settings.MESSAGEBOARD_TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if forwarded:
            # Each trusted proxy appends what it saw; fewer entries than proxies means every
            # entry was written by one of them.
            address = forwarded[-proxies] if len(forwarded) >= proxies else forwarded[0]
    return address


def limit_address(name: str, request: HttpRequest) -> None:
    """Count a request against a per-address limit (sign-ups, API tokens)."""
    count(name, client_address(request))


def limit_user(name: str, user, *, message_id: int | None = None) -> None:
    """Count a user's request against a per-user limit (posts, saves, lease requests).

    Moderators are not limited: one cleaning up after a script must not be slowed by it.
    With message_id, a refused request first says what docs/API.md's order of checks puts
    before the limit: no such message (404), deleted (410), not the user's to edit (403).
    Both are looked up only for a refused request, so the usual one costs nothing more.
    """
    try:
        count(name, str(user.pk))
    except RateLimited:
        if permissions.is_moderator(user):
            return
        if message_id is not None:
            message = selectors.message_get(message_id=message_id, viewer=user)
            permissions.ensure_may_edit(user, message)
        raise


# Sign-in ---------------------------------------------------------------------------------


def _username_key(username: str) -> str:
    # Case and Unicode variants of one name count as one: some databases look usernames up
    # case-insensitively. Hashed, so a long or odd username makes an ordinary key.
    folded = unicodedata.normalize("NFKC", username).casefold()
    return hashlib.sha256(folded.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _signin_subjects(request: HttpRequest, username: str) -> list[tuple[str, tuple[str, ...]]]:
    address = client_address(request)
    return [("signin_user_ip", (address, _username_key(username))), ("signin_ip", (address,))]


def check_password_guess(request: HttpRequest, username: str) -> None:
    """Raise RateLimited if this username from this address, or this address, may guess no more passwords."""
    for name, identifiers in _signin_subjects(request, username):
        test(name, *identifiers)


def count_password_failure(request: HttpRequest, username: str) -> None:
    """Count a wrong password for this username from this address (sign-in or password change)."""
    for name, identifiers in _signin_subjects(request, username):
        # A failure past the limit changes nothing: the next attempt is refused either way.
        with contextlib.suppress(RateLimited):
            count(name, *identifiers)


class SignInLimitBackend:
    """Refuse a sign-in from a locked-out username+address or address before any password is hashed.

    Listed first in AUTHENTICATION_BACKENDS. It never signs anyone in, and has no get_user,
    so sessions and force_login keep naming ModelBackend. Raising PermissionDenied makes
    authenticate() stop at once; the refusal rides on the request to be answered with 429
    (SignInLimitMiddleware for the pages, the token endpoint for the API).
    """

    def authenticate(self, request: HttpRequest | None, username: str | None = None, password=None, **kwargs):
        if request is None or not enabled():
            return None
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None:
            return None
        try:
            check_password_guess(request, str(username))
        except RateLimited as refused:
            request.signin_refused = refused
            raise PermissionDenied(refused.detail) from None
        return None


@receiver(user_login_failed)
def _count_signin_failure(sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
    if request is None or getattr(request, "signin_refused", None) is not None or not enabled():
        return
    username = credentials.get("username", credentials.get(get_user_model().USERNAME_FIELD))
    if username is not None:
        count_password_failure(request, str(username))


def signin_refusal(request: HttpRequest) -> RateLimited | None:
    """Return (and clear) the refusal SignInLimitBackend put on this request, if any."""
    return request.__dict__.pop("signin_refused", None)


class SignInLimitMiddleware:
    """Answer a sign-in page (/accounts/login/, /admin/login/) refused by the limits with the 429 page."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        refused = signin_refusal(request)
        if refused is None:
            return response
        # Imported here: the pages import this module.
        from messages_app.views import rate_limited_page

        return rate_limited_page(request, refused)
