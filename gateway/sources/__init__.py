"""Release sources: where configs come from. Only these modules (through ``gateway.cloud``) touch Azure.

Every source implements ``ReleaseSource``: ``run(sink)`` announces what it sees
to the judge (``gateway.judge.ReleaseJudge``) until cancelled, and ``aclose()``
releases its clients, like httpx's transport interface. No source validates,
writes or applies, and none decides whether a release is new: the judge does.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from gateway.judge import Announcement, Verdict


class ReleaseSink(Protocol):
    """What a source may ask of the judge: a read-only peek, an offer, and whether a config is written yet."""

    first_written: asyncio.Event

    def wants(self, version: str | None, sha256: str | None, *, ordered: bool = True) -> bool: ...

    async def offer(self, announcement: Announcement) -> Verdict: ...

    def last_rejection(self, version: str | None, sha256: str | None) -> str | None: ...


class ReleaseSource(Protocol):
    """A task that announces releases to a sink until cancelled; ``aclose`` is idempotent."""

    origin: str

    async def run(self, sink: ReleaseSink) -> None: ...

    async def aclose(self) -> None: ...
