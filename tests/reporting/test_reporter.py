"""The reporter task: publishes on change and heartbeat, never blocks an apply, survives a failing store."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

import pytest

from gateway.apply.litellm_proxy import ApplyResult
from gateway.errors import SourceUnavailable
from gateway.reporting.report import ReplicaReport
from gateway.reporting.reporter import ReplicaReporter
from gateway.status import ConfigStatus


class MemoryWriter:
    """A store in a dict; ``gate`` (when set) holds every write until released; ``fail`` makes writes raise."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.writes = 0
        self.written = asyncio.Event()
        self.gate: asyncio.Event | None = None
        self.fail = False
        self.created: dict[str, datetime] = {}
        self.closed = False

    async def write(self, name: str, data: bytes) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise SourceUnavailable("writing status/replicas/x.json: connection refused")
        self.blobs[name] = data
        self.writes += 1
        self.written.set()

    async def release_created(self, version: str) -> datetime | None:
        return self.created.get(version)

    async def aclose(self) -> None:
        self.closed = True

    def report(self, name: str = "status/replicas/r1.json") -> ReplicaReport:
        return ReplicaReport.from_json(self.blobs[name])


def _result(version: str, applied_offset: float = 0.0) -> ApplyResult:
    return ApplyResult(version, version * 4, "blob:litellm-config/releases/x.yaml", 2, ("gpt-4",), 10.0, 5.0, False)


async def _next_write(writer: MemoryWriter) -> None:
    await asyncio.wait_for(writer.written.wait(), timeout=10)
    writer.written.clear()


async def test_publishes_at_start_and_on_every_change() -> None:
    """A report is written when the task starts and again after an apply (the status listener notifies)."""
    status, writer = ConfigStatus(), MemoryWriter()
    reporter = ReplicaReporter(status.as_dict, writer, replica_id="r1", interval_s=3600)
    status.listeners.append(reporter.notify)
    task = asyncio.create_task(reporter.run())
    try:
        await _next_write(writer)
        assert writer.report().state == "waiting"
        status.record_applied(_result("0001"))
        await _next_write(writer)
        assert (writer.report().state, writer.report().version) == ("ack", "0001")
    finally:
        task.cancel()


async def test_heartbeat_without_changes() -> None:
    """With nothing changing, the report is rewritten every interval (the heartbeat the CLI ages)."""
    status, writer = ConfigStatus(), MemoryWriter()
    reporter = ReplicaReporter(status.as_dict, writer, replica_id="r1", interval_s=0.05)
    task = asyncio.create_task(reporter.run())
    try:
        for _ in range(3):
            await _next_write(writer)
    finally:
        task.cancel()
    assert writer.writes >= 3


async def test_an_apply_never_waits_for_a_slow_store() -> None:
    """While a report write hangs, recording applies and rejections returns at once (notify only sets an event)."""
    status, writer = ConfigStatus(), MemoryWriter()
    writer.gate = asyncio.Event()  # the store never answers until released
    reporter = ReplicaReporter(status.as_dict, writer, replica_id="r1", interval_s=3600)
    status.listeners.append(reporter.notify)
    task = asyncio.create_task(reporter.run())
    try:
        await asyncio.sleep(0)  # the reporter is now blocked in write()
        status.record_applied(_result("0001"))
        status.record_applied(_result("0002"))
        assert status.applied is not None and status.applied.version == "0002"
        assert writer.writes == 0
        writer.gate.set()
        await _next_write(writer)
        while writer.report().version != "0002":  # the change during the write is coalesced into the next
            await _next_write(writer)
    finally:
        task.cancel()


async def test_a_hanging_store_is_bounded_by_the_timeout() -> None:
    """A write that never completes is abandoned after timeout_s; publish_once reports failure, not an exception."""
    status, writer = ConfigStatus(), MemoryWriter()
    writer.gate = asyncio.Event()
    reporter = ReplicaReporter(status.as_dict, writer, replica_id="r1", timeout_s=0.05)
    assert await reporter.publish_once() is False


async def test_a_failing_store_is_logged_once_and_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    """Five failed writes in a row: one warning naming the blob, no exception; the next success is logged."""
    status, writer = ConfigStatus(), MemoryWriter()
    writer.fail = True
    reporter = ReplicaReporter(status.as_dict, writer, replica_id="r1")
    with caplog.at_level(logging.INFO, logger="gateway.reporting.reporter"):
        for _ in range(5):
            assert await reporter.publish_once() is False
        writer.fail = False
        assert await reporter.publish_once() is True
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "status/replicas/r1.json" in warnings[0].getMessage()
    assert any("written again after 5 failure(s)" in r.getMessage() for r in caplog.records)


async def test_stop_writes_a_stopped_report_and_closes() -> None:
    """aclose() leaves "stopped" behind, so the CLI can tell a clean stop from a lost heartbeat."""
    status, writer = ConfigStatus(), MemoryWriter()
    reporter = ReplicaReporter(status.as_dict, writer, replica_id="r1")
    await reporter.aclose()
    assert writer.report().state == "stopped" and writer.closed


async def test_propagation_latency_once_per_version() -> None:
    """Seconds from the release blob's creation to the apply are observed once per applied version."""
    status, writer = ConfigStatus(), MemoryWriter()
    seen: list[float] = []
    reporter = ReplicaReporter(status.as_dict, writer, replica_id="r1", on_propagated=seen.append)
    status.record_applied(_result("0001"))
    applied_at = datetime.fromisoformat(status.applied_at or "")
    writer.created["0001"] = applied_at - timedelta(seconds=4)
    await reporter.publish_once()
    await reporter.publish_once()
    assert seen == [pytest.approx(4.0)]
