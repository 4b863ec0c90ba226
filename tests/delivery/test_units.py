"""In-process unit tests: the Service Bus settlement rules with a fake receiver, the local file source,
and the watcher's retry of a failed apply. No subprocess, no broker, no LiteLLM import."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gateway import protocol
from gateway.configfile import ConfigFile
from gateway.errors import SourceUnavailable
from gateway.judge import Verdict
from gateway.release import Release
from gateway.sources.local_file import LocalFileSource
from gateway.sources.servicebus import ServiceBusSource
from gateway.status import ConfigStatus
from gateway.validation import ValidationOptions
from gateway.watcher import FileWatcher
from tests.delivery.fakes import ENV, INVALID, RecordingSink, config, version
from tests.delivery.replica import FakeApplier, Faults


@dataclass
class FakeMessage:
    application_properties: dict[str, Any]
    body: bytes
    message_id: str = "m-1"


@dataclass
class FakeReceiver:
    settled: list[tuple[str, str]] = field(default_factory=list)

    async def complete_message(self, message: FakeMessage) -> None:
        self.settled.append(("complete", message.message_id))

    async def abandon_message(self, message: FakeMessage) -> None:
        self.settled.append(("abandon", message.message_id))

    async def dead_letter_message(self, message: FakeMessage, reason: str, error_description: str) -> None:
        self.settled.append(("dead-letter", reason))



def notice(n: int, data: bytes, *, inline: bool = True, **overrides: Any) -> FakeMessage:
    v = version(n)
    props = {
        protocol.PROP_VERSION: v,
        protocol.PROP_SHA256: hashlib.sha256(data).hexdigest(),
        protocol.PROP_RELEASE_BLOB: protocol.release_blob_name(v),
        protocol.PROP_SOURCE_ETAG: "0x1",
        protocol.PROP_INLINE: inline,
        **overrides,
    }
    return FakeMessage(props, data if inline else b"")


class UnlockedSource(ServiceBusSource):
    """The real settlement logic; the fake receiver's lock never expires, so nothing renews it
    (the real AutoLockRenewer runs against the emulator in test_fault_matrix.py)."""

    @contextlib.asynccontextmanager
    async def _locked(self, receiver: Any, message: Any) -> AsyncIterator[None]:
        yield


def source(*, read: Any = None, recorded: Any = None, retry_seconds: float = 0.5) -> ServiceBusSource:
    async def read_release(name: str) -> bytes:
        assert read is not None, f"unexpected download of {name}"
        return await read(name)

    async def recorded_sha256(name: str) -> str | None:
        return await recorded(name) if recorded is not None else None

    return UnlockedSource(
        lambda: None, topic="t", subscription="s", read_release=read_release, recorded_sha256=recorded_sha256, retry_seconds=retry_seconds
    )


@pytest.mark.parametrize("verdict", [Verdict.WRITTEN, Verdict.RELABELLED, Verdict.DUPLICATE, Verdict.STALE, Verdict.REJECTED])
async def test_every_final_verdict_but_corrupt_completes_the_message(verdict: Verdict) -> None:
    data = config("x")
    receiver, sink = FakeReceiver(), RecordingSink([verdict])

    async def recorded(name: str) -> str:
        return hashlib.sha256(data).hexdigest()

    await source(recorded=recorded)._handle(receiver, notice(1, data), sink)
    assert receiver.settled == [("complete", "m-1")]


async def test_corrupt_is_dead_lettered_with_the_reason() -> None:
    receiver, sink = FakeReceiver(), RecordingSink([Verdict.CORRUPT])
    await source(recorded=lambda name: _async(None), read=lambda name: _async(config("x")))._handle(receiver, notice(1, config("x")), sink)
    assert receiver.settled == [("dead-letter", "release not backed")]


@pytest.mark.parametrize(
    "overrides",
    [{protocol.PROP_VERSION: "9" * 80}, {protocol.PROP_RELEASE_BLOB: "releases/other.yaml"}, {protocol.PROP_SHA256: "nope"}],
    ids=["version-form", "blob-name", "sha-form"],
)
async def test_malformed_notices_are_dead_lettered_before_any_offer(overrides: dict[str, str]) -> None:
    receiver, sink = FakeReceiver(), RecordingSink()
    await source()._handle(receiver, notice(1, config("x"), **overrides), sink)
    assert receiver.settled == [("dead-letter", "not a release notice")] and sink.offers == []


async def test_transient_failures_are_retried_in_process_before_the_broker_sees_them() -> None:
    receiver = FakeReceiver()
    sink = RecordingSink([SourceUnavailable("503"), SourceUnavailable("503"), Verdict.WRITTEN])
    await source(recorded=lambda name: _async(hashlib.sha256(config("x")).hexdigest()), retry_seconds=30)._handle(
        receiver, notice(1, config("x")), sink
    )
    assert len(sink.offers) == 3 and receiver.settled == [("complete", "m-1")]


async def test_a_failure_outlasting_the_budget_is_abandoned_not_dead_lettered() -> None:
    receiver = FakeReceiver()
    sink = RecordingSink([SourceUnavailable("503")] * 50)
    await source(retry_seconds=0.3)._handle(receiver, notice(1, config("x")), sink)
    assert receiver.settled == [("abandon", "m-1")] and len(sink.offers) >= 1


async def test_local_file_source_announces_new_content_unordered(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(config("one"))
    src, sink = LocalFileSource(path), RecordingSink()
    await src.poll_once(sink)
    await src.poll_once(sink)  # unchanged: nothing announced
    assert [(a.version, a.ordered) for a in sink.offers] == [(None, False)]
    assert sink.fetched == [config("one")]


async def test_local_file_source_retries_a_failed_offer(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(config("one"))
    src, sink = LocalFileSource(path), RecordingSink([OSError(28, "disk full")])
    with pytest.raises(OSError):
        await src.poll_once(sink)
    await src.poll_once(sink)
    assert len(sink.offers) == 2, "the file is announced again after a failed offer"


async def test_watcher_retries_a_failed_apply_but_not_a_rejected_file(tmp_path: Path) -> None:
    faults = Faults(apply=True)
    file, status, applier = ConfigFile(tmp_path / "c.yaml"), ConfigStatus(), FakeApplier(faults)
    watcher = FileWatcher(file, applier, status, ValidationOptions(mode="replica", env=ENV, semantic=False))  # type: ignore[arg-type]
    file.publish(Release(version(1), config("one"), hashlib.sha256(config("one")).hexdigest(), "test"))
    assert await watcher.check() is None and status.last_rejected is not None and status.last_rejected.stage == "apply"
    faults.apply = False
    for _ in range(200):  # the retry is due within the first backoff step (<= 0.5 s); bounded at 10 s
        if await watcher.check() is not None:
            break
        await asyncio.sleep(0.05)
    assert status.applied is not None and status.applied.version == version(1)

    file.publish(Release(version(2), INVALID, hashlib.sha256(INVALID).hexdigest(), "test"))
    await watcher.check()
    assert status.last_rejected is not None and status.last_rejected.stage == "validate"
    await asyncio.sleep(0.6)
    assert await watcher.check() is None and applier.applied == [version(1)], "a rejected file is not retried"


async def _async(value: Any) -> Any:
    return value
