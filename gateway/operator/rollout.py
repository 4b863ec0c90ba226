"""Following a release: the publisher's verdict on an upload, then every live replica's ACK or NACK.

``evaluate`` is pure (a snapshot of the store in, a ``Rollout`` out); ``follow``
polls the store and renders each snapshot with rich until the rollout is decided
or the timeout passes. A replica counts only while its heartbeat is fresh
(``ReplicaReport.is_stale``): a stopped or lost replica is shown, not waited for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from gateway.operator.store import PipelineStore, normalize_etag
from gateway.protocol import PublishStatus
from gateway.release import is_newer
from gateway.reporting.report import ReplicaReport, now_utc

EXIT_OK = 0
EXIT_INVALID = 1  # the file failed local validation; nothing uploaded
EXIT_ERROR = 2  # settings, store or usage error
EXIT_REJECTED = 3  # the publisher rejected the upload
EXIT_NACK = 4  # accepted, but at least one live replica refused it
EXIT_TIMEOUT = 5  # no decision before --timeout
EXIT_CONFLICT = 6  # config.yaml changed since it was read; nothing uploaded

ReplicaState = Literal["pending", "ack", "nack", "stale", "stopped"]


@dataclass(frozen=True)
class ReplicaProgress:
    replica_id: str
    state: ReplicaState
    serving: str | None
    detail: str = ""


@dataclass(frozen=True)
class Rollout:
    """One snapshot: the publisher's verdict on our upload and each replica's answer to that version."""

    publisher: Literal["pending", "accepted", "rejected"]
    version: str | None
    errors: tuple[str, ...]
    replicas: tuple[ReplicaProgress, ...]

    @property
    def live(self) -> tuple[ReplicaProgress, ...]:
        return tuple(r for r in self.replicas if r.state in ("pending", "ack", "nack"))

    @property
    def decided(self) -> bool:
        if self.publisher == "rejected":
            return True
        return self.publisher == "accepted" and all(r.state != "pending" for r in self.live)

    @property
    def exit_code(self) -> int:
        if self.publisher == "rejected":
            return EXIT_REJECTED
        if not self.decided:
            return EXIT_TIMEOUT
        return EXIT_NACK if any(r.state == "nack" for r in self.live) else EXIT_OK


def evaluate(upload_etag: str, verdict: PublishStatus | None, reports: list[ReplicaReport], now: datetime | None = None) -> Rollout:
    """Where the upload with ETag ``upload_etag`` stands, from the verdict blob and the replica reports."""
    now = now or now_utc()
    if verdict is None or normalize_etag(verdict.source_etag) != normalize_etag(upload_etag):
        return Rollout("pending", None, (), tuple(_progress(r, None, now) for r in reports))
    if verdict.result == "rejected":
        return Rollout("rejected", verdict.version, tuple(str(e) for e in verdict.errors), tuple(_progress(r, None, now) for r in reports))
    return Rollout("accepted", verdict.version, (), tuple(_progress(r, verdict.version, now) for r in reports))


def _progress(report: ReplicaReport, version: str | None, now: datetime) -> ReplicaProgress:
    if report.state == "stopped":
        return ReplicaProgress(report.replica_id, "stopped", report.version, f"stopped at {report.heartbeat_at}")
    if report.is_stale(now):
        return ReplicaProgress(report.replica_id, "stale", report.version, f"no heartbeat since {report.heartbeat_at}")
    if version is None:
        return ReplicaProgress(report.replica_id, "pending", report.version)
    if report.version is not None and (report.version == version or (not report.version.startswith("sha-") and is_newer(report.version, version))):
        return ReplicaProgress(report.replica_id, "ack", report.version, f"via {report.source}")
    if report.rejected is not None and report.rejected.version == version:
        errors = "; ".join(f"{e['path']}: {e['message']}" if e.get("path") else e.get("message", "") for e in report.rejected.errors)
        return ReplicaProgress(report.replica_id, "nack", report.version, f"{report.rejected.stage}: {errors}")
    return ReplicaProgress(report.replica_id, "pending", report.version)


_STYLE = {"ack": "green", "nack": "bold red", "pending": "yellow", "stale": "dim", "stopped": "dim"}


def render(rollout: Rollout, *, what: str) -> Group:
    if rollout.publisher == "pending":
        head = Text(f"{what}: waiting for the publisher's verdict...", style="yellow")
    elif rollout.publisher == "rejected":
        head = Text(f"{what}: REJECTED by the publisher (version {rollout.version})", style="bold red")
    else:
        acked = sum(1 for r in rollout.live if r.state == "ack")
        head = Text(f"{what}: accepted as version {rollout.version}; {acked}/{len(rollout.live)} live replica(s) ACKed", style="green")
    parts: list[Text | Table] = [head]
    parts += [Text(f"  error: {e}", style="red") for e in rollout.errors]
    if rollout.publisher != "rejected" and rollout.replicas:
        table = Table("replica", "answer", "serving", "detail", box=None, pad_edge=False)
        for r in rollout.replicas:
            table.add_row(r.replica_id, Text(r.state.upper(), style=_STYLE[r.state]), r.serving or "-", r.detail)
        parts.append(table)
    return Group(*parts)


def follow(
    store: PipelineStore,
    upload_etag: str,
    *,
    timeout_s: float,
    console: Console,
    what: str,
    poll_s: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
) -> Rollout:
    """Poll until the rollout is decided or ``timeout_s`` passes; the live display shows every step."""
    deadline = clock() + timeout_s
    rollout = evaluate(upload_etag, None, [])
    with Live(render(rollout, what=what), console=console, refresh_per_second=4, transient=False) as live:
        while True:
            reports, _unreadable = store.reports()
            rollout = evaluate(upload_etag, store.verdict(), reports)
            live.update(render(rollout, what=what))
            if rollout.decided or clock() >= deadline:
                return rollout
            time.sleep(poll_s)
