"""Django's caches, counted for /metrics, and the Redis one keeping one Redis client per connection pool.

Django's client builds a new ``redis.Redis`` for every cache call, and each one fills a table of
some 170 response callbacks: on PostgreSQL + Redis that cost a signed-in page more than its
cache look-up itself (README "Performance"). A ``redis.Redis`` is safe to share between
threads (each command borrows a connection from the pool), so one per pool is kept.

Look-ups (sessions, rate limits, bodies when Redis keeps them) are counted as hits or misses,
and failed calls as errors, as django-prometheus's cache backends do (it does not install with
Django 6.1; messages_app/metrics.py).
"""

from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

from messages_app import metrics

_MISSING = object()


class CountedCache:
    """A mixin for a Django cache backend: each key looked up counts a hit or a miss, each failed call an error."""

    backend_label = "cache"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Bound once: labels() takes a lock on every call.
        self._hits = metrics.CACHE_GETS.labels(self.backend_label, "hit")
        self._misses = metrics.CACHE_GETS.labels(self.backend_label, "miss")
        self._errors = metrics.CACHE_ERRORS.labels(self.backend_label)
        # Django's default get_many (the local-memory cache's) asks get() for each key.
        self._get_many_calls_get = super().get_many.__func__ is BaseCache.get_many

    def get(self, key, default=None, version=None):
        try:
            value = super().get(key, _MISSING, version)
        except Exception:
            self._errors.inc()
            raise
        if value is _MISSING:
            self._misses.inc()
            return default
        self._hits.inc()
        return value

    def get_many(self, keys, version=None):
        if self._get_many_calls_get:
            return super().get_many(keys, version)  # each key counted by get()
        keys = list(keys)
        try:
            found = super().get_many(keys, version)
        except Exception:
            self._errors.inc()
            raise
        self._hits.inc(len(found))
        self._misses.inc(len(keys) - len(found))
        return found

    def set(self, *args, **kwargs):
        return self._counting_errors(super().set, *args, **kwargs)

    def add(self, *args, **kwargs):
        return self._counting_errors(super().add, *args, **kwargs)

    def delete(self, *args, **kwargs):
        return self._counting_errors(super().delete, *args, **kwargs)

    def incr(self, *args, **kwargs):
        return self._counting_errors(super().incr, *args, **kwargs)

    def _counting_errors(self, call, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        except ValueError:
            raise  # incr of a missing key: an answer, not a failure of the cache
        except Exception:
            self._errors.inc()
            raise


class CountedLocMemCache(CountedCache, LocMemCache):
    """Django's local-memory cache, counted: the default without Redis."""

    backend_label = "locmem"


class ReusingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write: bool = False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client


class ReusingRedisCache(CountedCache, RedisCache):
    """The cache backend to name in CACHES: Django's RedisCache with its clients kept, counted."""

    backend_label = "redis"

    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient
