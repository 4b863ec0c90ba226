"""The config container as the publisher sees it: exact-version downloads and compare-and-swap writes.

Every write here is safe under at-least-once, duplicate and out-of-order event
delivery and under concurrent Function instances:

* ``download`` reads exactly the upload an event names (``If-Match`` on its eTag);
  a 412 means a newer upload replaced it, whose own event will come: ``Superseded``.
* ``write_release`` creates ``releases/<version>.yaml`` once (``If-None-Match: *``);
  an existing blob with the same bytes is success, different bytes is an error.
* ``advance_current`` and ``write_status`` are compare-and-swap on the blob's ETag and
  never replace a pointer or a verdict with an older version; a lost race is re-read
  and retried a bounded number of times with the gateway's backoff (``gateway.retry``).

Synchronous ``azure.storage.blob`` client: the Function handler is synchronous.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import ContainerClient, ContentSettings

from gateway import protocol
from gateway.errors import GatewayError
from gateway.protocol import CurrentPointer, PublishStatus
from gateway.publisher.events import normalize_etag
from gateway.release import is_newer, sha256_hex
from gateway.retry import retrying
from gateway.validation import content_encoding

_LOG = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_CAS_ATTEMPTS = 8
#: current.json and status blobs are a few KiB (a status lists at most every validation error).
JSON_MAX_BYTES = 1024 * 1024
#: Upload metadata copied onto the release blob (set by ``genai-gateway push`` / ``rollback``).
CARRIED_METADATA = ("uploaded_by", "rollback_of")
_JSON = ContentSettings(content_type="application/json")
_YAML = ContentSettings(content_type=protocol.CONTENT_TYPE_YAML)


class Superseded(GatewayError):
    """The upload an event names is no longer the blob's content (412, or the blob is gone)."""


class TooLarge(GatewayError):
    """The upload is bigger than the validator accepts; it is rejected without reading it into memory."""

    def __init__(self, size: int, limit: int) -> None:
        self.size, self.limit = size, limit
        super().__init__(f"file is {size:,} bytes; the limit is {limit:,} bytes")


class ReleaseConflict(GatewayError):
    """``releases/<version>.yaml`` already exists with different bytes: someone else wrote that name."""


class ConcurrentUpdate(GatewayError):
    """A compare-and-swap kept losing races; transient, the event is retried."""


def _if_match(etag: str) -> str:
    return f'"{normalize_etag(etag)}"'


