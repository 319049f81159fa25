"""Django's Redis cache, keeping one Redis client per connection pool.

Django's client builds a new ``redis.Redis`` for every cache call, and each one fills a table of
some 170 response callbacks: on PostgreSQL + Redis that cost a signed-in page more than its
cache look-up itself (README "Performance"). A ``redis.Redis`` is safe to share between
threads (each command borrows a connection from the pool), so one per pool is kept.
"""

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


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


class ReusingRedisCache(RedisCache):
    """The cache backend to name in CACHES: Django's RedisCache with its clients kept."""

    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient
