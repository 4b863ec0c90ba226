"""``serve --config FILE``: the operator's own file is the source; edits are picked up live."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from gateway.judge import Announcement
from gateway.release import sha256_hex
from gateway.sources import ReleaseSink

log = logging.getLogger(__name__)


class LocalFileSource:
    """Polls FILE's mtime and size, and announces its content (unordered, named by hash) when they change."""

    def __init__(self, path: Path, *, interval: float = 1.0) -> None:
        self.path = path
        self.origin = f"local:{path}"
        self._interval = interval
        self._seen: tuple[int, int] | None = None

    async def poll_once(self, sink: ReleaseSink) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            log.warning("config file %s is missing; keeping the current config", self.path)
            return
        key = (st.st_mtime_ns, st.st_size)
        if key == self._seen:
            return
        data = await asyncio.to_thread(self.path.read_bytes)

        async def fetch(*, refetch: bool = False) -> bytes:
            return data

        await sink.offer(Announcement(None, sha256_hex(data), self.origin, fetch, ordered=False))
        self._seen = key

    async def run(self, sink: ReleaseSink) -> None:
        while True:
            try:
                await self.poll_once(sink)
            except OSError as exc:
                log.warning("cannot read or write %s: %s; retrying", self.path, exc)
            await asyncio.sleep(self._interval)

    async def aclose(self) -> None:
        return None