class ReleaseStore:
    """Reads and writes the config container (``protocol`` names) through one ``ContainerClient``."""

    def __init__(
        self,
        container: ContainerClient,
        *,
        config_blob: str = "config.yaml",
        cas_attempts: int = DEFAULT_CAS_ATTEMPTS,
    ) -> None:
        self.container = container
        self.config_blob = config_blob
        self.cas_attempts = cas_attempts

    # -- the operator's upload -------------------------------------------------------------
    def download(self, blob_name: str, etag: str, *, max_bytes: int | None = None) -> bytes:
        """The exact bytes of the upload with this ETag.

        ``Superseded`` if the blob changed or vanished since; ``TooLarge`` (before reading the
        rest of the body) if it is bigger than ``max_bytes``.
        """
        blob = self.container.get_blob_client(blob_name)
        try:
            if max_bytes is not None:
                # The size from the properties first (If-Match: this very upload): ``download_blob``
                # reads its first chunk -- up to 32 MiB -- before its size could be checked.
                size = blob.get_blob_properties(etag=_if_match(etag), match_condition=MatchConditions.IfNotModified).size
                if size > max_bytes:
                    raise TooLarge(size, max_bytes)
            # decompress=False: the SDK would inflate Content-Encoding: gzip in memory after the size
            # check saw the stored size; content_encoding.decode caps the decoded size instead (item 9).
            downloader = blob.download_blob(
                etag=_if_match(etag), match_condition=MatchConditions.IfNotModified, decompress=False
            )
            raw = downloader.readall()
            encoding = downloader.properties.content_settings.content_encoding
            return content_encoding.decode(raw, encoding, limit=max_bytes if max_bytes is not None else 1 << 62)
        except ResourceModifiedError as exc:  # 412: a newer upload replaced this one
            raise Superseded(f"{blob_name} no longer has ETag {normalize_etag(etag)}: a newer upload replaced it (or it was deleted)") from exc
        except ResourceNotFoundError as exc:
            raise Superseded(f"{blob_name} was deleted after the upload with ETag {normalize_etag(etag)}") from exc

    def upload_metadata(self, blob_name: str, etag: str) -> dict[str, str]:
        """The operator metadata (``CARRIED_METADATA``) of exactly this upload; {} if it changed since.

        ``genai-gateway push`` records who uploaded, ``rollback`` which release it restores;
        the release blob carries both, for ``genai-gateway history``.
        """
        try:
            props = self.container.get_blob_client(blob_name).get_blob_properties(
                etag=_if_match(etag), match_condition=MatchConditions.IfNotModified
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return {}
        return {k: str(v) for k, v in (props.metadata or {}).items() if k in CARRIED_METADATA}

    # -- releases/<version>.yaml -----------------------------------------------------------
    def write_release(self, version: str, data: bytes, *, source_etag: str = "", metadata: Mapping[str, str] | None = None) -> str:
        """Create the immutable release blob (idempotent for the same bytes); return its name."""
        name = protocol.release_blob_name(version)
        digest = sha256_hex(data)
        try:
            self.container.upload_blob(
                name,
                data,
                overwrite=False,
                content_settings=_YAML,
                metadata={**(metadata or {}), protocol.SHA256_METADATA: digest, "source_etag": normalize_etag(source_etag)},
            )
        except ResourceExistsError:
            existing = self.read_release(name)
            if sha256_hex(existing) != digest:
                raise ReleaseConflict(
                    f"{name} already exists with different content (sha256 {sha256_hex(existing)[:12]}…, "
                    f"this release {digest[:12]}…)"
                ) from None
            _LOG.debug("%s already written with the same bytes", name)
        return name

    def read_release(self, blob_name: str, *, max_bytes: int = 32 * 1024 * 1024) -> bytes:
        """A release blob, read at most ``max_bytes + 1`` bytes (``TooLarge`` beyond ``max_bytes``)."""
        data = self.container.get_blob_client(blob_name).download_blob(offset=0, length=max_bytes + 1).readall()
        if len(data) > max_bytes:
            raise TooLarge(len(data), max_bytes)
        return data

    # -- releases/current.json -------------------------------------------------------------
    def read_current(self) -> tuple[CurrentPointer | None, str | None]:
        """The pointer and its ETag; ``(None, None)`` when absent, ``(None, etag)`` when unreadable."""
        return self._read_json(protocol.CURRENT_BLOB, CurrentPointer.from_json)

    def advance_current(self, pointer: CurrentPointer) -> bool:
        """Point ``current.json`` at ``pointer`` unless it already names this or a newer version.

        Compare-and-swap on the ETag read (``If-None-Match: *`` when the blob is absent);
        a lost race re-reads and decides again. Returns True if this call moved the pointer.
        """

        def decide(existing: CurrentPointer | None) -> bool:
            return existing is None or is_newer(pointer.version, existing.version)

        return self._cas(protocol.CURRENT_BLOB, CurrentPointer.from_json, decide, pointer.to_json())

    # -- status/<config blob>.json ---------------------------------------------------------
    def read_status(self, config_blob: str | None = None) -> PublishStatus | None:
        status, _ = self._read_json(protocol.status_blob_name(config_blob or self.config_blob), PublishStatus.from_json)
        return status

    def write_status(self, status: PublishStatus, config_blob: str | None = None) -> bool:
        """Record the verdict on an upload unless the status blob already holds a newer upload's verdict.

        Same-version writes replace (a retried run may turn a partial verdict into a final one).
        Returns True if written.
        """

        def decide(existing: PublishStatus | None) -> bool:
            return existing is None or not is_newer(existing.version, status.version)

        name = protocol.status_blob_name(config_blob or self.config_blob)
        return self._cas(name, PublishStatus.from_json, decide, status.to_json())

    # -- helpers ---------------------------------------------------------------------------
    def _read_json(self, name: str, parse: Callable[[bytes], T]) -> tuple[T | None, str | None]:
        """A small JSON blob and its ETag; a ranged read of at most ``JSON_MAX_BYTES + 1`` bytes,
        so an oversized (hand-written) blob is reported as unreadable instead of read whole."""
        try:
            downloader = self.container.get_blob_client(name).download_blob(offset=0, length=JSON_MAX_BYTES + 1)
        except ResourceNotFoundError:
            return None, None
        etag = downloader.properties.etag
        raw = downloader.readall()
        try:
            if len(raw) > JSON_MAX_BYTES:
                raise ValueError(f"larger than {JSON_MAX_BYTES:,} bytes")
            return parse(raw), etag
        except (ValueError, KeyError, TypeError) as exc:
            _LOG.warning("%s is unreadable (%s); it will be replaced", name, exc)
            return None, etag

    def _cas(self, name: str, parse: Callable[[bytes], T], decide: Callable[[T | None], bool], body: bytes) -> bool:
        """Read, decide, write on the ETag read; a lost race re-reads (``gateway.retry`` policy, bounded)."""
        blob = self.container.get_blob_client(name)
        try:
            for attempt in retrying(
                f"compare-and-swap of {name} lost a race",
                _LOG,
                retry_on=_LostRace,
                base=0.05,
                cap=1.0,
                max_attempts=self.cas_attempts,
                level=logging.INFO,
            ):
                with attempt:
                    existing, etag = self._read_json(name, parse)
                    if not decide(existing):
                        return False
                    try:
                        if etag is None:
                            blob.upload_blob(body, overwrite=False, content_settings=_JSON)
                        else:
                            blob.upload_blob(
                                body,
                                overwrite=True,
                                etag=etag,
                                match_condition=MatchConditions.IfNotModified,
                                content_settings=_JSON,
                            )
                    except (ResourceModifiedError, ResourceExistsError) as exc:
                        raise _LostRace(f"{name} changed while updating it") from exc
                    return True
        except _LostRace as exc:
            raise ConcurrentUpdate(f"{name}: lost {self.cas_attempts} compare-and-swap races in a row") from exc
        raise AssertionError("unreachable: the retry loop returns or raises")


class _LostRace(GatewayError):
    """Someone else wrote the blob between our read and our conditional write."""
