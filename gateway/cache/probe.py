"""The background health probe of the failover cache: one asyncio task that drives ``HealthState``.

Every ``probe_interval`` s while on Redis (every ``recovery_interval`` s while on memory) it runs
``RedisLink.probe()`` and turns the verdict into ``mark_healthy`` / ``mark_unhealthy``. Operations
that fail report here too (``report_failure`` / ``report_stall``), which wakes the probe at once:

* after a fallback the probe drops the active clients and dwells on memory at least
  ``recovery_interval`` s, so a sick Redis does not flap;
* an inconclusive probe (the event loop was blocked past the deadline) is retried shortly, and
  only the third one in a row counts as a failure.

``start()`` does no Redis I/O and returns at once; ``stop()`` is bounded and never raises.
The probe lives on one event loop; ``start()`` from another loop abandons the first one.
"""

from __future__ import annotations

import asyncio
import logging

from .health import BACKEND_MEMORY, BACKEND_REDIS, HealthState, Transition
from .redis_link import RedisLink

logger = logging.getLogger("gateway.cache")

_STALL_RECHECK_S = 0.05
_STALLS_BEFORE_FAILURE = 3
_STOP_WAIT_S = 1.0
_STOP_ATTEMPTS = 3


class HealthProbe:
    """Owns the probe task, its event loop and its wake-up event for one cache.

    probe_interval / recovery_interval: seconds between probes on Redis / on memory.
    autostart: let the first async operation start the probe if ``start()`` was never called.
    """

    def __init__(
        self,
        state: HealthState,
        link: RedisLink,
        *,
        probe_interval: float,
        recovery_interval: float,
        autostart: bool = True,
    ) -> None:
        self.state = state
        self.link = link
        self.probe_interval = probe_interval
        self.recovery_interval = recovery_interval
        self.autostart = autostart
        self.loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._wake: asyncio.Event | None = None
        self.started = False
        self._stopped = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def on_current_loop(self) -> bool:
        """True when called from the event loop the probe (and the async client) belongs to."""
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Start the probe task on the running loop; returns at once. Idempotent, also after stop()."""
        loop = asyncio.get_running_loop()
        self._stopped = False
        if self.running and self.loop is loop:
            return
        if self.loop is not None and self.loop is not loop:
            self._abandon_foreign_loop()
        self.loop = loop
        self._wake = asyncio.Event()
        self.started = True
        self._task = loop.create_task(self._run(), name=f"redis-failover-probe-{self.link.conn.address}")

    def _abandon_foreign_loop(self) -> None:
        task, old_loop = self._task, self.loop
        if task is not None and not task.done() and old_loop is not None and not old_loop.is_closed():
            try:
                old_loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:
                pass
        self._task = None
        self.link.forget_async_client()
        self.state.force_memory()

    async def stop(self) -> bool:
        """Cancel the probe (bounded wait), go to memory, close the clients. Returns whether it had been
        started. Idempotent; never raises."""
        self._stopped = True
        task, self._task = self._task, None
        same_loop = self.on_current_loop()
        if task is not None and not task.done():
            task.cancel()
            if same_loop:
                # bounded: never let a stuck probe hang a config apply or shutdown
                for _ in range(_STOP_ATTEMPTS):
                    await asyncio.wait({task}, timeout=_STOP_WAIT_S)
                    if task.done():
                        break
                    task.cancel()
                if task.done() and not task.cancelled():
                    task.exception()  # retrieve it, so asyncio does not log "never retrieved"
        self.state.force_memory()
        await self.link.close(async_client_usable=same_loop)
        was_started, self.started = self.started, False
        return was_started

    def maybe_autostart(self) -> None:
        """Called by an operation routed to memory: start the probe if nobody did (and nobody stopped it)."""
        if self.started or self._stopped or not self.autostart:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self.started = True  # claim it now so concurrent ops schedule only one start

        async def autostart() -> None:
            if not self._stopped and not self.running:
                await self.start()

        task = loop.create_task(autostart())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    # ------------------------------------------------------------------ reports from operations
    def wake(self) -> None:
        """Make the probe run now (thread-safe; no-op before start)."""
        if self._wake is not None and self.loop is not None:
            try:
                self.loop.call_soon_threadsafe(self._wake.set)
            except RuntimeError:
                pass

    def report_failure(self, reason: str, source: str, generation: int | None) -> Transition:
        """Record a failed probe or operation; on a fallback mark the clients for dropping and wake the probe."""
        transition = self.state.mark_unhealthy(reason, source, generation)
        if transition is Transition.FALLBACK:
            self.link.dirty = True
            self.wake()
        return transition

    def report_stall(self, what: str, detail: str) -> None:
        """An operation's deadline fired late (event loop blocked): no verdict on Redis, the probe re-checks."""
        self.state.record_stall()
        logger.debug("Redis %s %s: %s; answered from memory, probe re-checks", self.link.conn.address, what, detail)
        self.wake()

    # ------------------------------------------------------------------ the loop
    def _drop_if_dirty(self) -> None:
        if self.link.dirty:
            if self.state.backend == BACKEND_MEMORY:
                self.link.drop()
            else:
                self.link.dirty = False

    async def _run(self) -> None:
        assert self._wake is not None
        stalled_in_a_row = 0
        while not self._stopped:
            woken = False
            try:
                generation = self.state.generation
                ok, reason = await self.link.probe(lambda: self.state.backend == BACKEND_REDIS)
                if ok is None:  # inconclusive (event loop stall): check again shortly
                    stalled_in_a_row += 1
                    if stalled_in_a_row < _STALLS_BEFORE_FAILURE:
                        await asyncio.sleep(_STALL_RECHECK_S)
                        continue
                    ok = False
                stalled_in_a_row = 0
                if ok:
                    self.state.mark_healthy(generation)
                else:
                    self.report_failure(reason or "unknown error", "health probe", generation)
                self._drop_if_dirty()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the probe must never die
                logger.debug("Redis probe iteration error: %s", self.link.describe(exc))
            interval = self.probe_interval if self.state.backend == BACKEND_REDIS else self.recovery_interval
            self._wake.clear()
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the cancellation
                # from stop() when the event is set at the same moment
                async with asyncio.timeout(interval):
                    await self._wake.wait()
                woken = True  # an operation failed or stalled
            except TimeoutError:
                pass
            self._drop_if_dirty()
            if woken and self.state.backend == BACKEND_MEMORY:
                # after a hard failure dwell on memory at least recovery_interval, so a sick Redis does not flap
                await asyncio.sleep(self.recovery_interval)
