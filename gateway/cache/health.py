"""The health state machine of one Redis response cache: which tier serves requests, and since when.

Two states, ``memory`` (the start state) and ``redis``::

    memory --mark_healthy(gen)------------------------> redis     (CONNECTED first time, RESUMED after an outage)
    redis  --mark_unhealthy(reason, source, gen)------> memory    (FALLBACK: one warning, probe woken)
    memory --mark_unhealthy(...) first time-----------> memory    (UNAVAILABLE: one warning until next recovery)
    memory --mark_unhealthy(...) again----------------> memory    (STILL_DOWN: debug only)
    any    --force_memory()---------------------------> memory    (stop / loop change: no log, no counters)

Every switch increments ``generation``. A verdict carries the generation it was formed under (the
probe reads it before its PING, an operation when it was routed); a verdict from an older generation
is STALE and ignored, so an operation that started on the previous Redis connection cannot undo a
newer switch. Pure bookkeeping: no I/O, no asyncio; thread-safe (the sync cache API runs in worker
threads). It logs each transition on the ``gateway.cache`` logger; the reason strings it receives
must already be redacted (see ``RedisLink.describe``).
"""

from __future__ import annotations

import datetime as _dt
import enum
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("gateway.cache")

BACKEND_REDIS = "redis"
BACKEND_MEMORY = "memory"


class Transition(enum.Enum):
    """What one verdict did to the state (returned so the caller can react, e.g. wake the probe)."""

    STALE = "stale"  # formed under an older generation: ignored
    NONE = "none"  # no change (healthy while already on redis)
    CONNECTED = "connected"  # memory -> redis, no outage warned before (first connect)
    RESUMED = "resumed"  # memory -> redis after a warned outage
    FALLBACK = "fallback"  # redis -> memory
    UNAVAILABLE = "unavailable"  # first failure while on memory (e.g. Redis down at startup)
    STILL_DOWN = "still_down"  # later failures while on memory


def utcnow_iso() -> str:
    """Now, UTC, ISO 8601 with milliseconds (the ``since`` field of the status)."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


class HealthState:
    """memory <-> redis for one Redis address, with the counters ``/health/config`` reports.

    address: ``host:port`` for log lines. clock: monotonic seconds (outage length);
    wall_clock: ISO timestamp for ``since``. Both are injectable so transitions can be tested
    without sleeping.
    """

    def __init__(
        self,
        address: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], str] = utcnow_iso,
    ) -> None:
        self.address = address
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._backend = BACKEND_MEMORY
        self._generation = 0
        self._since = wall_clock()
        self._since_mono = clock()
        self._last_error: str | None = None
        self._warned_unavailable = False
        self.fallbacks = 0
        self.resumes = 0
        self.stalled_timeouts = 0
        self.ops_redis = 0
        self.ops_memory = 0

    @property
    def backend(self) -> str:
        """``"redis"`` or ``"memory"``: the tier new operations are routed to."""
        return self._backend

    @property
    def generation(self) -> int:
        """Incremented on every switch; read it before forming a verdict."""
        return self._generation

    @property
    def last_error(self) -> str | None:
        return self._last_error

    def _switch(self, backend: str) -> None:
        """Caller holds self._lock."""
        self._backend = backend
        self._generation += 1
        self._since = self._wall_clock()
        self._since_mono = self._clock()

    def force_memory(self) -> None:
        """Go to memory without a verdict (stop, event loop change): no log line, no counter."""
        with self._lock:
            if self._backend != BACKEND_MEMORY:
                self._switch(BACKEND_MEMORY)

    def mark_unhealthy(self, reason: str, source: str, generation: int | None = None) -> Transition:
        """A failed probe or operation. reason: redacted error text; source: what saw it ("GET operation",
        "health probe"); generation: when the verdict was formed (None = always current)."""
        with self._lock:
            if generation is not None and generation != self._generation:
                return Transition.STALE
            self._last_error = reason
            if self._backend == BACKEND_REDIS:
                self._switch(BACKEND_MEMORY)
                transition = Transition.FALLBACK
            elif not self._warned_unavailable:
                transition = Transition.UNAVAILABLE
            else:
                transition = Transition.STILL_DOWN
            if transition is not Transition.STILL_DOWN:
                self.fallbacks += 1
                self._warned_unavailable = True
        if transition is Transition.UNAVAILABLE:
            logger.warning(
                "Redis response cache %s unavailable (%s); serving the response cache from memory until it is reachable",
                self.address,
                reason,
            )
        elif transition is Transition.FALLBACK:
            logger.warning(
                "Redis response cache %s failed (%s, detected by %s); falling back to the in-memory cache",
                self.address,
                reason,
                source,
            )
        else:
            logger.debug("Redis %s still unavailable: %s", self.address, reason)
        return transition

    def mark_healthy(self, generation: int) -> Transition:
        """A successful probe formed under `generation`: switch to redis (no-op when already there)."""
        with self._lock:
            if generation != self._generation:
                return Transition.STALE
            if self._backend == BACKEND_REDIS:
                return Transition.NONE
            outage = self._clock() - self._since_mono
            was_warned = self._warned_unavailable
            self._switch(BACKEND_REDIS)
            if was_warned:
                self.resumes += 1
            self._warned_unavailable = False
        if was_warned:
            logger.info(
                "Redis response cache %s reachable again; shared cache resumed after %.1fs on memory",
                self.address,
                outage,
            )
            return Transition.RESUMED
        logger.info("Redis response cache %s connected; shared cache active", self.address)
        return Transition.CONNECTED

    def record_stall(self) -> None:
        """A deadline fired late because the event loop was blocked: counted, state unchanged."""
        with self._lock:
            self.stalled_timeouts += 1

    def count_op(self, backend: str) -> None:
        """One cache operation was routed to `backend`."""
        with self._lock:
            if backend == BACKEND_REDIS:
                self.ops_redis += 1
            else:
                self.ops_memory += 1

    def snapshot(self) -> dict[str, Any]:
        """The state part of the cache status: backend, last_error, since (ISO, UTC) and the counters."""
        with self._lock:
            return {
                "backend": self._backend,
                "last_error": self._last_error,
                "since": self._since,
                "fallbacks": self.fallbacks,
                "resumes": self.resumes,
                "stalled_timeouts": self.stalled_timeouts,
                "ops_redis": self.ops_redis,
                "ops_memory": self.ops_memory,
            }
