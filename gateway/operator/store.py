"""What the operator commands read and write in the config container (synchronous client).

Reads: ``releases/current.json``, the publisher's verdict ``status/<config>.json``,
the release blobs with their metadata, and the replica reports under
``status/replicas/``. Writes: only ``config.yaml``, conditionally on the ETag the
caller read (``If-Match``, or ``If-None-Match: *`` when there was none), so a push
never overwrites someone else's upload unknowingly. Azure errors leave translated
(``SourceError``); a lost condition is ``ConcurrentPush``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway import protocol
from gateway.cloud import clients
from gateway.cloud.errors import translated
from gateway.errors import GatewayError
from gateway.operator.target import Pipeline
from gateway.protocol import CurrentPointer, PublishStatus
from gateway.release import version_key
from gateway.reporting.report import REPORTS_PREFIX, ReplicaReport

log = logging.getLogger(__name__)

#: Blob metadata a push sets on config.yaml; the publisher copies it onto the release blob.
META_UPLOADED_BY = "uploaded_by"
META_ROLLBACK_OF = "rollback_of"


class ConcurrentPush(GatewayError):
    """config.yaml changed between our read and our upload (someone else pushed)."""


@dataclass(frozen=True)
class Upload:
    """``config.yaml`` as stored: its ETag and metadata (None when the blob does not exist)."""

    etag: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    last_modified: datetime | None = None


@dataclass(frozen=True)
class ReleaseEntry:
    """One accepted release (``releases/<version>.yaml``) and what its blob metadata says."""

    version: str
    created_at: datetime | None
    sha256: str
    source_etag: str
    uploaded_by: str
    rollback_of: str


def normalize_etag(etag: str | None) -> str:
    return (etag or "").strip().strip('"')


class PipelineStore:
    def __init__(self, pipeline: Pipeline, container: Any | None = None) -> None:
        self.pipeline = pipeline
        self.container = container or clients.container_client(pipeline.endpoint, pipeline.container, aio=False)

    def close(self) -> None:
        self.container.close()

    # -- reads -----------------------------------------------------------------------
    def _read(self, name: str) -> bytes | None:
        from azure.core.exceptions import ResourceNotFoundError

        with translated(f"reading {name} from container {self.pipeline.container} ({self.pipeline.found_in})"):
            try:
                return bytes(self.container.get_blob_client(name).download_blob().readall())
            except ResourceNotFoundError:
                return None

    def current(self) -> CurrentPointer | None:
        data = self._read(protocol.CURRENT_BLOB)
        return CurrentPointer.from_json(data) if data else None

    def verdict(self) -> PublishStatus | None:
        data = self._read(protocol.status_blob_name(self.pipeline.config_blob))
        return PublishStatus.from_json(data) if data else None

    def release(self, version: str) -> bytes | None:
        return self._read(protocol.release_blob_name(version))

    def upload_state(self) -> Upload:
        from azure.core.exceptions import ResourceNotFoundError

        name = self.pipeline.config_blob
        with translated(f"reading the properties of {name}"):
            try:
                props = self.container.get_blob_client(name).get_blob_properties()
            except ResourceNotFoundError:
                return Upload(None)
        return Upload(normalize_etag(props.etag), dict(props.metadata or {}), props.last_modified)

    def releases(self) -> list[ReleaseEntry]:
        """Every accepted release, oldest first."""
        entries = []
        with translated(f"listing {protocol.RELEASES_PREFIX} in {self.pipeline.container}"):
            for blob in self.container.list_blobs(name_starts_with=protocol.RELEASES_PREFIX, include=["metadata"]):
                name = str(blob.name)
                if not name.endswith(".yaml"):
                    continue
                meta = dict(blob.metadata or {})
                entries.append(
                    ReleaseEntry(
                        version=name[len(protocol.RELEASES_PREFIX) : -len(".yaml")],
                        created_at=blob.creation_time,
                        sha256=meta.get("sha256", ""),
                        source_etag=meta.get("source_etag", ""),
                        uploaded_by=meta.get(META_UPLOADED_BY, ""),
                        rollback_of=meta.get(META_ROLLBACK_OF, ""),
                    )
                )
        return sorted(entries, key=lambda e: version_key(e.version))

    def reports(self) -> tuple[list[ReplicaReport], list[str]]:
        """Every replica report, and the names of blobs in the prefix that are not reports."""
        reports, unreadable = [], []
        with translated(f"listing {REPORTS_PREFIX} in {self.pipeline.container}"):
            names = [str(b.name) for b in self.container.list_blobs(name_starts_with=REPORTS_PREFIX)]
        for name in names:
            data = self._read(name)
            if data is None:  # deleted between list and read
                continue
            try:
                reports.append(ReplicaReport.from_json(data))
            except ValueError:
                unreadable.append(name)
        return sorted(reports, key=lambda r: r.replica_id), unreadable

    # -- the one write ---------------------------------------------------------------
    def upload_config(self, data: bytes, *, expected_etag: str | None, metadata: dict[str, str]) -> str:
        """Upload ``config.yaml`` if it still has ``expected_etag`` (None: if it still does not exist); the new ETag."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError

        name = self.pipeline.config_blob
        conditions: dict[str, Any] = (
            {"etag": f'"{expected_etag}"', "match_condition": MatchConditions.IfNotModified}
            if expected_etag
            else {"overwrite": False}
        )
        if expected_etag:
            conditions["overwrite"] = True
        try:
            with translated(f"uploading {name} to container {self.pipeline.container}"):
                result = self.container.get_blob_client(name).upload_blob(data, metadata=metadata, **conditions)
        except (ResourceModifiedError, ResourceExistsError) as exc:
            raise ConcurrentPush(
                f"{name} changed since it was read (ETag {expected_etag or 'none'}): someone else pushed; "
                "run the command again to see the new state"
            ) from exc
        return normalize_etag(result.get("etag"))
