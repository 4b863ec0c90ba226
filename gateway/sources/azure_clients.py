"""Azure SDK clients built from settings: managed identity by default, connection strings locally.

The only place credentials are chosen. Clients are created lazily by the
sources' start steps, never at import or settings time.
"""

from __future__ import annotations

from typing import Any

from gateway.settings import BlobSettings, ServiceBusSettings

#: Our own loops retry with backoff and log each failure; the storage SDK's own retry waits 15 s first.
_BLOB_CLIENT_OPTIONS = {"retry_total": 0, "connection_timeout": 5, "read_timeout": 30}


def _credential(client_id: str | None) -> Any:
    """A user-assigned identity when a client id is given, else the default chain (workload identity, MI, CLI)."""
    from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

    if client_id:
        return ManagedIdentityCredential(client_id=client_id)
    return DefaultAzureCredential(exclude_interactive_browser_credential=True)


def container_client(settings: BlobSettings) -> Any:
    from azure.storage.blob.aio import ContainerClient

    if settings.auth_type == "CONNECTION_STRING":
        assert settings.connection_string is not None
        return ContainerClient.from_connection_string(
            settings.connection_string.reveal(), settings.container, **_BLOB_CLIENT_OPTIONS
        )
    assert settings.account_url is not None
    return ContainerClient(
        settings.account_url, settings.container, credential=_credential(settings.mi_client_id), **_BLOB_CLIENT_OPTIONS
    )


def servicebus_client(settings: ServiceBusSettings) -> Any:
    from azure.servicebus.aio import ServiceBusClient

    if settings.auth_type == "CONNECTION_STRING":
        assert settings.connection_string is not None
        return ServiceBusClient.from_connection_string(settings.connection_string.reveal())
    assert settings.fully_qualified_namespace is not None
    return ServiceBusClient(settings.fully_qualified_namespace, credential=_credential(settings.mi_client_id))


def servicebus_admin_client(settings: ServiceBusSettings) -> Any:
    from azure.servicebus.aio.management import ServiceBusAdministrationClient

    if settings.auth_type == "CONNECTION_STRING":
        assert settings.connection_string is not None
        return ServiceBusAdministrationClient.from_connection_string(settings.connection_string.reveal())
    assert settings.fully_qualified_namespace is not None
    return ServiceBusAdministrationClient(settings.fully_qualified_namespace, credential=_credential(settings.mi_client_id))
