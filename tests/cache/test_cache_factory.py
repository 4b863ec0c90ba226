"""build_response_cache / cache_status: which litellm.Cache is built from a connection and config cache_params."""

from __future__ import annotations

import time

import pytest
from litellm.caching.caching import Cache
from litellm.caching.in_memory_cache import InMemoryCache

from gateway.cache import (
    FailoverCache,
    RedisConnection,
    build_response_cache,
    cache_status,
    start_response_cache,
    stop_response_cache,
)
from tests.cache.cache_test_helpers import ask, cache_hit, content
from tests.cache.redis_server_support import free_port

pytestmark = pytest.mark.usefixtures("fresh_litellm_cache")


def test_no_redis_gives_a_local_cache():
    """Without a connection and without a host in cache_params the cache is litellm's local in-memory cache."""
    cache = build_response_cache(None, {"ttl": 600, "namespace": "ns", "type": "redis"})
    assert isinstance(cache, Cache) and cache.type == "local"
    assert isinstance(cache.cache, InMemoryCache)
    assert cache.ttl == 600 and cache.namespace == "ns"
    status = cache_status(cache)
    assert status["backend"] == "memory" and status["redis_configured"] is False and status["enabled"] is True


def test_cache_params_host_builds_a_failover_cache_without_io():
    """A redis host in cache_params yields a FailoverCache; building does no network I/O even with Redis absent."""
    port = free_port()
    t0 = time.perf_counter()
    cache = build_response_cache(None, {"type": "redis", "host": "127.0.0.1", "port": port, "password": "pw"})
    assert time.perf_counter() - t0 < 0.2
    assert cache.type == "redis" and isinstance(cache.cache, FailoverCache)
    assert cache.cache.conn == RedisConnection("127.0.0.1", port, auth="PASSWORD", password="pw")
    assert cache_status(cache)["probe_running"] is False


def test_explicit_connection_wins_and_cache_level_params_apply(monkeypatch):
    """The given RedisConnection wins over cache_params host; ttl, namespace, mode and call types reach litellm.Cache."""
    monkeypatch.setenv("GW_TEST_NS", "from-env")
    conn = RedisConnection("127.0.0.1", free_port())
    cache = build_response_cache(
        conn,
        {
            "host": "ignored.example",
            "ttl": 42,
            "namespace": "os.environ/GW_TEST_NS",
            "mode": "default_off",
            "supported_call_types": ["acompletion"],
            "redis_flush_size": 10,
        },
    )
    assert cache.cache.conn == conn
    assert cache.ttl == 42 and cache.namespace == "from-env" and cache.mode == "default_off"
    assert cache.supported_call_types == ["acompletion"] and cache.redis_flush_size is None


def test_cache_status_of_no_cache():
    """cache_status(None) reports a disabled cache."""
    assert cache_status(None) == {
        "enabled": False,
        "backend": None,
        "redis_configured": False,
        "last_error": None,
        "since": None,
        "fallbacks": 0,
    }


async def test_local_cache_serves_hits():
    """The local cache built without Redis caches litellm responses."""
    cache = build_response_cache(None, {})
    await start_response_cache(cache)  # no-op for a local cache
    first, _ = await ask(cache, "local q", "local a")
    import asyncio

    await asyncio.sleep(0.1)
    second, _ = await ask(cache, "local q", "other")
    assert cache_hit(second) and content(second) == "local a"
    await stop_response_cache(cache)


async def test_unstarted_failover_cache_autostarts_on_first_use(redis_server):
    """If start() is forgotten, the first async operation starts the probe so Redis is still picked up."""
    cache = build_response_cache(RedisConnection("127.0.0.1", redis_server.port), {})
    try:
        await ask(cache, "autostart", "a")
        import asyncio

        for _ in range(100):
            if cache_status(cache)["backend"] == "redis":
                break
            await asyncio.sleep(0.02)
        assert cache_status(cache)["backend"] == "redis" and cache_status(cache)["probe_running"]
    finally:
        await stop_response_cache(cache)
