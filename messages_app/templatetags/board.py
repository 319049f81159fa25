import html
from datetime import datetime

from django import template
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

from messages_app import permissions

register = template.Library()


@register.filter
def when(value: datetime | None, precision: str = "minutes") -> SafeString | str:
    """Render a UTC timestamp as a <time> element, which the page's script shows in local time.

    Django's |date filter goes through localisation machinery that costs more than the rest
    of a list row; strftime on an aware UTC datetime says the same thing.
    """
    if not value:  # None, or "" for a missing variable, as Django's |date allows
        return ""
    return mark_safe(_time(value, precision))


def _time(value: datetime, precision: str = "minutes") -> str:
    iso = value.isoformat()
    # isoformat() starts "YYYY-MM-DDTHH:MM:SS" whatever follows: cut from it, a strftime less.
    shown = iso[: 19 if precision == "seconds" else 16].replace("T", " ")
    # Digits and punctuation only, nothing to escape: format_html's escaping cost a fifth of
    # the list page, which shows fifty of these.
    # The page's script says it in the reader's time zone (static/js/board.js); without it, UTC.
    return f'<time datetime="{iso}" data-show="date">{shown} UTC</time>'


@register.filter
def clock(value: datetime | None) -> SafeString | str:
    """Render a UTC timestamp's time of day as a <time> element, e.g. for a lease expiry."""
    if not value:  # None, or "" for a missing variable, as Django's |date allows
        return ""
    return mark_safe(f'<time datetime="{value.isoformat()}" data-show="clock">{value.strftime("%H:%M:%S")} UTC</time>')


@register.simple_tag
def message_rows(messages, list_url: str) -> SafeString:
    """Render the list page's table rows, one per message.

    Written out rather than templated: fifty rows of template variables were half the list
    page's work (README "Performance").
    """
    list_url = conditional_escape(list_url)
    rows = []
    for message in messages:
        # Text from the database, never marked safe: html.escape is what Django's escape does.
        holder = message.lease_holder
        editing = f'<span class="badge editing">{html.escape(holder)}</span>' if holder else ""
        updated = _time(message.updated_at) if message.updated_at else ""
        rows.append(
            "\n    <tr>"
            f'\n      <td><a href="{list_url}{message.pk}/">{html.escape(message.subject)}</a></td>'
            f"\n      <td>{html.escape(message.author_name)}</td>"
            f"\n      <td>{updated}</td>"
            f'\n      <td class="num">{message.version}</td>'
            f"\n      <td>{editing}</td>"
            "\n    </tr>\n  "
        )
    return mark_safe("".join(rows))


PROTECTED_NOTICE = (
    '<p class="notice protected" data-protected>🔒 This message is protected by a moderator: only moderators '
    "can edit it or restore its versions.</p>"
)


def message_article(message, body: str, *, user, messages_url: str) -> SafeString:
    """Render a message page's article: subject, byline, lease and protection notices, body, actions.

    The message page is the board's most read page; written out, its article costs a fraction
    of what the template language did (README "Performance").
    """
    # Text from the database and the body file, never marked safe: html.escape is what
    # Django's escape does.
    subject = html.escape(message.subject)
    byline = f"by <strong>{html.escape(message.author_name)}</strong> · {_time(message.created_at)}\n"
    byline += f"    · version {message.version}"
    if message.version > 1:
        updated_by = html.escape(message.updated_by_name)
        byline += f", last edited by <strong>{updated_by}</strong> {_time(message.updated_at)}"
    lease = ""
    if message.lease_holder:
        lease = (
            f'<p class="lease lease-other">✎ <strong>{html.escape(message.lease_holder)}</strong> is editing this '
            f"message (lease until {clock(message.lease_expires_at)}).</p>"
        )
    message_url = f"{messages_url}{message.pk}/"
    versions = f"{message.version} version{'' if message.version == 1 else 's'}"
    delete = ""
    if permissions.may_delete(user, author_id=message.author_id, protected=message.protected):
        delete = f'<a class="button danger" href="{message_url}delete/">Delete</a>'
    edit = ""
    if permissions.offers_edit(user, protected=message.protected):
        edit = f'<a class="button primary" href="{message_url}edit/">Edit</a>'
    return mark_safe(
        f'<article class="message">\n  <h1>{subject}</h1>\n  <p class="meta">{byline}</p>\n  {lease}\n'
        f"  {PROTECTED_NOTICE if message.protected else ''}\n"
        f'  <div class="body">{html.escape(body)}</div>\n  <nav class="actions">\n'
        f"    {edit}\n"
        f'    <a class="button" href="{message_url}history/">History ({versions})</a>\n'
        f"    {delete}\n  </nav>\n</article>"
    )
