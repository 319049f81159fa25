"""Is this process ready to serve: the database, the body storage and the cache, each asked once and timed.

/healthz asks none of them (the process answers); /readyz asks all three. An answer names the
kind of failure, never its text: an error can carry a host name, a user or a key.
"""

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection

from messages_app import bodies


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    ms: float
    error: str | None = None  # the exception's class, when it failed

    def as_dict(self) -> dict:
        answer = {"ok": self.ok, "ms": round(self.ms, 2)}
        if self.error:
            answer["error"] = self.error
        return answer


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _cache() -> None:
    # A value of its own, so a cache that answers from elsewhere (or not at all) fails.
    value = secrets.token_hex(8)
    cache.set("readyz:probe", value, 10)
    if cache.get("readyz:probe") != value:
        raise LookupError("the cache did not keep a value")


CHECKS: dict[str, Callable[[], None]] = {"database": _database, "storage": bodies.storage_probe, "cache": _cache}


def readiness() -> dict[str, Check]:
    """Ask each part once; return how each answered and how long it took."""
    return {name: _timed(probe) for name, probe in CHECKS.items()}


def _timed(probe: Callable[[], None]) -> Check:
    started = time.perf_counter()
    try:
        probe()
    except Exception as error:  # whatever a part raises, the answer is "not ready", not a 500
        return Check(False, (time.perf_counter() - started) * 1000, type(error).__name__)
    return Check(True, (time.perf_counter() - started) * 1000)
