"""``/metrics``: Prometheus text for one worker process, served without the master key like the probes.

Two kinds of series:

* instruments updated where things happen (applies, apply duration, propagation
  latency, applies per source, reports), defined here;
* values read at scrape time from the running replica (config version/sha256 info,
  cache backend and its fallback/resume counters, Service Bus connection state,
  token fetches and failures per identity) by ``RuntimeCollector``, so no module of
  the pipeline has to know about Prometheus.

Nothing here carries a secret: labels are versions, hashes, identity client ids
(not secrets) and source names. With several workers per pod each worker answers for
itself (LiteLLM's process globals are per worker too).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from gateway.apply.litellm_proxy import ApplyResult
    from gateway.reporting.report import ReplicaReport
    from gateway.runtime import GatewayRuntime

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

APPLY_SECONDS = Histogram(
    "gateway_config_apply_duration_seconds",
    "Time to apply a config in this worker (prepare off the loop + commit), seconds",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
PROPAGATION_SECONDS = Histogram(
    "gateway_config_propagation_seconds",
    "From the release blob's creation by the publisher to this replica applying it, seconds",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900),
)
APPLIES_BY_SOURCE = Counter("gateway_config_applies_by_source_total", "Applied configs by where they came from", ["source"])
REPORTS = Counter("gateway_replica_reports_total", "Replica reports written to the store")


def source_of(origin: str) -> str:
    """``push`` (Service Bus), ``poll`` (Blob Storage) or ``file``."""
    if origin.startswith("servicebus:"):
        return "push"
    if origin.startswith("blob:"):
        return "poll"
    return "file"


def applied(result: ApplyResult) -> None:
    """Record one successful apply (called with the ``ApplyResult`` the watcher recorded)."""
    APPLY_SECONDS.observe((result.prepare_ms + result.commit_ms) / 1000.0)
    APPLIES_BY_SOURCE.labels(source_of(result.origin)).inc()


def report_published(_report: ReplicaReport) -> None:
    REPORTS.inc()


class RuntimeCollector(Collector):
    """Reads the watched replica's state at scrape time; yields nothing until one is watched."""

    def __init__(self) -> None:
        self._health: Callable[[], dict[str, Any]] | None = None
        self._servicebus: Callable[[], bool | None] | None = None
        self._tokens: Callable[[], Iterable[tuple[str, str, int, int]]] | None = None

    def watch(
        self,
        health: Callable[[], dict[str, Any]],
        *,
        servicebus: Callable[[], bool | None] | None = None,
        tokens: Callable[[], Iterable[tuple[str, str, int, int]]] | None = None,
    ) -> None:
        """Serve this replica's values (the last call wins: one runtime per worker process)."""
        self._health, self._servicebus, self._tokens = health, servicebus, tokens

    def collect(self) -> Iterable[Metric]:
        if self._health is None:
            return
        try:
            health = self._health()
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail because one provider did
            log.warning("metrics: reading the replica's state failed: %s", exc)
            return
        info = InfoMetricFamily("gateway_config", "The config this worker serves", labels=["version", "sha256", "source"])
        if health.get("ready"):
            info.add_metric([], {"version": str(health.get("version")), "sha256": str(health.get("sha256")), "source": source_of(str(health.get("source") or ""))})
        yield info
        yield GaugeMetricFamily("gateway_config_ready", "1 once a valid config is applied", value=1 if health.get("ready") else 0)
        rejected = health.get("last_rejected") or {}
        nack = GaugeMetricFamily("gateway_config_last_rejected", "1 for the last release this worker refused", labels=["version", "stage"])
        if rejected:
            nack.add_metric([str(rejected.get("version")), str(rejected.get("stage"))], 1)
        yield nack
        cache = health.get("cache")
        if isinstance(cache, dict):
            backend = GaugeMetricFamily("gateway_cache_backend", "1 for the response cache backend in use (none: caching off)", labels=["backend"])
            backend.add_metric([str(cache.get("backend") or "none")], 1)
            yield backend
            for key, help_text in (("fallbacks", "Switches from Redis to the in-memory cache"), ("resumes", "Switches back to Redis")):
                if isinstance(cache.get(key), int):
                    yield CounterMetricFamily(f"gateway_cache_{key}", help_text, value=cache[key])
        if self._servicebus is not None:
            state = self._servicebus()
            if state is not None:
                yield GaugeMetricFamily("gateway_servicebus_connected", "1 while the Service Bus receiver is connected", value=1 if state else 0)
        if self._tokens is not None:
            fetches = CounterMetricFamily("gateway_identity_token_fetches", "Token fetches per identity", labels=["kind", "identity"])
            failures = CounterMetricFamily("gateway_identity_token_failures", "Failed token fetches per identity", labels=["kind", "identity"])
            for kind, identity, ok, failed in self._tokens():
                fetches.add_metric([kind, identity], ok)
                failures.add_metric([kind, identity], failed)
            yield fetches
            yield failures


COLLECTOR = RuntimeCollector()
REGISTRY.register(COLLECTOR)


def watch_runtime(runtime: GatewayRuntime) -> None:
    """Feed this worker's metrics from ``runtime``: apply instruments via a status listener, the rest at scrape time."""
    status = runtime.status
    last: list[Any] = [status.applied]

    def on_change() -> None:
        if status.applied is not None and status.applied is not last[0]:
            previous, last[0] = last[0], status.applied
            if previous is None or previous.sha256 != status.applied.sha256:  # a relabel is not an apply
                applied(status.applied)

    status.listeners.append(on_change)
    bus = next((s for s in runtime.sources if s.origin.startswith("servicebus:")), None)

    def tokens() -> Iterable[tuple[str, str, int, int]]:
        for (spec, _scope), stats in runtime.identities.registry.stats.items():
            yield spec.kind, spec.client_id or spec.kind, stats.fetches, stats.failures
        for key, stats in runtime.identities.databricks.stats.items():
            yield "databricks", key, stats.fetches, stats.failures

    COLLECTOR.watch(
        status.as_dict,
        servicebus=(lambda: getattr(bus, "connected", None)) if bus is not None else None,
        tokens=tokens,
    )


def render() -> bytes:
    """The Prometheus text exposition of every registered metric."""
    return generate_latest(REGISTRY)
