"""One cache operation against Redis, or not at all: the single place that routes, bounds and records.

Every read and write of ``FailoverCache`` goes through ``RedisOps.run`` (async API) or
``RedisOps.run_sync`` (sync API, worker threads). Both do the same three things, in this order:

1. **route**: while the state is ``memory``, or the async client belongs to another event loop,
   nothing touches Redis and ``FROM_MEMORY`` is returned at once;
2. **bound**: the async call runs under ``RedisLink.op`` (hard deadline ``op_timeout``, one retry on
   a stale pooled connection); the sync call under the sync client's socket timeouts;
3. **record**: any ``Exception`` is swallowed, reported to the probe (``FALLBACK`` to memory for a
   real failure; only a re-check for an event-loop stall) and ``FROM_MEMORY`` is returned, so the
   caller answers from its memory tier and nothing is ever raised to the request path.
   ``asyncio.CancelledError`` (a ``BaseException``) is not caught: cancellation still propagates.

The caller decides what "answer from memory" means for its operation (a read falls back to the
memory tier; a write has already been written there).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Literal, TypeVar

import redis
import redis.asyncio as aredis

from .health import BACKEND_MEMORY, BACKEND_REDIS, HealthState
from .probe import HealthProbe
from .redis_link import LoopStalled, RedisLink

T = TypeVar("T")


class _Memory(enum.Enum):
    FROM_MEMORY = "from memory"


#: returned instead of a Redis reply when the operation was not sent or failed: answer from memory
FROM_MEMORY: Literal[_Memory.FROM_MEMORY] = _Memory.FROM_MEMORY
FromMemory = Literal[_Memory.FROM_MEMORY]


class RedisOps:
    """Runs cache operations for one FailoverCache (see the module docstring for the contract)."""

    def __init__(self, state: HealthState, link: RedisLink, probe: HealthProbe) -> None:
        self.state = state
        self.link = link
        self.probe = probe

    async def run(self, op: str, call: Callable[[aredis.Redis], Awaitable[T]]) -> T | FromMemory:
        """Await `call(client)` on Redis under the deadline; FROM_MEMORY if not routed there or it failed.

        op: the command's name for logs and status ("GET", "pipeline SET", ...)."""
        if self.state.backend != BACKEND_REDIS:
            self.probe.maybe_autostart()
            self.state.count_op(BACKEND_MEMORY)
            return FROM_MEMORY
        generation = self.state.generation
        client = self.link.aclient
        if client is None or not self.probe.on_current_loop():
            self.state.count_op(BACKEND_MEMORY)
            return FROM_MEMORY
        self.state.count_op(BACKEND_REDIS)
        with self._recording(op, generation):
            return await self.link.op(client, call)
        return FROM_MEMORY

    def run_sync(self, op: str, call: Callable[[redis.Redis], T]) -> T | FromMemory:
        """Blocking twin of `run` for litellm's sync API (socket timeouts bound it; no event loop involved)."""
        generation = self.state.generation
        client = self.link.sclient
        if self.state.backend != BACKEND_REDIS or client is None:
            self.state.count_op(BACKEND_MEMORY)
            return FROM_MEMORY
        self.state.count_op(BACKEND_REDIS)
        with self._recording(op, generation):
            return call(client)
        return FROM_MEMORY

    @contextmanager
    def _recording(self, op: str, generation: int) -> Iterator[None]:
        """Swallow and record any failure of the operation routed under `generation`."""
        try:
            yield
        except LoopStalled as exc:
            self.probe.report_stall(op, str(exc))
        except Exception as exc:  # noqa: BLE001 - never raise to the request path; the state records it
            self.probe.report_failure(self.link.describe(exc), f"{op} operation", generation)
