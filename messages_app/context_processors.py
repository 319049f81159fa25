"""What every page's template gets."""

from functools import cache

from django.conf import settings
from django.http import HttpRequest
from django.templatetags.static import static
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django_htmx.jinja import htmx_script

SITE_URL_NAMES = {
    "messages": "messages_app:message-list",
    "new_message": "messages_app:message-create",
    "login": "login",
    "logout": "logout",
    "signup": "signup",
    "account": "account",
    "search": "search",
}
# Scripts come from our own origin, which the content security policy allows: no nonce, so
# the tags are the same on every page and are written once per process.
HEAD_ASSETS = (
    '<link rel="icon" href="{favicon}" type="image/svg+xml">\n'
    '<link rel="stylesheet" href="{css}">\n'
    "{htmx}\n"
    '<script src="{js}" defer></script>'
)


def site_urls(request: HttpRequest) -> dict:
    """Add ``site_urls`` (the header's links) and ``head_assets`` (stylesheet and scripts).

    Reversed once per process: written out per page with {% url %} and {% static %}, the
    header's links and the head's assets were a large share of a message page's work.
    """
    return {"site_urls": site_urls_for_request(), "head_assets": _head_assets(settings.STATIC_URL, settings.DEBUG)}


def site_urls_for_request() -> dict[str, str]:
    """Return the header's links, by name, for the URL configuration serving this request."""
    return _site_urls(get_script_prefix(), str(get_urlconf() or settings.ROOT_URLCONF))


@cache
def _site_urls(script_prefix: str, urlconf: str) -> dict[str, str]:
    return {name: reverse(url_name, urlconf=urlconf) for name, url_name in SITE_URL_NAMES.items()}


@cache
def _head_assets(static_url: str, debug: bool) -> SafeString:
    return format_html(
        HEAD_ASSETS,
        favicon=static("favicon.svg"),
        css=static("css/board.css"),
        htmx=htmx_script(),
        js=static("js/board.js"),
    )
