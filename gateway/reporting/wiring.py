"""Which reporter a runtime gets, from its environment.

    GATEWAY_REPLICA_ID        the report's name (default: the host name, i.e. the pod name)
    GATEWAY_REPORT_INTERVAL   heartbeat seconds (default 30; 1-3600)
    GATEWAY_REPORT            true/false (default true when the config comes from Blob Storage)

A replica serving a local file (``serve --config``) has no store to report to. With
several workers per pod, each worker applies on its own and reports as
``<replica-id>.w<pid>``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING

from gateway.reporting.report import report_blob_name
from gateway.reporting.reporter import DEFAULT_INTERVAL_S, ReplicaReporter
from gateway.settings import EnvReader, Settings

if TYPE_CHECKING:
    from gateway.status import ConfigStatus


def replica_id(env: Mapping[str, str], *, worker: bool) -> str:
    base = (env.get("GATEWAY_REPLICA_ID") or socket.gethostname()).strip()
    return f"{base}.w{os.getpid()}" if worker else base


def build_reporter(settings: Settings, status: ConfigStatus, *, env: Mapping[str, str], worker: bool) -> ReplicaReporter | None:
    """A reporter writing to the config container, or None (no Blob Storage, or GATEWAY_REPORT=false)."""
    from gateway import metrics
    from gateway.cloud import clients
    from gateway.reporting.blob import BlobReportWriter
    from gateway.sources.factory import blob_endpoint

    r = EnvReader(env)
    enabled = r.flag("GATEWAY_REPORT", settings.blob is not None and settings.source == "blob")
    interval = r.number("GATEWAY_REPORT_INTERVAL", DEFAULT_INTERVAL_S, minimum=1, maximum=3600)
    name = replica_id(env, worker=worker)
    try:
        report_blob_name(name)
    except ValueError as exc:
        r.problem("GATEWAY_REPLICA_ID", str(exc))
    r.raise_if_any()
    if not enabled or settings.blob is None:
        return None
    container = clients.container_client(blob_endpoint(settings.blob), settings.blob.container)
    reporter = ReplicaReporter(
        status.as_dict,
        BlobReportWriter(container),
        replica_id=name,
        interval_s=interval,
        on_published=metrics.report_published,
        on_propagated=metrics.PROPAGATION_SECONDS.observe,
    )
    status.listeners.append(reporter.notify)
    return reporter
