"""build_response_cache / cache_status: which litellm.Cache is built from a connection and config cache_params."""

from __future__ import annotations

import asyncio
import socket

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
from tests.cache.cache_test_helpers import (
    ask,
    cache_hit,
    content,
    wait_backend,
    wait_for,
)
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


async def test_cache_params_host_builds_a_failover_cache_without_io(monkeypatch):
    """A redis host in cache_params yields a FailoverCache; building opens no connection, starting it does.

    Proved at the socket level: a listening socket on the configured port has no connection queued
    and no socket connect() was attempted after the build; once start() runs the probe, the same
    listener does see a connection (so the check would have caught one)."""
    attempts: list[object] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def recording_connect(sock, address):
        attempts.append(address)
        return real_connect(sock, address)

    def recording_connect_ex(sock, address):
        attempts.append(address)
        return real_connect_ex(sock, address)

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        monkeypatch.setattr(socket.socket, "connect", recording_connect)
        monkeypatch.setattr(socket.socket, "connect_ex", recording_connect_ex)

        cache = build_response_cache(None, {"type": "redis", "host": "127.0.0.1", "port": port, "password": "pw"})

        assert attempts == []
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing connected to the Redis port
        assert cache.type == "redis" and isinstance(cache.cache, FailoverCache)
        assert cache.cache.conn == RedisConnection("127.0.0.1", port, auth="PASSWORD", password="pw")
        assert cache_status(cache)["probe_running"] is False

        await start_response_cache(cache)
        try:
            async with asyncio.timeout(10):
                while True:
                    try:
                        accepted, _ = listener.accept()
                        accepted.close()
                        break
                    except BlockingIOError:
                        await asyncio.sleep(0.02)
            assert ("127.0.0.1", port) in attempts
        finally:
            await stop_response_cache(cache)


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
    assert content(first) == "local a" and not cache_hit(first)
    await wait_for(lambda: len(cache.cache.cache_dict) >= 1, 5.0)  # litellm writes the cache in a background task
    second, _ = await ask(cache, "local q", "other")
    assert cache_hit(second) and content(second) == "local a"
    await stop_response_cache(cache)


async def test_unstarted_failover_cache_autostarts_on_first_use(redis_server):
    """If start() is forgotten, the first async operation starts the probe so Redis is still picked up."""
    cache = build_response_cache(RedisConnection("127.0.0.1", redis_server.port), {})
    try:
        await ask(cache, "autostart", "a")
        await wait_backend(cache, "redis", 5.0)
        assert cache_status(cache)["probe_running"]
    finally:
        await stop_response_cache(cache)
