from datetime import datetime

from django import template
from django.utils.html import format_html

register = template.Library()


@register.filter
def when(value: datetime | None, precision: str = "minutes") -> str:
    """Render a UTC timestamp as a <time> element.

    Django's |date filter goes through localisation machinery that costs more than the rest
    of a list row; strftime on an aware UTC datetime says the same thing.
    """
    if not value:  # None, or "" for a missing variable, as Django's |date allows
        return ""
    shown = value.strftime("%Y-%m-%d %H:%M:%S" if precision == "seconds" else "%Y-%m-%d %H:%M")
    return format_html('<time datetime="{}">{}</time>', value.isoformat(), shown)


@register.filter
def clock(value: datetime | None) -> str:
    """Render a UTC timestamp's time of day as a <time> element, e.g. for a lease expiry."""
    if not value:  # None, or "" for a missing variable, as Django's |date allows
        return ""
    return format_html('<time datetime="{}">{} UTC</time>', value.isoformat(), value.strftime("%H:%M:%S"))
