"""Azurite and Service Bus emulator fixtures, shared by the pipeline tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from devstack.azurite import Azurite


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """One Azurite for the test session; tests isolate themselves by container."""
    server = Azurite(tmp_path_factory.mktemp("azurite")).start()
    try:
        yield server
    finally:
        server.stop()


def fresh_container(azurite: Azurite, name: str) -> ContainerClient:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.get_container_client(name)
    if container.exists():
        container.delete_container()
    container.create_container()
    return container


def blob_env(azurite: Azurite, container: str, storage: Path, *, interval: float = 2.0) -> dict[str, str]:
    return {
        "GATEWAY_CONFIG_SOURCE": "blob",
        "BLOB_AUTH_TYPE": "CONNECTION_STRING",
        "BLOB_CONNECTION_STRING": azurite.connection_string,
        "BLOB_DOC_CONTAINER": container,
        "LITELLM_YAML_REFRESH_INTERVAL": str(interval),
        "LITELLM_YAML_STORAGE_PATH": str(storage),
    }
