"""The background task that publishes this replica's report: on every change and on a heartbeat.

Never in the way of an apply: ``notify()`` (called by ``ConfigStatus`` on every
apply, rejection and relabel) only sets an event; the write happens in this task,
bounded by ``timeout_s``. A failed write is logged (the first, then every
``LOG_EVERY``-th in a row) and retried at the next change or heartbeat; it never
raises into the replica, so a store outage or a missing role costs reports, not
serving. Changes that arrive during a write are coalesced into the next one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from gateway.errors import describe
from gateway.reporting.report import ReplicaReport, from_status, now_utc, parse_time, report_blob_name

log = logging.getLogger(__name__)

#: Seconds between heartbeats when nothing changes (GATEWAY_REPORT_INTERVAL).
DEFAULT_INTERVAL_S = 30.0
#: Bound on one write; the next change or heartbeat retries.
DEFAULT_TIMEOUT_S = 10.0
LOG_EVERY = 20
#: Bound on the final "stopped" report at shutdown.
STOP_TIMEOUT_S = 3.0


class ReportWriter(Protocol):
    """Where reports go (Blob Storage in production, a dict in the unit tests)."""

    async def write(self, name: str, data: bytes) -> None: ...

    async def release_created(self, version: str) -> datetime | None: ...

    async def aclose(self) -> None: ...


class ReplicaReporter:
    """Publishes ``status/replicas/<replica_id>.json`` from a ``ConfigStatus``-like ``health()`` callable."""

    def __init__(
        self,
        health: Callable[[], dict[str, Any]],
        writer: ReportWriter,
        *,
        replica_id: str,
        interval_s: float = DEFAULT_INTERVAL_S,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        on_published: Callable[[ReplicaReport], None] | None = None,
        on_propagated: Callable[[float], None] | None = None,
    ) -> None:
        self.name = report_blob_name(replica_id)
        self.replica_id = replica_id
        self._health = health
        self._writer = writer
        self._interval = interval_s
        self._timeout = timeout_s
        self._on_published = on_published
        self._on_propagated = on_propagated
        self._changed = asyncio.Event()
        self._started_at = now_utc().isoformat()
        self._host = socket.gethostname()
        self._failures = 0
        self._measured: str | None = None  # the version whose propagation latency was observed
        self.published = 0

    def notify(self) -> None:
        """Something changed (apply, rejection, relabel): publish soon. Cheap, never raises."""
        self._changed.set()

    async def run(self) -> None:
        """Publish now, then on every change and every ``interval_s``; runs until cancelled."""
        while True:
            self._changed.clear()
            await self.publish_once()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=self._interval)
            except TimeoutError:
                pass

    async def publish_once(self, *, stopped: bool = False, timeout_s: float | None = None) -> bool:
        """Write one report; True if it was written. Never raises (except cancellation)."""
        try:
            report = from_status(
                self._health(),
                replica_id=self.replica_id,
                started_at=self._started_at,
                interval_s=self._interval,
                host=self._host,
                pid=os.getpid(),
                stopped=stopped,
            )
            await asyncio.wait_for(self._writer.write(self.name, report.to_json()), timeout=timeout_s or self._timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - reporting must never stop a replica
            self._failures += 1
            if self._failures == 1 or self._failures % LOG_EVERY == 0:
                log.warning("replica report %s not written (%d failure(s) in a row): %s", self.name, self._failures, describe(exc))
            return False
        if self._failures:
            log.info("replica report %s written again after %d failure(s)", self.name, self._failures)
        self._failures = 0
        self.published += 1
        if self._on_published is not None:
            self._on_published(report)
        await self._measure_propagation(report)
        return True

    async def _measure_propagation(self, report: ReplicaReport) -> None:
        """Seconds from the release blob's creation to this replica's apply, once per version."""
        if self._on_propagated is None or not report.version or report.version == self._measured:
            return
        self._measured = report.version
        if report.version.startswith("sha-"):  # not a publisher release: no creation time to measure from
            return
        try:
            created = await asyncio.wait_for(self._writer.release_created(report.version), timeout=self._timeout)
        except Exception as exc:  # noqa: BLE001 - a metric, not a function of the replica
            log.debug("release %s creation time unknown: %s", report.version, describe(exc))
            return
        applied = parse_time(report.applied_at)
        if created is not None and applied is not None:
            self._on_propagated(max(0.0, (applied - created).total_seconds()))

    async def aclose(self) -> None:
        """Say "stopped" (bounded by ``timeout_s``) so the CLI shows a clean stop, not a lost heartbeat."""
        try:
            await self.publish_once(stopped=True, timeout_s=min(self._timeout, STOP_TIMEOUT_S))
        finally:
            await self._writer.aclose()
