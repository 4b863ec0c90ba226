"""FailoverCache end to end: litellm.acompletion with mock responses through real redis-server processes."""

from __future__ import annotations

import asyncio
import logging

import pytest

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

FAST = {"probe_interval": 0.5, "recovery_interval": 0.25}


@pytest.fixture
async def caches():
    """Collects built caches and stops them at the end of the test."""
    built = []

    async def make(conn, cache_params=None, **options):
        cache = build_response_cache(conn, cache_params or {}, **options)
        await start_response_cache(cache)
        built.append(cache)
        return cache

    yield make
    for cache in built:
        await stop_response_cache(cache)


def gateway_log(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "gateway.cache"]


async def test_cache_hit_is_shared_between_two_instances_via_redis(redis_server, caches):
    """A response cached through instance A is a cache hit for instance B (shared Redis cache)."""
    conn = RedisConnection("127.0.0.1", redis_server.port)
    a = await caches(conn, {"namespace": "gw"})
    b = await caches(conn, {"namespace": "gw"})
    assert isinstance(a.cache, FailoverCache)
    await wait_backend(a, "redis")
    await wait_backend(b, "redis")

    first, _ = await ask(a, "what is shared?", "answer-from-A")
    assert content(first) == "answer-from-A" and not cache_hit(first)
    await wait_for(lambda: redis_server.cli("KEYS", "gw:*"), 2.0)

    second, _ = await ask(b, "what is shared?", "answer-from-B")
    assert cache_hit(second)
    assert content(second) == "answer-from-A"
    assert b.cache.memory.get_cache(redis_server.cli("KEYS", "gw:*")[0]) is None  # B read it from Redis


