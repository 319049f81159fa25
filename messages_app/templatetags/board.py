from datetime import datetime

from django import template
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
