"""What this worker serves, and what it refused: the data behind ``/health/config``.

Envoy's xDS client keeps the same two facts: the version it ACKed and the last
version it NACKed with the reason. Both are kept here so an operator can see why
an upload did not take effect without reading logs.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter, Gauge

from gateway.apply.litellm_proxy import ApplyResult
from gateway.errors import ConfigIssue
from gateway.release import Release

APPLIES = Counter("gateway_config_applies_total", "Config applies by result", ["result"])
APPLIED_INFO = Gauge("gateway_config_applied_timestamp_seconds", "When the current config was applied")


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(frozen=True)
class Rejection:
    version: str
    sha256: str
    errors: tuple[ConfigIssue, ...]
    stage: str
    at: str = field(default_factory=_now)

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "sha256": self.sha256,
            "stage": self.stage,
            "at": self.at,
            "errors": [e.as_dict() for e in self.errors],
        }


class ConfigStatus:
    """Mutable, single-loop record of applied and rejected releases."""

    def __init__(self) -> None:
        self.applied: ApplyResult | None = None
        self.applied_at: str | None = None
        self.last_rejected: Rejection | None = None
        #: Whether the latest verdict was a rejection (the brief, unauthenticated /health/config says only this).
        self.last_release_rejected = False
        self.extras: dict[str, Callable[[], Any]] = {}
        #: Called (no arguments) after every apply, rejection and relabel: replica reports, metrics.
        #: They must be cheap and must not raise; a failing one is logged and skipped.
        self.listeners: list[Callable[[], None]] = []

    def _changed(self) -> None:
        for listener in self.listeners:
            try:
                listener()
            except Exception:  # observers must never break the apply path
                logging.getLogger(__name__).exception("status listener %r failed", listener)

    @property
    def ready(self) -> bool:
        return self.applied is not None

    def record_applied(self, result: ApplyResult) -> None:
        self.applied = result
        self.applied_at = _now()
        self.last_release_rejected = False
        APPLIES.labels("applied").inc()
        APPLIED_INFO.set_to_current_time()
        self._changed()

    def relabel(self, release: Release) -> None:
        """The applied bytes were re-published under their publisher's version: report that version."""
        applied = self.applied
        if applied is not None and applied.sha256 == release.sha256 and applied.version != release.version:
            self.applied = dataclasses.replace(applied, version=release.version, origin=release.origin)
            self._changed()

    def record_rejected(self, version: str, sha256: str, errors: Sequence[ConfigIssue], stage: str) -> None:
        self.last_rejected = Rejection(version, sha256, tuple(errors), stage)
        self.last_release_rejected = True
        APPLIES.labels("rejected").inc()
        self._changed()

    def as_dict(self) -> dict[str, Any]:
        applied = self.applied
        body: dict[str, Any] = {
            "ready": self.ready,
            "version": applied.version if applied else None,
            "sha256": applied.sha256 if applied else None,
            "source": applied.origin if applied else None,
            "applied_at": self.applied_at,
            "deployments": applied.deployments if applied else 0,
            "model_groups": list(applied.model_groups) if applied else [],
            "warnings": list(applied.warnings) if applied else [],
            "master_key_source": applied.master_key_source if applied else None,
            "last_rejected": self.last_rejected.as_dict() if self.last_rejected else None,
            "pid": os.getpid(),
        }
        for name, provide in self.extras.items():
            body[name] = provide()
        return body
