"""Rendered fragments of the board's two most read pages, kept per process, and when they go stale.

- A message page's article is kept under everything it shows: the message's row (version,
  body key, subject, names, times, lease holder and expiry, protection) and the buttons the
  viewer's role decides. A new version, a lease taken or another role is another key, so
  nothing is ever invalidated, and a hit reads neither the body nor a template.
- A list row is kept under its message's row, as an article is.
- A list page is kept under the *list generation*, a number that every change the list shows
  moves (a post, a save, a delete or restore, a lease taken or given up, a renamed user), and
  at most until the first lease it shows runs out (expiry moves no number).
- A visitor's whole page (the layout around one of those) is kept under its title, content and
  address: signed in, or with a notice to show, the layout is rendered for the person.
- A visitor's whole message page is also kept under the row of the message page's one
  statement (everything the page shows but the body, which the version names), so a kept one
  is sent after that statement alone: no row object, permission rule or template.

Both live in this process's memory within MESSAGEBOARD_PAGE_CACHE_BYTES: looking one up costs
less than a query, while rendering them is most of what the pages cost (README "Performance").
The generation is in the database, so a change made through any process or app server reaches
every process's next list.
"""

import functools
import threading
import time
from collections.abc import Callable, Hashable, Iterable

from django.conf import settings
from django.core.signals import setting_changed
from django.db import connection, transaction
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils.safestring import SafeString, mark_safe

from messages_app import permissions
from messages_app.models import ListGeneration
from messages_app.textcache import BoundedTextCache

GENERATION_TABLE = ListGeneration._meta.db_table
# PostgreSQL: a sequence (migration 0009) moves without a row lock, so writers never queue on it.
GENERATION_SEQUENCE = "messages_app_list_generation"

# Articles, list rows, lists, visitors' pages (by their content) and visitors' message pages
# (by the generations): the last two hold the same pages under different keys.
KINDS = ("article", "row", "list", "visitor", "visitor-message")
_caches: dict[str, BoundedTextCache] = {}
_caches_lock = threading.Lock()


def _cache(name: str) -> BoundedTextCache:
    cache = _caches.get(name)
    if cache is None:
        with _caches_lock:
            # Each kind has an equal share of the budget: none pushes another out.
            cache = _caches.setdefault(name, BoundedTextCache(settings.MESSAGEBOARD_PAGE_CACHE_BYTES // len(KINDS)))
    return cache


def _forget_caches(*, setting: str, **kwargs) -> None:
    if setting in {"MESSAGEBOARD_PAGE_CACHE_BYTES", "MESSAGEBOARD_CHANGES_POLL_SECONDS", "CACHES", "DATABASES"}:
        clear()


setting_changed.connect(_forget_caches)


def clear() -> None:
    """Forget every kept fragment of this process."""
    with _caches_lock:
        _caches.clear()


def article(key: Hashable, render: Callable[[], str]) -> str:
    """Return the article kept under ``key`` (everything it shows), rendering and keeping it on a miss."""
    return _kept("article", key, render)


def _kept(kind: str, key: Hashable, render: Callable[[], str]) -> str:
    cache = _cache(kind)
    html = cache.get(key)
    if html is None:
        html = render()
        cache.set(key, html)
    return html


def list_rows(messages: Iterable[Hashable], render: Callable[[Hashable], str]) -> SafeString:
    """Return the list's rows, each kept under its message's row (everything it shows), rendered on a miss.

    A change moves the list generation and the page is rendered again, but only the rows
    that changed are: the rest come from here.
    """
    return mark_safe("".join(_kept("row", message, functools.partial(render, message)) for message in messages))


def visitor_page(key: Hashable, render: Callable[[], str]) -> str:
    """Return a visitor's whole page kept under ``key`` (its title, content and address), rendering it on a miss.

    Signed out and with no notice waiting, the layout around a page differs only by the page's
    address (the Log in link returns there). The content is the kept fragment itself, so its
    text is hashed once and compared by identity: a new fragment is a new key.
    """
    return _kept("visitor", key, render)


def visitor_message_page(key: Hashable, render: Callable[[], str]) -> str:
    """Return a visitor's whole message page kept under ``key``, rendering and keeping it on a miss.

    The key is the message page's statement's row (selectors.message_fetch) and the address.
    The row holds everything a signed-out reader's page shows but the body, which its version
    names: subject, names, times, the lease as the database judged it valid now, protection,
    editors, board, and the access generation that decided who may read it and what buttons a
    visitor is offered. A page kept under a row was made after that row passed the visitor's
    permission check, and every visitor has the same levels: a hit needs neither.
    """
    return _kept("visitor-message", key, render)


def list_page(key: Hashable, render: Callable[[], tuple[str, float | None]], *, generation: int | None = None) -> str:
    """Return the list fragment kept under ``key`` and the list generation (read here unless given).

    ``render`` returns the HTML and the moment (``time.time()``) it goes stale regardless of
    the generation, or None; it is called on a miss, after the generation was read, so a
    change committed meanwhile is at worst kept under a number that has already moved on.
    """
    cache = _cache("list")
    full_key = (list_generation() if generation is None else generation, key)
    html = cache.get(full_key)
    if html is None:
        html, stale_at = render()
        longest = time.time() + settings.MESSAGEBOARD_LIST_CACHE_SECONDS
        cache.set(full_key, html, stale_at=longest if stale_at is None else min(stale_at, longest))
    return html


def list_generation() -> int:
    """Return the list generation: one indexed read, cheaper than the list's own query."""
    return list_generations()[0]


def list_generations() -> tuple[int, int]:
    """Return the list generation and the access generation (permissions.py) in one read.

    A list page depends on both: what changed on the board, and which boards the reader may read.
    """
    access = permissions.GENERATION_SQL
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SELECT last_value, is_called, {access} FROM {GENERATION_SEQUENCE}")
            value, called, access_value = cursor.fetchone()
            return (value if called else 0), access_value or 0
        cursor.execute(f"SELECT (SELECT value FROM {GENERATION_TABLE} WHERE id = 1), {access}")
        value, access_value = cursor.fetchone()
        return value or 0, access_value or 0


def list_changed() -> None:
    """Move the list generation: call it in the transaction that changes what a list page shows.

    SQLite moves the row in that transaction (one writer at a time: the row costs no waiting),
    so the number and the change become visible together. A PostgreSQL sequence moves at once,
    whatever the transaction does later: a reader may keep the old list under the new number
    before the change commits, so the number moves once more after the commit.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            # An upsert: a flushed table (as tests between transactional cases) starts again at 1.
            cursor.execute(
                f"INSERT INTO {GENERATION_TABLE} (id, value) VALUES (1, 1) "
                f"ON CONFLICT (id) DO UPDATE SET value = {GENERATION_TABLE}.value + 1"
            )
        return
    _advance_sequence()
    if connection.in_atomic_block:
        # robust: the change has committed by then. A failure leaves lists kept at most
        # MESSAGEBOARD_LIST_CACHE_SECONDS: logged, not turned into an error for a save that landed.
        transaction.on_commit(_advance_sequence, robust=True)


def _advance_sequence() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(%s)", [GENERATION_SEQUENCE])


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _user_renamed(sender, instance, created: bool, update_fields=None, **kwargs) -> None:
    # Lists show authors' and editors' names. A sign-in saves only last_login: no name changed.
    if not created and (update_fields is None or "username" in update_fields):
        list_changed()
