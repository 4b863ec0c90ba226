"""A replica's lifecycle: which tasks run, in what order, and how they stop.

The pipeline modules know nothing about processes; this one wires them. A
worker always runs the file watcher (the applier side); the writer side (the
judge plus its sources) runs in the same process when there is one worker, or
in a dedicated ``genai-gateway sync`` process when there are several, so
there is exactly one writer per pod either way. LiteLLM's own lifespan is
entered only once the first valid config is known, because its boot check
needs the master key that config may name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping
from typing import Any, Literal

from gateway.apply.litellm_proxy import ProxyApplier, proxy_lifespan
from gateway.cache.responses import ResponseCaches
from gateway.configfile import ConfigFile
from gateway.errors import StartupError
from gateway.identity.deployments import DeploymentIdentities
from gateway.judge import ReleaseJudge
from gateway.settings import Settings
from gateway.sources import ReleaseSource
from gateway.status import ConfigStatus
from gateway.validation import ValidationOptions, envrefs
from gateway.watcher import FileWatcher

log = logging.getLogger(__name__)

Role = Literal["all", "applier", "writer"]


class GatewayRuntime:
    def __init__(self, settings: Settings, *, role: Role = "all", env: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.role = role
        # A snapshot: config references resolve against the environment the replica started with.
        self.env = dict(env if env is not None else os.environ)
        _hide_litellm_env_credentials()
        self.status = ConfigStatus()
        self.file = ConfigFile(settings.storage_path)
        self.options = ValidationOptions(
            mode="replica",
            env=self.env,
            allow_literal_secrets=settings.allow_literal_secrets,
            allowed_env=settings.allowed_env,
            allowed_hosts=settings.allowed_hosts,
            max_bytes=settings.max_config_bytes,
            require_master_key=settings.master_key is None,
        )
        self.identities = DeploymentIdentities(env=self.env)
        caches = ResponseCaches(settings.redis)
        self.applier = ProxyApplier(
            env=self.env,
            bind_deployments=self.identities.bind,
            caches=caches,
            gateway_callbacks=self.identities.callbacks,
        )
        self.status.extras["identities"] = self.identities.describe
        self.status.extras["cache"] = caches.status
        self.watcher = FileWatcher(
            self.file,
            self.applier,
            self.status,
            self.options,
            interval=min(0.5, settings.file_poll_interval),
            before_first_apply=self._start_proxy,
        )
        self.judge: ReleaseJudge | None = None
        self.sources: list[ReleaseSource] = []
        if role in ("all", "writer"):
            from gateway.sources.factory import build_sources

            self.judge = ReleaseJudge(self.file, self.options, self.status, on_written=lambda _r: self.watcher.poke())
            self.sources = build_sources(settings)
        # Replica reporting (ACK/NACK to status/replicas/) and /metrics: observers of self.status only.
        from gateway import logs, metrics
        from gateway.reporting.wiring import build_reporter

        self.reporter = build_reporter(settings, self.status, env=self.env, worker=role == "applier") if role != "writer" else None
        metrics.watch_runtime(self)
        logs.watch_status(self.status)
        self._tasks: list[asyncio.Task[None]] = []
        self._proxy_task: asyncio.Task[None] | None = None
        self._proxy_stop = asyncio.Event()

    async def start(self) -> None:
        """Start background work; returns at once. Readiness follows ``status.ready``."""
        from gateway import logs

        logs.adopt_library_loggers()  # LiteLLM (and uvicorn) are imported by now: one handler per record
        if self.judge is not None:
            for source in self.sources:
                self._tasks.append(asyncio.create_task(source.run(self.judge), name=source.origin))
        if self.role in ("all", "applier"):
            self._tasks.append(asyncio.create_task(self.watcher.run(), name="FileWatcher"))
        if self.reporter is not None:
            self._tasks.append(asyncio.create_task(self.reporter.run(), name="ReplicaReporter"))

    async def stop(self) -> None:
        """Stop receiving first, then the watcher, then LiteLLM's own shutdown."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.reporter is not None:
            with contextlib.suppress(Exception):
                await self.reporter.aclose()
        for source in self.sources:
            try:
                await source.aclose()
            except Exception as exc:  # noqa: BLE001 - closing is best effort at shutdown
                log.warning("closing %s: %s", source.origin, exc)
        if self._proxy_task is not None:
            self._proxy_stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._proxy_task, timeout=10)

    async def _start_proxy(self, config: dict[str, Any]) -> None:
        """Enter LiteLLM's lifespan in a task of its own, so it is entered and exited in one task."""
        key = self._master_key(config)
        started = asyncio.Event()
        failure: list[BaseException] = []

        async def hold() -> None:
            try:
                async with proxy_lifespan(key):
                    started.set()
                    await self._proxy_stop.wait()
            except BaseException as exc:
                failure.append(exc)
                started.set()
                raise

        self._proxy_task = asyncio.create_task(hold(), name="litellm-lifespan")
        await started.wait()
        if failure:
            raise StartupError(f"LiteLLM proxy failed to start: {failure[0]}") from failure[0]

    def _master_key(self, config: dict[str, Any]) -> str:
        if self.settings.master_key is not None:
            return self.settings.master_key.reveal()
        configured = (config.get("general_settings") or {}).get("master_key")
        resolved = envrefs.resolve(configured, self.env) if configured is not None else None
        if not resolved:
            raise StartupError("no master key: set LITELLM_MASTER_KEY or general_settings.master_key: os.environ/NAME")
        return str(resolved)


def _hide_litellm_env_credentials() -> None:
    """LiteLLM falls back to process-wide provider keys/endpoints; the gateway decides per deployment
    (gateway.identity.process_env). The snapshot in ``self.env`` keeps them for ``os.environ/`` references."""
    from gateway.identity import process_env

    hidden = process_env.hide()
    if hidden:
        log.info("hid process-wide provider settings from LiteLLM (reference them per deployment): %s", ", ".join(hidden))
