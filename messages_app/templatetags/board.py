import functools
from datetime import datetime

from django import template
from django.core.exceptions import ImproperlyConfigured
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.filter
def when(value: datetime | None, precision: str = "minutes") -> SafeString | str:
    """Render a UTC timestamp as a <time> element, which the page's script shows in local time.

    Django's |date filter goes through localisation machinery that costs more than the rest
    of a list row; strftime on an aware UTC datetime says the same thing.
    """
    if not value:  # None, or "" for a missing variable, as Django's |date allows
        return ""
    iso = value.isoformat()
    # isoformat() starts "YYYY-MM-DDTHH:MM:SS" whatever follows: cut from it, a strftime less.
    shown = iso[: 19 if precision == "seconds" else 16].replace("T", " ")
    # Digits and punctuation only: nothing to escape. The page's script says it in the
    # reader's time zone (static/js/board.js); without it, UTC.
    return mark_safe(f'<time datetime="{iso}" data-show="date">{shown} UTC</time>')


@register.filter
def clock(value: datetime | None) -> SafeString | str:
    """Render a UTC timestamp's time of day as a <time> element, e.g. for a lease expiry."""
    if not value:  # None, or "" for a missing variable, as Django's |date allows
        return ""
    return mark_safe(f'<time datetime="{value.isoformat()}" data-show="clock">{value.strftime("%H:%M:%S")} UTC</time>')


@register.filter
def message_url(message_id: int) -> str:
    """Return the message page's URL, as ``{% url 'messages_app:message-detail' message_id %}`` does.

    Reversing costs more than the rest of a list row, fifty times a page: the route is reversed
    once per URL configuration, around a placeholder id, and the id goes where it was.
    """
    prefix, suffix = _message_url_parts(get_script_prefix(), get_urlconf())
    return f"{prefix}{int(message_id)}{suffix}"


@register.filter
def board_url(slug: str) -> str:
    """Return a board's list URL, as ``{% url 'board-messages' slug %}`` does (kept per slug)."""
    return _board_url(slug, get_script_prefix(), get_urlconf())


@functools.lru_cache(maxsize=4096)
def _board_url(slug: str, script_prefix: str, urlconf: str | None) -> str:
    return reverse("board-messages", args=[slug], urlconf=urlconf)


@functools.cache
def _message_url_parts(script_prefix: str, urlconf: str | None) -> tuple[str, str]:
    # A placeholder no route could hold by accident: the id is the only digits in the URL.
    placeholder = 987654321
    before, found, after = reverse("messages_app:message-detail", args=[placeholder], urlconf=urlconf).partition(
        str(placeholder)
    )
    if not found or str(placeholder) in after:
        raise ImproperlyConfigured("the message page's URL must hold its id once")
    return before, after
