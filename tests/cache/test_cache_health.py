"""HealthState: the memory <-> redis state machine of the response cache, as pure transitions (no Redis, no loop)."""

from __future__ import annotations

import logging
import threading

import pytest

from gateway.cache.health import BACKEND_MEMORY, BACKEND_REDIS, HealthState, Transition


class Clock:
    """A monotonic clock and an ISO wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def mono(self) -> float:
        return self.now

    def wall(self) -> str:
        return f"t={self.now:.1f}"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def state(clock: Clock) -> HealthState:
    return HealthState("redis.example:6380", clock=clock.mono, wall_clock=clock.wall)


def records(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "gateway.cache" and r.levelno == level]


@pytest.fixture(autouse=True)
def _capture(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="gateway.cache")


def test_starts_on_memory_with_nothing_recorded(state: HealthState) -> None:
    """A new state serves from memory, generation 0, no error, all counters zero, since = construction time."""
    assert state.backend == BACKEND_MEMORY and state.generation == 0
    assert state.snapshot() == {
        "backend": "memory",
        "last_error": None,
        "since": "t=100.0",
        "fallbacks": 0,
        "resumes": 0,
        "stalled_timeouts": 0,
        "ops_redis": 0,
        "ops_memory": 0,
    }


def test_first_healthy_verdict_connects(state: HealthState, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    """memory -> redis on the first healthy probe: CONNECTED, a new generation and since, one info line, no resume counted."""
    clock.now = 101.0
    assert state.mark_healthy(0) is Transition.CONNECTED
    assert state.backend == BACKEND_REDIS and state.generation == 1
    snap = state.snapshot()
    assert snap["since"] == "t=101.0" and snap["resumes"] == 0 and snap["fallbacks"] == 0
    assert records(caplog, logging.INFO) == ["Redis response cache redis.example:6380 connected; shared cache active"]


def test_healthy_while_on_redis_changes_nothing(state: HealthState) -> None:
    """A healthy verdict on redis is NONE: same generation, no log."""
    state.mark_healthy(0)
    assert state.mark_healthy(1) is Transition.NONE
    assert state.generation == 1 and state.backend == BACKEND_REDIS


def test_failure_on_redis_falls_back_once_with_a_warning(
    state: HealthState, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """redis -> memory on a failed operation: FALLBACK, error and source recorded, one warning naming both."""
    state.mark_healthy(0)
    clock.now = 105.0
    assert state.mark_unhealthy("ConnectionError: refused", "GET operation", 1) is Transition.FALLBACK
    assert state.backend == BACKEND_MEMORY and state.generation == 2
    snap = state.snapshot()
    assert snap["last_error"] == "ConnectionError: refused" and snap["fallbacks"] == 1 and snap["since"] == "t=105.0"
    warnings = records(caplog, logging.WARNING)
    assert len(warnings) == 1
    assert "ConnectionError: refused, detected by GET operation" in warnings[0] and "falling back" in warnings[0]


def test_failures_while_on_memory_warn_once_then_only_debug(state: HealthState, caplog: pytest.LogCaptureFixture) -> None:
    """Redis down from the start: the first failed probe warns (UNAVAILABLE); later ones are STILL_DOWN at debug level."""
    assert state.mark_unhealthy("ConnectionError: refused", "health probe", 0) is Transition.UNAVAILABLE
    for _ in range(5):
        assert state.mark_unhealthy("ConnectionError: refused", "health probe", 0) is Transition.STILL_DOWN
    assert state.generation == 0 and state.backend == BACKEND_MEMORY  # no switch happened
    assert state.snapshot()["fallbacks"] == 1
    assert len(records(caplog, logging.WARNING)) == 1 and "unavailable" in records(caplog, logging.WARNING)[0]
    assert len(records(caplog, logging.DEBUG)) == 5


def test_recovery_after_a_warned_outage_is_a_resume_with_its_length(
    state: HealthState, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """After a fallback, the next healthy verdict is RESUMED, counts a resume and logs the outage length."""
    state.mark_healthy(0)
    clock.now = 200.0
    state.mark_unhealthy("TimeoutError: no reply within 0.50s", "health probe", 1)
    clock.now = 207.5
    assert state.mark_healthy(2) is Transition.RESUMED
    assert state.backend == BACKEND_REDIS and state.snapshot()["resumes"] == 1
    assert any("reachable again; shared cache resumed after 7.5s on memory" in m for m in records(caplog, logging.INFO))
    # the warning latch is reset: the next outage warns again
    assert state.mark_unhealthy("x", "health probe", 3) is Transition.FALLBACK
    assert len(records(caplog, logging.WARNING)) == 2


def test_verdicts_from_an_older_generation_are_ignored(state: HealthState, caplog: pytest.LogCaptureFixture) -> None:
    """An operation routed before the last switch cannot undo it: its late failure or success is STALE."""
    state.mark_healthy(0)  # generation 1, redis
    state.mark_unhealthy("boom", "health probe", 1)  # generation 2, memory
    state.mark_healthy(2)  # generation 3, redis
    caplog.clear()
    assert state.mark_unhealthy("late failure", "GET operation", 1) is Transition.STALE
    assert state.mark_healthy(2) is Transition.STALE
    assert state.backend == BACKEND_REDIS and state.generation == 3
    assert state.snapshot()["last_error"] == "boom" and state.snapshot()["fallbacks"] == 1
    assert caplog.records == []


def test_verdict_without_generation_always_applies(state: HealthState) -> None:
    """mark_unhealthy(generation=None) is never stale."""
    state.mark_healthy(0)
    state.mark_unhealthy("a", "health probe", 1)
    state.mark_healthy(2)
    assert state.mark_unhealthy("b", "token refresh", None) is Transition.FALLBACK


def test_force_memory_is_silent_and_uncounted(state: HealthState, caplog: pytest.LogCaptureFixture) -> None:
    """stop() goes to memory without a log line or a fallback; on memory already it does not even bump the generation."""
    state.force_memory()
    assert state.generation == 0
    state.mark_healthy(0)
    caplog.clear()
    state.force_memory()
    assert state.backend == BACKEND_MEMORY and state.generation == 2
    assert state.snapshot()["fallbacks"] == 0 and caplog.records == []
    # the next healthy verdict is a first connect again, not a resume
    assert state.mark_healthy(2) is Transition.CONNECTED


def test_stalls_and_routed_operations_are_counted(state: HealthState) -> None:
    """record_stall and count_op only move counters, never the state."""
    state.record_stall()
    state.count_op(BACKEND_REDIS)
    state.count_op(BACKEND_MEMORY)
    state.count_op(BACKEND_MEMORY)
    snap = state.snapshot()
    assert (snap["stalled_timeouts"], snap["ops_redis"], snap["ops_memory"]) == (1, 1, 2)
    assert snap["backend"] == BACKEND_MEMORY and state.generation == 0


def test_concurrent_failures_of_one_generation_fall_back_exactly_once(state: HealthState) -> None:
    """Many worker threads failing at once under the same generation produce one FALLBACK and one counted fallback."""
    state.mark_healthy(0)
    barrier = threading.Barrier(8)
    results: list[Transition] = []
    lock = threading.Lock()

    def fail() -> None:
        barrier.wait(timeout=10)
        transition = state.mark_unhealthy("ConnectionError", "GET operation", 1)
        with lock:
            results.append(transition)

    threads = [threading.Thread(target=fail) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert sorted(r.value for r in results) == ["fallback"] + ["stale"] * 7
    assert state.snapshot()["fallbacks"] == 1 and state.generation == 2
