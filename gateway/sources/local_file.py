"""``serve --config FILE``: the operator's own file is the source; edits are picked up live."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from gateway.release import Release
from gateway.sync import SyncLoop

log = logging.getLogger(__name__)


class LocalFileSource:
    """Polls FILE's mtime and size, and offers its content when the hash changes."""

    def __init__(self, path: Path, sync: SyncLoop, *, interval: float = 1.0) -> None:
        self.path = path
        self._sync = sync
        self._interval = interval
        self._seen: tuple[int, int] | None = None

    async def poll_once(self) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            log.warning("config file %s is missing; keeping the current config", self.path)
            return
        key = (st.st_mtime_ns, st.st_size)
        if key == self._seen:
            return
        self._seen = key
        data = await asyncio.to_thread(self.path.read_bytes)
        release = Release.from_bytes(data, origin=f"local:{self.path}")
        await self._sync.offer(release, ordered=False)

    async def run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except OSError as exc:
                log.warning("cannot read %s: %s", self.path, exc)
            await asyncio.sleep(self._interval)
