"""What every page's template gets."""

from django.conf import settings
from django.http import HttpRequest
from django.urls import get_script_prefix, get_urlconf, reverse

SITE_URL_NAMES = {
    "messages": "messages_app:message-list",
    "new_message": "messages_app:message-create",
    "login": "login",
    "logout": "logout",
    "signup": "signup",
}
_reversed: dict[tuple[str, str, str], str] = {}


class SiteUrls:
    """The addresses in every page's header, reversed once per process rather than per page.

    {% url %} costs ~25 µs; the header's three made a tenth of a message page.
    """

    __slots__ = ()

    def __getitem__(self, name: str) -> str:
        key = (name, get_script_prefix(), str(get_urlconf() or settings.ROOT_URLCONF))
        try:
            return _reversed[key]
        except KeyError:
            url = _reversed[key] = reverse(SITE_URL_NAMES[name])
            return url


def site_urls(request: HttpRequest) -> dict:
    """Add ``site_urls``: ``{{ site_urls.login }}`` and the other header links."""
    return {"site_urls": SiteUrls()}
