"""Reports to Blob Storage: ``status/replicas/<replica-id>.json`` in the config container.

The gateway identity may write only under ``status/replicas/`` (an ABAC condition on
its role assignment, infra/modules/storage.bicep); every other blob it only reads.
Errors leave translated (``gateway.cloud.errors``), for the reporter to log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway import protocol
from gateway.cloud.errors import translated


class BlobReportWriter:
    """Writes reports through one async ``ContainerClient``; reads release creation times."""

    def __init__(self, container: Any) -> None:
        self._container = container

    async def write(self, name: str, data: bytes) -> None:
        from azure.storage.blob import ContentSettings

        with translated(f"writing {name}"):
            await self._container.upload_blob(
                name, data, overwrite=True, content_settings=ContentSettings(content_type="application/json")
            )

    async def release_created(self, version: str) -> datetime | None:
        name = protocol.release_blob_name(version)
        with translated(f"reading the properties of {name}"):
            props = await self._container.get_blob_client(name).get_blob_properties()
        created = getattr(props, "creation_time", None)
        return created if isinstance(created, datetime) else None

    async def aclose(self) -> None:
        await self._container.close()
