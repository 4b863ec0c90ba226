"""RedisOps: the one helper that routes, bounds and records every cache operation; in-process with fake clients."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis

from gateway.cache.health import BACKEND_MEMORY, BACKEND_REDIS, HealthState
from gateway.cache.operations import FROM_MEMORY, RedisOps
from gateway.cache.probe import HealthProbe
from gateway.cache.redis_link import RedisLink
from gateway.cache.settings import RedisConnection

PASSWORD = "pw-ops-Secret-42"


class FakePool:
    def __init__(self) -> None:
        self.disconnects: list[dict[str, Any]] = []

    async def disconnect(self, **kwargs: Any) -> None:
        self.disconnects.append(kwargs)


class FakeClient:
    """Stands in for redis.asyncio.Redis / redis.Redis: only what the operations under test touch."""

    def __init__(self) -> None:
        self.connection_pool = FakePool()


def make_ops(
    *, on_redis: bool = True, op_timeout: float = 5.0, stall_tolerance_s: float = 5.0
) -> tuple[RedisOps, HealthState, RedisLink, HealthProbe]:
    """A RedisOps over a real HealthState, RedisLink and (unstarted) HealthProbe; the link's clients are fakes."""
    conn = RedisConnection("127.0.0.1", 1, auth="PASSWORD", password=PASSWORD)
    state = HealthState(conn.address)
    link = RedisLink(
        conn,
        socket_timeout=0.25,
        connect_timeout=0.25,
        op_timeout=op_timeout,
        stall_tolerance_s=stall_tolerance_s,
        old_client_grace_s=0.0,
    )
    probe = HealthProbe(state, link, probe_interval=1.0, recovery_interval=0.5, autostart=False)
    link.aclient = FakeClient()  # type: ignore[assignment]
    link.sclient = FakeClient()  # type: ignore[assignment]
    if on_redis:
        state.mark_healthy(state.generation)
    return RedisOps(state, link, probe), state, link, probe


def calls_of(result: Any) -> tuple[list[Any], Callable[[Any], Awaitable[Any]]]:
    """An async operation that records the client it was given and returns `result`."""
    seen: list[Any] = []

    async def call(client: Any) -> Any:
        seen.append(client)
        return result

    return seen, call


@pytest.fixture(autouse=True)
def _capture(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="gateway.cache")


async def test_on_redis_the_reply_is_returned_and_counted() -> None:
    """Routed to Redis: the call gets the active async client, its reply is returned, one redis op is counted."""
    ops, state, link, probe = make_ops()
    probe.loop = asyncio.get_running_loop()
    seen, call = calls_of(b"value")
    assert await ops.run("GET", call) == b"value"
    assert seen == [link.aclient]
    assert state.snapshot()["ops_redis"] == 1 and state.backend == BACKEND_REDIS


async def test_on_memory_nothing_is_sent() -> None:
    """On memory the call is never made and FROM_MEMORY comes back at once; one memory op is counted."""
    ops, state, _, probe = make_ops(on_redis=False)
    probe.loop = asyncio.get_running_loop()
    seen, call = calls_of(b"value")
    assert await ops.run("GET", call) is FROM_MEMORY
    assert seen == [] and state.snapshot()["ops_memory"] == 1


async def test_client_of_another_event_loop_is_not_used() -> None:
    """A client bound to the probe's loop is never awaited from a different loop: answered from memory."""
    ops, state, _, probe = make_ops()
    probe.loop = asyncio.new_event_loop()
    try:
        seen, call = calls_of(b"value")
        assert await ops.run("GET", call) is FROM_MEMORY
        assert seen == [] and state.backend == BACKEND_REDIS
    finally:
        probe.loop.close()


async def test_a_failure_falls_back_and_is_answered_from_memory(caplog: pytest.LogCaptureFixture) -> None:
    """A Redis error is swallowed: FROM_MEMORY, state memory, clients marked for dropping, error redacted, one warning."""
    ops, state, link, probe = make_ops()
    probe.loop = asyncio.get_running_loop()

    async def call(client: Any) -> Any:
        raise redis.exceptions.ResponseError(f"WRONGPASS for {PASSWORD}")

    assert await ops.run("SET", call) is FROM_MEMORY
    assert state.backend == BACKEND_MEMORY and link.dirty is True
    last_error = state.snapshot()["last_error"]
    assert last_error == "ResponseError: WRONGPASS for ***"
    assert PASSWORD not in caplog.text
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "detected by SET operation" in warnings[0]


async def test_a_stale_pooled_connection_is_retried_once_on_a_fresh_one() -> None:
    """A ConnectionError (dead pooled socket after a restart) drops idle connections and retries once: no fallback."""
    ops, state, link, probe = make_ops()
    probe.loop = asyncio.get_running_loop()
    attempts: list[int] = []

    async def call(client: Any) -> Any:
        attempts.append(1)
        if len(attempts) == 1:
            raise redis.exceptions.ConnectionError("Connection reset by peer")
        return b"ok"

    assert await ops.run("GET", call) == b"ok"
    assert len(attempts) == 2
    assert link.aclient.connection_pool.disconnects == [{"inuse_connections": False}]  # type: ignore[union-attr]
    assert state.backend == BACKEND_REDIS


