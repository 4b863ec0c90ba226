"""One replica's report: the wire format between a replica and the operator CLI.

A replica writes ``status/replicas/<replica-id>.json``; the CLI lists the prefix.
The report says what the replica serves (ACK of ``version``/``sha256``), the last
release it refused (NACK with the errors) when that is newer than what it serves,
where its config came from, its cache backend and a heartbeat. The heartbeat
interval is in the report, so a reader can tell a stopped replica from a quiet one
without knowing the replica's settings.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from gateway.release import UNORDERED_PREFIX, is_newer

REPORTS_PREFIX = "status/replicas/"
#: A heartbeat older than this many intervals (plus ``STALE_GRACE_S``) means the replica stopped reporting.
STALE_AFTER_INTERVALS = 3
STALE_GRACE_S = 5.0
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

State = Literal["ack", "nack", "waiting", "stopped"]


def _ordered(version: str) -> bool:
    return not version.startswith(UNORDERED_PREFIX)


def report_blob_name(replica_id: str) -> str:
    """``status/replicas/<replica-id>.json``; ``ValueError`` for an id that is not a safe blob name segment."""
    if not _ID.match(replica_id):
        raise ValueError(f"replica id {replica_id!r}: use 1-128 letters, digits, '.', '_' or '-' (GATEWAY_REPLICA_ID)")
    return f"{REPORTS_PREFIX}{replica_id}.json"


def now_utc() -> datetime:
    return datetime.now(UTC)


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Refusal:
    """The newest release this replica refused, with the reason (a NACK)."""

    version: str
    sha256: str
    stage: str
    at: str
    errors: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True)
class ReplicaReport:
    """What one replica (pod) serves and refused, as of ``heartbeat_at``."""

    replica_id: str
    state: State
    version: str | None
    sha256: str | None
    origin: str | None
    applied_at: str | None
    rejected: Refusal | None
    cache_backend: str | None
    heartbeat_at: str
    started_at: str
    interval_s: float
    host: str = ""
    pid: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> str | None:
        """``push`` (Service Bus), ``poll`` (Blob Storage) or ``file`` (a local file), from ``origin``."""
        if not self.origin:
            return None
        if self.origin.startswith("servicebus:"):
            return "push"
        if self.origin.startswith("blob:"):
            return "poll"
        return "file"

    def is_stale(self, now: datetime | None = None) -> bool:
        """True when the heartbeat stopped: older than ``STALE_AFTER_INTERVALS`` intervals plus a grace."""
        beat = parse_time(self.heartbeat_at)
        if beat is None:
            return True
        age = ((now or now_utc()) - beat).total_seconds()
        return age > STALE_AFTER_INTERVALS * self.interval_s + STALE_GRACE_S

    def to_json(self) -> bytes:
        body = asdict(self)
        body["source"] = self.source
        return json.dumps(body, indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> ReplicaReport:
        """Parse a report; ``ValueError`` (naming the field) for anything that is not one."""
        try:
            body = json.loads(data)
            rejected = body.get("rejected")
            return cls(
                replica_id=str(body["replica_id"]),
                state=body["state"],
                version=body.get("version"),
                sha256=body.get("sha256"),
                origin=body.get("origin"),
                applied_at=body.get("applied_at"),
                rejected=Refusal(
                    version=str(rejected["version"]),
                    sha256=str(rejected.get("sha256", "")),
                    stage=str(rejected.get("stage", "")),
                    at=str(rejected.get("at", "")),
                    errors=tuple({"path": str(e.get("path", "")), "message": str(e.get("message", ""))} for e in rejected.get("errors", [])),
                )
                if rejected
                else None,
                cache_backend=body.get("cache_backend"),
                heartbeat_at=str(body["heartbeat_at"]),
                started_at=str(body.get("started_at", "")),
                interval_s=float(body.get("interval_s", 30.0)),
                host=str(body.get("host", "")),
                pid=int(body.get("pid", 0)),
                extra=dict(body.get("extra") or {}),
            )
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a replica report: {exc!r}") from exc


def from_status(
    health: dict[str, Any],
    *,
    replica_id: str,
    started_at: str,
    interval_s: float,
    host: str,
    pid: int,
    stopped: bool = False,
) -> ReplicaReport:
    """Build a report from ``ConfigStatus.as_dict()`` (the same facts ``/health/config`` shows).

    NACK when the last refused release was refused after the current one was applied
    (a replica that later applied something else has moved on: ACK).
    """
    rejected = health.get("last_rejected")
    applied_at = parse_time(health.get("applied_at"))
    refused_at = parse_time(rejected.get("at")) if rejected else None
    refusal = None
    serving = health.get("version")
    # A refusal is a NACK until something newer is served: a later apply, or a relabel of the served
    # bytes under a newer version (a rollback to what this replica kept serving).
    superseded = bool(rejected and serving and _ordered(serving) and _ordered(str(rejected["version"])) and is_newer(serving, str(rejected["version"])))
    if rejected and refused_at is not None and (applied_at is None or refused_at >= applied_at) and not superseded:
        refusal = Refusal(
            version=str(rejected["version"]),
            sha256=str(rejected.get("sha256", "")),
            stage=str(rejected.get("stage", "")),
            at=str(rejected.get("at", "")),
            errors=tuple(dict(e) for e in rejected.get("errors", [])),
        )
    state: State
    if stopped:
        state = "stopped"
    elif refusal is not None:
        state = "nack"
    elif health.get("ready"):
        state = "ack"
    else:
        state = "waiting"
    cache = health.get("cache")
    return ReplicaReport(
        replica_id=replica_id,
        state=state,
        version=health.get("version"),
        sha256=health.get("sha256"),
        origin=health.get("source"),
        applied_at=health.get("applied_at"),
        rejected=refusal,
        cache_backend=(cache.get("backend") or "none") if isinstance(cache, dict) else None,
        heartbeat_at=now_utc().isoformat(),
        started_at=started_at,
        interval_s=interval_s,
        host=host,
        pid=pid,
    )