async def test_redis_down_at_startup_builds_and_answers_at_once(caches, caplog):
    """With nothing listening on the Redis port, the first requests never touch Redis, are cached in memory, and one warning is logged however many probes fail."""
    caplog.set_level(logging.DEBUG, logger="gateway.cache")
    conn = RedisConnection("127.0.0.1", free_port())
    cache = await caches(conn, {}, **FAST)
    first, _ = await ask(cache, "startup question", "fresh")
    assert content(first) == "fresh"

    await wait_for(lambda: cache_status(cache)["memory_items"] >= 1, 5.0)  # the cache write is a background task
    second, _ = await ask(cache, "startup question", "should-not-be-used")
    assert cache_hit(second) and content(second) == "fresh"
    status = cache_status(cache)
    assert status["ops_redis"] == 0 and status["ops_memory"] >= 2  # the request path never waited on Redis

    await wait_for(lambda: cache_status(cache)["fallbacks"] == 1, 5.0)
    status = cache_status(cache)
    assert status["backend"] == "memory" and status["redis_configured"] is True
    assert "ConnectionError" in status["last_error"]
    # three more failed probes: still one warning
    await wait_for(lambda: sum("still unavailable" in r.getMessage() for r in gateway_log(caplog)) >= 3, 10.0)
    warnings = [r for r in gateway_log(caplog) if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "unavailable" in warnings[0].getMessage()


async def test_hung_redis_at_startup_does_not_block(redis_server, caches):
    """A Redis that accepts connections but never answers (SIGSTOP) at startup costs requests nothing: none is sent to it."""
    redis_server.pause()
    conn = RedisConnection("127.0.0.1", redis_server.port)
    cache = await caches(conn, {}, **FAST)
    for i in range(5):
        response, _ = await ask(cache, f"hung-start-{i}", "ok")
        assert content(response) == "ok"
    status = cache_status(cache)
    assert status["ops_redis"] == 0 and status["ops_memory"] >= 5
    await wait_for(lambda: cache_status(cache)["fallbacks"] == 1, 5.0)
    assert "Timeout" in cache_status(cache)["last_error"]
    redis_server.resume()
    await wait_backend(cache, "redis", 5.0)


class Frozen:
    """Records the cache's Redis op count the first time it is seen on memory after a fault."""

    def __init__(self, cache) -> None:
        self.cache = cache
        self.ops_redis: int | None = None
        self.requests_after = 0

    def observe(self) -> None:
        status = cache_status(self.cache)
        if self.ops_redis is None and status["backend"] == "memory":
            self.ops_redis = status["ops_redis"]
        elif self.ops_redis is not None:
            self.requests_after += 1


async def _load(cache, total: int, workers: int, on_progress) -> tuple[int, list[BaseException]]:
    """`total` requests from `workers` concurrent tasks; returns (answered, failures)."""
    answered = 0
    failures: list[BaseException] = []
    counter = iter(range(total))

    async def worker() -> None:
        nonlocal answered
        for i in counter:
            on_progress(i)
            try:
                async with asyncio.timeout(30):  # bounds the test; the assertions are on counts, not time
                    response, _ = await ask(cache, f"load prompt {i % 25}", f"answer {i % 25}")
                assert content(response) == f"answer {i % 25}"
                answered += 1
            except BaseException as exc:  # noqa: BLE001 - counted
                failures.append(exc)
            await asyncio.sleep(0.005)

    await asyncio.gather(*(worker() for _ in range(workers)))
    return answered, failures


async def test_redis_killed_under_load_fails_no_request(redis_server, caches, caplog):
    """SIGKILL of Redis in the middle of 200 concurrent requests: zero failures, one warning, and once on memory no request goes to Redis."""
    caplog.set_level(logging.INFO, logger="gateway.cache")
    cache = await caches(RedisConnection("127.0.0.1", redis_server.port), {}, **FAST)
    await wait_backend(cache, "redis")
    frozen = Frozen(cache)

    def progress(i: int) -> None:
        if i == 80:
            redis_server.kill()
        if i > 80:
            frozen.observe()

    answered, failures = await _load(cache, 200, 5, progress)
    assert failures == []
    assert answered == 200
    status = cache_status(cache)
    assert status["backend"] == "memory" and status["fallbacks"] == 1
    assert frozen.ops_redis is not None and frozen.requests_after >= 50
    assert status["ops_redis"] == frozen.ops_redis  # after the fallback every request was answered from memory
    warnings = [r for r in gateway_log(caplog) if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "falling back" in warnings[0].getMessage()


async def test_redis_hung_under_load_no_request_waits_for_timeouts(redis_server, caches):
    """SIGSTOP of Redis under load: zero failures, the hang is detected by the op deadline, and afterwards no request waits on Redis; then it resumes."""
    cache = await caches(RedisConnection("127.0.0.1", redis_server.port), {}, **FAST)
    await wait_backend(cache, "redis")
    frozen = Frozen(cache)

    def progress(i: int) -> None:
        if i == 60:
            redis_server.pause()
        if i > 60:
            frozen.observe()

    answered, failures = await _load(cache, 200, 5, progress)
    assert failures == [] and answered == 200
    status = cache_status(cache)
    assert status["backend"] == "memory" and any(w in status["last_error"] for w in ("TimeoutError", "deadline"))
    assert frozen.ops_redis is not None and frozen.requests_after >= 50
    assert status["ops_redis"] == frozen.ops_redis  # only requests already waiting on Redis when it hung met a deadline
    redis_server.resume()
    await wait_backend(cache, "redis", 5.0)


async def test_shared_cache_resumes_after_restart(redis_server, caches, caplog):
    """After Redis is killed and restarted on the same port, a value written by A is read by B from Redis again."""
    caplog.set_level(logging.INFO, logger="gateway.cache")
    conn = RedisConnection("127.0.0.1", redis_server.port)
    a = await caches(conn, {"namespace": "gw"})  # default probe settings
    b = await caches(conn, {"namespace": "gw"})
    await wait_backend(a, "redis")
    await wait_backend(b, "redis")

    redis_server.kill()
    _, _ = await ask(a, "during outage", "outage-answer")  # answered, cached in memory
    await wait_backend(a, "memory", 5.0)
    await wait_for(lambda: cache_status(a)["memory_items"] >= 1, 5.0)

    redis_server.start()
    attempt = 0

    async def b_reads_what_a_wrote() -> bool:
        nonlocal attempt
        attempt += 1
        key, value = f"resume-probe-{attempt}", {"n": attempt}
        await a.cache.async_set_cache(key, value)
        return await b.cache.async_get_cache(key) == value and b.cache.memory.get_cache(key) is None

    async with asyncio.timeout(10):  # bounds the test (probe: every 0.5 s on memory)
        while not await b_reads_what_a_wrote():
            await asyncio.sleep(0.05)

    first, _ = await ask(a, "after restart", "from-A")
    assert content(first) == "from-A"
    await wait_for(lambda: len(redis_server.cli("KEYS", "gw:*")) >= 1, 5.0)
    second, _ = await ask(b, "after restart", "from-B")
    assert cache_hit(second) and content(second) == "from-A"
    # the answer cached during the outage still serves from A's memory
    again, _ = await ask(a, "during outage", "other")
    assert content(again) == "outage-answer"
    infos = [r.getMessage() for r in gateway_log(caplog) if r.levelno == logging.INFO]
    assert any("reachable again" in m for m in infos)
    assert cache_status(a)["backend"] == "redis" and cache_status(a)["resumes"] >= 1


async def test_router_with_mock_deployments_uses_failover_cache(redis_server, caches):
    """A litellm.Router with cache_responses=True caches through the FailoverCache, with namespace and ttl from cache_params."""
    import litellm

    cache = await caches(
        RedisConnection("127.0.0.1", redis_server.port),
        {"namespace": "routerns", "ttl": 30, "supported_call_types": ["acompletion", "completion"]},
    )
    await wait_backend(cache, "redis")
    litellm.cache = cache
    router = litellm.Router(
        model_list=[
            {
                "model_name": "gpt-test",
                "litellm_params": {"model": "openai/x", "api_key": "sk-none", "mock_response": "routed"},
            }
        ],
        cache_responses=True,
    )
    messages = [{"role": "user", "content": "route me"}]
    first = await router.acompletion(model="gpt-test", messages=messages)
    assert content(first) == "routed"
    await wait_for(lambda: redis_server.cli("KEYS", "routerns:*"), 2.0)
    keys = redis_server.cli("KEYS", "routerns:*")
    assert keys, "router response not written to Redis"
    assert 0 < int(redis_server.cli("PTTL", keys[0])) <= 30_000
    second = await router.acompletion(model="gpt-test", messages=messages)
    assert cache_hit(second)


async def test_build_in_worker_thread_then_start_and_reapply(redis_server, caches):
    """Built in a worker thread and started on the loop; a re-apply with the same connection keeps the running backend."""
    conn = RedisConnection("127.0.0.1", redis_server.port)
    first = await asyncio.to_thread(build_response_cache, conn, {"ttl": 60})
    await start_response_cache(first)
    await start_response_cache(first)  # idempotent
    await wait_backend(first, "redis")

    second = await asyncio.to_thread(build_response_cache, conn, {"ttl": 120}, reuse=first)
    assert second.cache is first.cache and second.ttl == 120
    await start_response_cache(second)
    await stop_response_cache(first, keep=second)  # shared backend: must keep running
    assert cache_status(second)["probe_running"] and cache_status(second)["backend"] == "redis"

    other = await asyncio.to_thread(build_response_cache, RedisConnection("127.0.0.1", free_port()), {}, reuse=second)
    assert other.cache is not second.cache
    await start_response_cache(other)
    await stop_response_cache(second, keep=other)
    assert cache_status(second)["probe_running"] is False
    # a stopped cache still answers (from memory), it never raises
    response, _ = await ask(second, "after stop", "still-works")
    assert content(response) == "still-works"
    await stop_response_cache(other)
    await stop_response_cache(other)  # idempotent


async def test_stop_then_start_again_resumes_redis(redis_server, caches):
    """start() after stop() brings the same backend back onto Redis."""
    cache = await caches(RedisConnection("127.0.0.1", redis_server.port), {}, **FAST)
    await wait_backend(cache, "redis")
    await stop_response_cache(cache)
    assert cache_status(cache)["backend"] == "memory"
    await start_response_cache(cache)
    await wait_backend(cache, "redis", 2.0)


async def test_status_reflects_backend_transitions(redis_server, caches):
    """cache_status reports memory before the first probe, redis when healthy, memory with the error after a kill."""
    conn = RedisConnection("127.0.0.1", redis_server.port)
    cache = build_response_cache(conn, {}, **FAST)
    status = cache_status(cache)
    assert status["backend"] == "memory" and status["redis_configured"] and status["last_error"] is None
    assert status["probe_running"] is False
    await start_response_cache(cache)
    try:
        await wait_backend(cache, "redis")
        up = cache_status(cache)
        assert up["fallbacks"] == 0 and up["since"] >= status["since"]
        redis_server.kill()
        await wait_backend(cache, "memory", 2.0)
        down = cache_status(cache)
        assert down["fallbacks"] == 1 and down["last_error"] and down["since"] > up["since"]
    finally:
        await stop_response_cache(cache)


async def test_sync_completion_path_uses_redis_and_memory(redis_server, caches):
    """litellm.completion (sync, in a worker thread) reads and writes the shared Redis through the sync client."""
    import litellm

    conn = RedisConnection("127.0.0.1", redis_server.port)
    cache = await caches(conn, {"namespace": "sync"}, **FAST)
    await wait_backend(cache, "redis")
    litellm.cache = cache

    def call(answer: str):
        return litellm.completion(
            model="openai/x", messages=[{"role": "user", "content": "sync q"}], mock_response=answer, caching=True
        )

    first = await asyncio.to_thread(call, "sync-a")
    await wait_for(lambda: redis_server.cli("KEYS", "sync:*"), 2.0)
    cache.cache.memory.flush_cache()  # prove the hit comes from Redis
    second = await asyncio.to_thread(call, "sync-b")
    assert content(first) == "sync-a" and content(second) == "sync-a" and cache_hit(second)
    redis_server.kill()
    third = await asyncio.to_thread(call, "sync-c")  # a dead Redis on the sync path: answered, not raised
    assert content(third) in ("sync-a", "sync-c")
