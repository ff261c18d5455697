"""The cache that the API touches on every request: throttle counters and cached tokens.

With Redis configured it talks to Redis through one client kept per process: Django's
Redis cache builds a new client object for every call, which costs about a millisecond of
CPU each time, and a request makes several such calls. Without Redis it uses Django's cache.
"""

import pickle  # noqa: S403 - only our own objects, written by this module, are read back
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache

_client: redis.Redis | None = None
_client_url = ""


def _redis() -> redis.Redis | None:
    global _client, _client_url
    if not settings.REDIS_URL:
        return None
    if _client is None or _client_url != settings.REDIS_URL:
        _client = redis.Redis.from_url(settings.REDIS_URL)
        _client_url = settings.REDIS_URL
    return _client


def count_hit(key: str, *, timeout: int) -> int:
    """Add one to the counter ``key`` (created with ``timeout`` seconds to live); the new count."""
    client = _redis()
    if client is not None:
        with client.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, timeout, nx=True)
            used, _ = pipe.execute()
        return int(used)
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key)
    except ValueError:  # the key expired between add and incr
        cache.add(key, 1, timeout=timeout)
        return 1


def get_and_count(key: str, counter: str, *, timeout: int) -> tuple[Any, int]:
    """``get(key)`` and ``count_hit(counter)`` together: one round trip to Redis."""
    client = _redis()
    if client is None:
        return get(key), count_hit(counter, timeout=timeout)
    with client.pipeline(transaction=False) as pipe:
        pipe.get(key)
        pipe.incr(counter)
        pipe.expire(counter, timeout, nx=True)
        raw, used, _ = pipe.execute()
    return (None if raw is None else pickle.loads(raw)), int(used)  # noqa: S301 - see the import


def get(key: str) -> Any:
    client = _redis()
    if client is None:
        return cache.get(key)
    raw = client.get(key)
    if raw is None:
        return None
    assert isinstance(raw, bytes)  # the client is made without decode_responses
    return pickle.loads(raw)  # noqa: S301 - see the import


def set(key: str, value: Any, *, timeout: int) -> None:  # noqa: A001 - mirrors the cache API
    client = _redis()
    if client is None:
        cache.set(key, value, timeout=timeout)
    else:
        client.set(key, pickle.dumps(value), ex=timeout)


def delete_many(keys: list[str]) -> None:
    client = _redis()
    if client is None:
        cache.delete_many(keys)
    elif keys:
        client.delete(*keys)
