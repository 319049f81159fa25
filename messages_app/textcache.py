"""Texts cached by key within a byte budget per process, or in the shared cache when there is one.

Django's local-memory cache counts entries, not bytes: 5,000 entries of up to 256 KiB each let
one worker grow by gigabytes on a hostile reader's requests. With it, texts (bodies, rendered
diffs) stay in a BoundedTextCache of this process instead, within a setting's byte budget. A
shared cache (Redis) keeps them out of the process, and one delete there reaches every app server.
"""

import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.signals import setting_changed


class BoundedTextCache:
    """Texts by key within a byte budget, least recently read dropped first; safe between threads.

    Each entry counts what it holds in memory (the text as Python stores it, its key and the
    bookkeeping), so a budget of 64 MiB holds about 250 texts of 256 KiB or thousands of small
    ones; a text larger than the budget is never kept. A key is a string or a tuple of plain
    values (a tuple counts what each of its parts holds). An entry may carry the moment
    (``time.time()``) it goes stale: read after it, it is dropped and None is returned.
    """

    # The ordered dict's link and slot, the entry tuple and its size: measured, rounded up.
    ENTRY_OVERHEAD = 200

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._entries: OrderedDict[Hashable, tuple[str, int, float | None]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        """Return the memory the kept texts account for."""
        return self._bytes

    def get(self, key: Hashable) -> str | None:
        """Return a kept text, or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[2] is not None and time.time() >= entry[2]:
                del self._entries[key]
                self._bytes -= entry[1]
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def set(self, key: Hashable, text: str, *, stale_at: float | None = None) -> None:
        """Keep a text (until ``stale_at``, if given), dropping the least recently read ones until the budget holds."""
        cost = sys.getsizeof(text) + _key_size(key) + self.ENTRY_OVERHEAD
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._bytes -= previous[1]
            if cost > self.budget:
                return
            self._entries[key] = (text, cost, stale_at)
            self._bytes += cost
            while self._bytes > self.budget:
                _key, (_text, dropped, _stale_at) = self._entries.popitem(last=False)
                self._bytes -= dropped

    def delete(self, key: Hashable) -> None:
        """Forget a text; a key that is not kept is not an error."""
        with self._lock:
            entry = self._entries.pop(key, None)
            if entry is not None:
                self._bytes -= entry[1]

    def clear(self) -> None:
        """Forget every text."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0


def _key_size(key: Hashable) -> int:
    if isinstance(key, tuple):
        return sys.getsizeof(key) + sum(_key_size(part) for part in key)
    if hasattr(key, "__slots__") and not isinstance(key, (str, bytes, int, float)):
        # A frozen dataclass row: what each of its fields holds.
        return sys.getsizeof(key) + sum(_key_size(getattr(key, name)) for name in key.__slots__)
    return sys.getsizeof(key)


class TextCache:
    """One kind of cached text: in this process within a byte budget, or in the shared cache."""

    def __init__(self, *, prefix: str, budget_setting: str, timeout: int) -> None:
        self.prefix = prefix
        self.budget_setting = budget_setting
        self.timeout = timeout
        # None until the configuration is first read, then (this process's cache, or None,).
        self._chosen: tuple[BoundedTextCache | None] | None = None
        self._lock = threading.Lock()
        setting_changed.connect(self._setting_changed, weak=False)

    def local(self) -> BoundedTextCache | None:
        """Return this process's cache of these texts, or None when they go to a shared cache."""
        chosen = self._chosen or self._choose()
        return chosen[0]

    def get(self, key: str) -> str | None:
        """Return a cached text, or None."""
        local = self.local()
        if local is not None:
            return local.get(key)
        return caches["default"].get(self.prefix + key)

    def set(self, key: str, text: str) -> None:
        """Cache a text under a key."""
        local = self.local()
        if local is not None:
            local.set(key, text)
        else:
            caches["default"].set(self.prefix + key, text, self.timeout)

    def delete(self, key: str) -> None:
        """Drop a cached text, so that the next read computes or fetches it again."""
        local = self.local()
        if local is not None:
            local.delete(key)
        else:
            caches["default"].delete(self.prefix + key)

    def _choose(self) -> tuple[BoundedTextCache | None]:
        with self._lock:
            if self._chosen is None:
                in_process = isinstance(caches["default"], LocMemCache)
                budget = getattr(settings, self.budget_setting)
                self._chosen = (BoundedTextCache(budget) if in_process else None,)
            return self._chosen

    def _setting_changed(self, *, setting: str, **kwargs) -> None:
        # Tests change the cache or the budget: the next read decides afresh, with an empty cache.
        if setting in {"CACHES", self.budget_setting}:
            with self._lock:
                self._chosen = None
