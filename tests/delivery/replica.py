"""An in-process replica for the delivery tests: real judge, sources, file and watcher; a fake applier.

The Blob and Service Bus clients are the real async SDK clients against Azurite
and the emulator; ``Faults`` wraps the container client so a test can make one
step fail (pointer read, release read, a corrupted transfer) while the rest of
the wire stays real. The applier is the only stand-in: it records what it
"applied" and can be told to fail, so no 10 s LiteLLM import is paid per case.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.core.exceptions import ServiceResponseError
from azure.servicebus.aio import ServiceBusClient
from azure.storage.blob.aio import ContainerClient

from gateway import protocol
from gateway.configfile import ConfigFile
from gateway.errors import ApplyError
from gateway.judge import ReleaseJudge
from gateway.release import Release
from gateway.sources.blob import BlobSource
from gateway.sources.servicebus import ServiceBusSource
from gateway.status import ConfigStatus
from gateway.validation import ValidationOptions
from gateway.watcher import FileWatcher
from tests.delivery.fakes import ENV


@dataclass
class Faults:
    """Which steps fail right now. Flip the flags from the test; the wrappers read them on every call."""

    pointer_read: bool = False
    release_read: bool = False
    corrupt_release_reads: int = 0
    file_write: bool = False
    apply: bool = False
    calls: dict[str, int] = field(default_factory=dict)

    def count(self, what: str) -> None:
        self.calls[what] = self.calls.get(what, 0) + 1


class _FaultyDownloader:
    def __init__(self, inner: Any, corrupt: bool) -> None:
        self._inner = inner
        self._corrupt = corrupt
        self.properties = inner.properties
        self.size = inner.size

    async def readall(self) -> bytes:
        data = await self._inner.readall()
        return data + b"\n# corrupted in transit\n" if self._corrupt else data


class _FaultyBlob:
    def __init__(self, inner: Any, name: str, faults: Faults) -> None:
        self._inner, self._name, self._faults = inner, name, faults

    def __getattr__(self, attribute: str) -> Any:  # everything but downloads goes straight to the SDK
        return getattr(self._inner, attribute)

    async def download_blob(self, *args: Any, **kwargs: Any) -> Any:
        f = self._faults
        is_pointer = self._name == protocol.CURRENT_BLOB
        is_release = self._name.startswith(protocol.RELEASES_PREFIX) and not is_pointer
        if (is_pointer and f.pointer_read) or (is_release and f.release_read):
            f.count(f"fail:{self._name}")
            raise ServiceResponseError("injected: 503 Server Busy")
        f.count(f"read:{self._name}")
        downloader = await self._inner.download_blob(*args, **kwargs)
        corrupt = is_release and f.corrupt_release_reads > 0
        if corrupt:
            f.corrupt_release_reads -= 1
        return _FaultyDownloader(downloader, corrupt)


class FaultyContainer:
    """An async ``ContainerClient`` whose blob downloads obey ``Faults``."""

    def __init__(self, inner: ContainerClient, faults: Faults) -> None:
        self._inner, self._faults = inner, faults
        self.container_name = inner.container_name

    def get_blob_client(self, name: str) -> _FaultyBlob:
        return _FaultyBlob(self._inner.get_blob_client(name), name, self._faults)

    async def close(self) -> None:
        await self._inner.close()


class FakeApplier:
    """Records applied releases; raises ``ApplyError`` while ``faults.apply`` is set."""

    def __init__(self, faults: Faults) -> None:
        self._faults = faults
        self.applied: list[str] = []

    async def apply(self, release: Release, config: dict[str, Any]) -> Any:
        from gateway.apply.litellm_proxy import ApplyResult

        if self._faults.apply:
            self._faults.count("fail:apply")
            raise ApplyError(release.version, "injected: identity token endpoint unavailable")
        self.applied.append(release.version)
        groups = tuple(sorted({d["model_name"] for d in config.get("model_list", [])}))
        return ApplyResult(
            version=release.version,
            sha256=release.sha256,
            origin=release.origin,
            deployments=len(config.get("model_list", [])),
            model_groups=groups,
            prepare_ms=0.0,
            commit_ms=0.0,
            cache_flushed=False,
        )


class FaultyFile(ConfigFile):
    """The real atomic file store; ``publish`` fails with ENOSPC while ``faults.file_write`` is set."""

    def __init__(self, path: Path, faults: Faults) -> None:
        super().__init__(path)
        self._faults = faults

    def publish(self, release: Release) -> None:
        if self._faults.file_write:
            self._faults.count("fail:write")
            raise OSError(28, "injected: No space left on device")
        super().publish(release)


@dataclass
class Replica:
    status: ConfigStatus
    judge: ReleaseJudge
    applier: FakeApplier
    faults: Faults
    blob: BlobSource

    @property
    def version(self) -> str | None:
        return self.status.as_dict()["version"]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Poll ``predicate`` every 50 ms for at most ``timeout`` seconds (no sleep-then-assert)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            if predicate():
                return True
            await asyncio.sleep(0.05)
        return predicate()


@contextlib.asynccontextmanager
async def running_replica(
    tmp_path: Path,
    blob_connection_string: str,
    container: str,
    *,
    faults: Faults | None = None,
    poll_interval: float = 3.0,
    servicebus_connection_string: str | None = None,
    topic: str = "config-updates",
    subscription: str | None = None,
    retry_seconds: float = 30.0,
) -> AsyncIterator[Replica]:
    """Start judge + Blob (+ Service Bus) sources + watcher as tasks; stop them all on exit."""
    faults = faults or Faults()
    status = ConfigStatus()
    file = FaultyFile(tmp_path / "replica" / "config.yaml", faults)
    options = ValidationOptions(mode="replica", env=ENV, semantic=False)
    applier = FakeApplier(faults)
    watcher = FileWatcher(file, applier, status, options, interval=0.1)  # type: ignore[arg-type]  # duck-typed applier
    judge = ReleaseJudge(file, options, status, on_written=lambda _r: watcher.poke())
    inner = ContainerClient.from_connection_string(blob_connection_string, container, retry_total=0)
    blob = BlobSource(FaultyContainer(inner, faults), interval=poll_interval, max_bytes=1024 * 1024)
    sources: list[Any] = [blob]
    if servicebus_connection_string is not None:
        assert subscription is not None
        sources.append(
            ServiceBusSource(
                lambda: ServiceBusClient.from_connection_string(servicebus_connection_string),
                topic=topic,
                subscription=subscription,
                read_release=blob.read_release,
                recorded_sha256=blob.recorded_sha256,
                max_wait_time=1.0,
                retry_seconds=retry_seconds,
            )
        )
    tasks = [asyncio.create_task(s.run(judge)) for s in sources] + [asyncio.create_task(watcher.run())]
    try:
        yield Replica(status, judge, applier, faults, blob)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for source in sources:
            await source.aclose()
