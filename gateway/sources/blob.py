"""Blob Storage: the startup fetch and the low-frequency safety-net poll.

Reads ``releases/current.json`` conditionally on its ETag (a 304 costs almost
nothing), and fetches the release it points to when that is newer than what
this pod has written. Until a publisher has written any release, it reads the
operator's raw ``config.yaml`` instead (the seed's mode: the gateway works with
no Function deployed). Startup is the same fetch, retried with capped
exponential backoff and jitter until a valid config is written; each failure
is logged with its reason.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from gateway import protocol
from gateway.backoff import Backoff
from gateway.errors import IntegrityError, SourceError, describe
from gateway.release import Release, is_newer, sha256_hex
from gateway.sync import Outcome, SyncLoop

log = logging.getLogger(__name__)


class BlobSource:
    def __init__(
        self,
        container: Any,
        sync: SyncLoop,
        *,
        config_blob: str = "config.yaml",
        interval: float = 60.0,
        max_bytes: int = 1024 * 1024,
    ) -> None:
        self._container = container
        self._sync = sync
        self._config_blob = config_blob
        self._interval = interval
        self._max_bytes = max_bytes
        self._etags: dict[str, str] = {}
        self.origin = f"blob:{getattr(container, 'container_name', '?')}"

    async def run(self) -> None:
        await self.startup()
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.poll_once()
            except Exception as exc:  # noqa: BLE001 - the safety net must keep polling
                log.warning("blob poll failed (will retry in %.0fs): %s", self._interval, describe(exc))

    async def startup(self) -> None:
        """Block until a valid config is written, retrying with capped exponential backoff and jitter."""
        backoff = Backoff(base=0.5, cap=min(30.0, self._interval))
        while not self._sync.first_written.is_set():
            try:
                outcome = await self.poll_once()
                if self._sync.first_written.is_set():
                    return
                reason = f"no usable config yet ({outcome.value if outcome else 'nothing found'})"
            except Exception as exc:  # noqa: BLE001 - every failure is logged and retried
                reason = describe(exc)
            delay = backoff.next_delay()
            log.error("startup: cannot get a valid config from %s: %s; retrying in %.1fs", self.origin, reason, delay)
            await asyncio.sleep(delay)

    async def poll_once(self) -> Outcome | None:
        """One conditional read; returns what the sync loop did, or None when nothing changed."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            pointer_bytes = await self._read_if_changed(protocol.CURRENT_BLOB)
        except ResourceNotFoundError:
            return await self._poll_raw()
        if pointer_bytes is None:
            return None
        pointer = protocol.CurrentPointer.from_json(pointer_bytes)
        written = self._sync.written
        if written is not None and written.sha256 == pointer.sha256:
            return Outcome.DUPLICATE
        if written is not None and self._sync.written_ordered and not is_newer(pointer.version, written.version):
            return Outcome.STALE
        data = await self.read_release(pointer.blob)
        try:
            release = verified_release(data, pointer.version, pointer.sha256, f"{self.origin}/{pointer.blob}")
        except IntegrityError as exc:
            self._sync.reject(pointer.version, sha256_hex(data), exc)
            self._etags.pop(protocol.CURRENT_BLOB, None)
            return Outcome.REJECTED
        return await self._sync.offer(release)

    async def _poll_raw(self) -> Outcome | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            data = await self._read_if_changed(self._config_blob)
        except ResourceNotFoundError as exc:
            raise SourceError(f"neither {protocol.CURRENT_BLOB} nor {self._config_blob} exists in {self.origin}") from exc
        if data is None:
            return None
        release = Release.from_bytes(data, origin=f"{self.origin}/{self._config_blob}")
        return await self._sync.offer(release, ordered=False)

    async def read_release(self, blob_name: str) -> bytes:
        """Download an immutable release blob (used by the Service Bus source for large releases too)."""
        downloader = await self._container.get_blob_client(blob_name).download_blob()
        if downloader.size > self._max_bytes:
            raise SourceError(f"{blob_name} is {downloader.size:,} bytes; the limit is {self._max_bytes:,}")
        return await downloader.readall()

    async def _read_if_changed(self, blob_name: str) -> bytes | None:
        """Download ``blob_name`` unless its ETag is the one seen last time (HTTP 304)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotModifiedError

        blob = self._container.get_blob_client(blob_name)
        etag = self._etags.get(blob_name)
        try:
            if etag:
                downloader = await blob.download_blob(etag=etag, match_condition=MatchConditions.IfModified)
            else:
                downloader = await blob.download_blob()
        except (ResourceNotModifiedError, ResourceModifiedError):
            return None
        except Exception as exc:
            if getattr(exc, "status_code", None) == 304:
                return None
            raise
        if downloader.size > self._max_bytes:
            # Still hand it on: validation rejects it with the size in the message.
            log.warning("%s is %s bytes (limit %s)", blob_name, downloader.size, self._max_bytes)
        data = await downloader.readall()
        self._etags[blob_name] = downloader.properties.etag
        return data

    async def close(self) -> None:
        await self._container.close()


def verified_release(data: bytes, version: str, sha256: str, origin: str) -> Release:
    """A release whose bytes match the sha256 the publisher announced, or ``IntegrityError``."""
    actual = sha256_hex(data)
    if actual != sha256:
        raise IntegrityError(version, sha256, actual)
    return Release(version=version, data=data, sha256=actual, origin=origin)
