"""Blob Storage: the startup fetch and the low-frequency safety-net poll.

Reads ``releases/current.json`` conditionally on the ETag of the last pointer
whose release the judge gave a final verdict on (a 304 costs almost nothing),
and announces the release it names. The ETag is remembered only after that
verdict: a failure anywhere between the pointer and the written file (pointer
read, release read, integrity re-fetch, disk write) leaves the next poll
retrying the same pointer. Until a publisher has written any release, it reads
the operator's raw ``config.yaml`` instead (the seed's mode: the gateway works
with no Function deployed). Startup is the same poll, retried with the
gateway's backoff (``gateway.retry``) until a config is written.

Every download is capped before its body is read: a ranged GET of at most
``max_bytes + 1`` bytes, so an oversized blob costs at most that much memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from gateway import protocol
from gateway.cloud.errors import CONDITIONAL, translated
from gateway.errors import ConfigIssue, ConfigRejected, SourceError, SourceNotFound, SourceUnavailable, describe
from gateway.judge import Announcement, Verdict
from gateway.release import sha256_hex
from gateway.retry import retrying_async
from gateway.sources import ReleaseSink
from gateway.validation import content_encoding
from gateway.validation.loader import LoadError

log = logging.getLogger(__name__)

#: ``releases/current.json`` is a few hundred bytes; anything much larger is not a pointer.
POINTER_MAX_BYTES = 64 * 1024


class NoConfigYet(SourceError):
    """Startup: the store answered, but nothing this replica can serve has been written yet."""


class BlobSource:
    """Announces the publisher's current release (or the raw config blob) to the judge."""

    def __init__(
        self,
        container: Any,
        *,
        config_blob: str = "config.yaml",
        interval: float = 60.0,
        max_bytes: int = 1024 * 1024,
    ) -> None:
        self._container = container
        self._config_blob = config_blob
        self._interval = interval
        self._max_bytes = max_bytes
        #: blob name -> ETag of the version whose content got a final verdict from the judge.
        self._judged: dict[str, str] = {}
        self.origin = f"blob:{getattr(container, 'container_name', '?')}"

    async def run(self, sink: ReleaseSink) -> None:
        await self.startup(sink)
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.poll_once(sink)
            except Exception as exc:  # noqa: BLE001 - any step may fail (store, disk); the safety net keeps polling
                log.warning("blob poll failed (next try in %.0fs): %s", self._interval, describe(exc))

    async def startup(self, sink: ReleaseSink) -> None:
        """Return once a config is written (by this poll or another source), retrying with backoff."""
        async for attempt in retrying_async(
            f"startup: cannot get a valid config from {self.origin}",
            log,
            retry_on=Exception,  # the store, the pointer, the disk: every step is retried
            cap=min(30.0, self._interval),
            level=logging.ERROR,
        ):
            with attempt:
                if sink.first_written.is_set():
                    return
                verdict = await self.poll_once(sink)
                if not sink.first_written.is_set():
                    raise NoConfigYet(f"no usable config yet ({verdict.value if verdict else 'unchanged'})")

    async def poll_once(self, sink: ReleaseSink) -> Verdict | None:
        """One conditional read; the judge's verdict, or None when nothing changed since the last verdict."""
        try:
            read = await self._read_if_changed(protocol.CURRENT_BLOB, POINTER_MAX_BYTES)
        except SourceNotFound:
            return await self._poll_raw(sink)
        if read is None:
            return None
        pointer_bytes, etag = read
        try:
            pointer = protocol.CurrentPointer.from_json(pointer_bytes)
        except (ValueError, KeyError, TypeError) as exc:
            raise SourceUnavailable(f"{protocol.CURRENT_BLOB} is unreadable: {describe(exc)}") from exc

        async def fetch(*, refetch: bool = False) -> bytes:
            return await self.read_release(pointer.blob)

        verdict = await sink.offer(Announcement(pointer.version, pointer.sha256, f"{self.origin}/{pointer.blob}", fetch))
        self._judged[protocol.CURRENT_BLOB] = etag
        return verdict

    async def _poll_raw(self, sink: ReleaseSink) -> Verdict | None:
        try:
            read = await self._read_if_changed(self._config_blob, self._max_bytes)
        except SourceNotFound as exc:
            raise SourceNotFound(f"neither {protocol.CURRENT_BLOB} nor {self._config_blob} exists in {self.origin}") from exc
        if read is None:
            return None
        data, etag = read

        async def fetch(*, refetch: bool = False) -> bytes:
            return data

        origin = f"{self.origin}/{self._config_blob}"
        verdict = await sink.offer(Announcement(None, sha256_hex(data), origin, fetch, ordered=False))
        self._judged[self._config_blob] = etag
        return verdict

    async def read_release(self, blob_name: str) -> bytes:
        """Download an immutable release blob, at most ``max_bytes`` (larger: ``ConfigRejected``).

        Used by the Service Bus source too, for notices sent by reference.
        """
        data, _etag = await self._download(blob_name, self._max_bytes)
        if len(data) > self._max_bytes:
            raise ConfigRejected(
                None, [ConfigIssue("", f"{blob_name} is larger than the {self._max_bytes:,}-byte limit (GATEWAY_CONFIG_MAX_BYTES)")]
            )
        return data

    async def recorded_sha256(self, blob_name: str) -> str | None:
        """The sha256 the publisher recorded on a release blob (its metadata; one HEAD request).

        Raises ``SourceNotFound`` when the blob does not exist, ``SourceUnavailable`` on transient failures.
        """
        with translated(f"reading the properties of {blob_name} in {self.origin}"):
            properties = await self._container.get_blob_client(blob_name).get_blob_properties()
        metadata = properties.metadata or {}
        return metadata.get(protocol.SHA256_METADATA)

    async def _read_if_changed(self, blob_name: str, max_bytes: int) -> tuple[bytes, str] | None:
        """Download ``blob_name`` unless its ETag is the one last judged (HTTP 304 -> None)."""
        from azure.core import MatchConditions

        etag = self._judged.get(blob_name)
        conditions: dict[str, Any] = {"etag": etag, "match_condition": MatchConditions.IfModified} if etag else {}
        try:
            data, new_etag = await self._download(blob_name, max_bytes, **conditions)
        except CONDITIONAL:
            return None
        if len(data) > max_bytes:
            # Still announced (the raw config): validation rejects it with the size in the message.
            log.warning("%s is over %s bytes; only the first %s were read", blob_name, max_bytes, max_bytes + 1)
        return data, new_etag

    async def _download(self, blob_name: str, max_bytes: int, **conditions: Any) -> tuple[bytes, str]:
        """A ranged read of at most ``max_bytes + 1`` bytes and the blob's ETag; errors translated."""
        with translated(f"reading {blob_name} from {self.origin}"):
            blob = self._container.get_blob_client(blob_name)
            try:
                # decompress=False + content_encoding.decode: a gzip upload is capped as it is decoded (item 9).
                downloader = await blob.download_blob(offset=0, length=max_bytes + 1, decompress=False, **conditions)
            except Exception as exc:
                # Some storage front-ends answer a conditional GET with a bare 304 HttpResponseError.
                if getattr(exc, "status_code", None) == 304:
                    from azure.core.exceptions import ResourceNotModifiedError

                    raise ResourceNotModifiedError("not modified") from exc
                raise
            data = await downloader.readall()
            encoding = downloader.properties.content_settings.content_encoding
            if encoding and len(data) <= max_bytes:
                with contextlib.suppress(LoadError):  # unsupported/corrupt: the validator judges the stored bytes
                    data = content_encoding.decode(data, encoding, limit=max_bytes, strict=False)
            return data, str(downloader.properties.etag)

    async def aclose(self) -> None:
        with translated(f"closing {self.origin}"):
            await self._container.close()
