"""In-process stand-ins for the delivery tests: announcements with scripted fetches, a recording sink."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

import yaml

from gateway.judge import Announcement, Verdict
from gateway.release import sha256_hex

MASTER_KEY = "sk-delivery-tests-0123456789abcdef"
#: The environment replica-mode validation resolves references against.
ENV = {"DELIVERY_TEST_MASTER_KEY": MASTER_KEY}


def config(reply: str) -> bytes:
    """A valid one-deployment config whose mock reply names it."""
    return yaml.safe_dump(
        {
            "model_list": [{"model_name": "gpt-4", "litellm_params": {"model": "openai/gpt-4", "mock_response": reply}}],
            "general_settings": {"master_key": "os.environ/DELIVERY_TEST_MASTER_KEY"},
        }
    ).encode()


INVALID = b"model_list:\n  - model_name: gpt-4\n    litellm_params: {}\n"


def version(n: int) -> str:
    """A publisher version (Event Grid sequencer shape: 32 hex digits)."""
    return f"{n:032x}"


@dataclass
class ScriptedFetch:
    """Returns ``data``; fails with each of ``failures`` first (one per call), then succeeds."""

    data: bytes
    failures: list[BaseException] = field(default_factory=list)
    corrupt_first: int = 0
    calls: int = 0

    async def __call__(self, *, refetch: bool = False) -> bytes:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        if self.corrupt_first:
            self.corrupt_first -= 1
            return self.data + b"\n# flipped in transit\n"
        return self.data


def announce(n: int | None, data: bytes, *, fetch: ScriptedFetch | None = None, sha: str | None = "auto") -> tuple[Announcement, ScriptedFetch]:
    fetch = fetch or ScriptedFetch(data)
    digest = sha256_hex(data) if sha == "auto" else sha
    if n is None:
        return Announcement(None, digest, "test:local", fetch, ordered=False), fetch
    return Announcement(version(n), digest, "test:publisher", fetch), fetch


class RecordingSink:
    """A ``ReleaseSink`` that records announcements and answers scripted verdicts (default WRITTEN)."""

    def __init__(self, verdicts: Iterable[Verdict | BaseException] = ()) -> None:
        self.first_written = asyncio.Event()
        self.offers: list[Announcement] = []
        self.fetched: list[bytes] = []
        self._verdicts = list(verdicts)

    def wants(self, version: str | None, sha256: str | None, *, ordered: bool = True) -> bool:
        return True

    def last_rejection(self, version: str | None, sha256: str | None) -> str | None:
        return None

    async def offer(self, announcement: Announcement) -> Verdict:
        self.offers.append(announcement)
        outcome = self._verdicts.pop(0) if self._verdicts else Verdict.WRITTEN
        if isinstance(outcome, BaseException):
            raise outcome
        self.fetched.append(await announcement.fetch())
        if outcome is Verdict.WRITTEN:
            self.first_written.set()
        return outcome