async def test_an_authentication_error_is_not_retried() -> None:
    """AuthenticationError is final: no pool reset, no second attempt, fallback to memory."""
    ops, state, link, probe = make_ops()
    probe.loop = asyncio.get_running_loop()
    attempts: list[int] = []

    async def call(client: Any) -> Any:
        attempts.append(1)
        raise redis.exceptions.AuthenticationError("invalid username-password pair")

    assert await ops.run("GET", call) is FROM_MEMORY
    assert len(attempts) == 1 and link.aclient.connection_pool.disconnects == []  # type: ignore[union-attr]
    assert state.backend == BACKEND_MEMORY and "AuthenticationError" in str(state.last_error)


async def test_a_hung_redis_hits_the_deadline_and_falls_back() -> None:
    """A call that never returns is cut by op_timeout: FROM_MEMORY and a TimeoutError naming the deadline."""
    ops, state, _, probe = make_ops(op_timeout=0.05, stall_tolerance_s=60.0)
    probe.loop = asyncio.get_running_loop()
    never = asyncio.Event()

    async def call(client: Any) -> Any:
        await never.wait()

    async with asyncio.timeout(10):  # bounds the test, not the behaviour
        assert await ops.run("GET", call) is FROM_MEMORY
    assert state.backend == BACKEND_MEMORY
    assert state.last_error == "TimeoutError: no reply within 0.05s"


async def test_a_deadline_fired_late_by_a_blocked_loop_is_no_verdict_on_redis() -> None:
    """When the event loop itself was blocked past the deadline, the op answers from memory but the state stays redis."""
    ops, state, _, probe = make_ops(op_timeout=0.01, stall_tolerance_s=0.05)
    probe.loop = asyncio.get_running_loop()

    async def call(client: Any) -> Any:
        time.sleep(0.2)
        await asyncio.Event().wait()

    async with asyncio.timeout(10):
        assert await ops.run("GET", call) is FROM_MEMORY
    snap = state.snapshot()
    assert snap["backend"] == BACKEND_REDIS and snap["stalled_timeouts"] == 1 and snap["fallbacks"] == 0


async def test_a_failure_of_an_operation_routed_before_a_switch_is_ignored() -> None:
    """An op started on the old connection that fails after the cache already switched (and came back) changes nothing."""
    ops, state, _, probe = make_ops()
    probe.loop = asyncio.get_running_loop()
    started, release = asyncio.Event(), asyncio.Event()

    async def call(client: Any) -> Any:
        started.set()
        await release.wait()
        raise redis.exceptions.ConnectionError("old socket")

    async with asyncio.timeout(10):
        op = asyncio.create_task(ops.run("GET", call))
        await started.wait()
        state.mark_unhealthy("probe saw it", "health probe", state.generation)
        state.mark_healthy(state.generation)
        generation = state.generation
        release.set()
        assert await op is FROM_MEMORY
    assert state.backend == BACKEND_REDIS and state.generation == generation
    assert state.last_error == "probe saw it"


async def test_cancellation_is_not_swallowed() -> None:
    """Cancelling the request cancels the Redis call and propagates; it is not recorded as a Redis failure."""
    ops, state, _, probe = make_ops()
    probe.loop = asyncio.get_running_loop()
    started = asyncio.Event()

    async def call(client: Any) -> Any:
        started.set()
        await asyncio.Event().wait()

    async with asyncio.timeout(10):
        op = asyncio.create_task(ops.run("GET", call))
        await started.wait()
        op.cancel()
        with pytest.raises(asyncio.CancelledError):
            await op
    assert state.backend == BACKEND_REDIS and state.last_error is None


def test_sync_operations_route_and_record_the_same_way() -> None:
    """run_sync: the sync client on redis, nothing on memory, and a raised error falls back instead of propagating."""
    ops, state, link, _ = make_ops()
    seen: list[Any] = []

    def ok(client: Any) -> Any:
        seen.append(client)
        return b"v"

    def broken(client: Any) -> Any:
        raise redis.exceptions.TimeoutError("Timeout reading from socket")

    assert ops.run_sync("GET", ok) == b"v" and seen == [link.sclient]
    assert ops.run_sync("SET", broken) is FROM_MEMORY
    assert state.backend == BACKEND_MEMORY and state.last_error == "TimeoutError: Timeout reading from socket"
    assert ops.run_sync("GET", ok) is FROM_MEMORY and len(seen) == 1
    snap = state.snapshot()
    assert (snap["ops_redis"], snap["ops_memory"]) == (2, 1)
