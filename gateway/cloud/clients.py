"""Blob Storage and Service Bus clients for an ``Endpoint``; created lazily, never at import time."""

from __future__ import annotations

from typing import Any

from gateway.cloud.credentials import Endpoint, credential

#: Our own retry loops (gateway.retry) log each failure and back off; the storage SDK's own
#: retry would wait up to 15 s first, hiding a failing store behind a slow one.
BLOB_CLIENT_OPTIONS: dict[str, Any] = {"retry_total": 0, "connection_timeout": 5, "read_timeout": 30}


def _secret(endpoint: Endpoint) -> str:
    assert endpoint.connection_string is not None, "CONNECTION_STRING auth without a connection string"
    return endpoint.connection_string.reveal()


def _address(endpoint: Endpoint) -> str:
    assert endpoint.address is not None, "MI auth without an account URL / namespace"
    return endpoint.address


def container_client(endpoint: Endpoint, container: str, *, aio: bool = True) -> Any:
    """A ``ContainerClient`` (``azure.storage.blob.aio`` when ``aio``, else the sync one)."""
    if aio:
        from azure.storage.blob.aio import ContainerClient
    else:
        from azure.storage.blob import ContainerClient  # type: ignore[assignment]  # same API, sync flavour

    if endpoint.auth_type == "CONNECTION_STRING":
        return ContainerClient.from_connection_string(_secret(endpoint), container, **BLOB_CLIENT_OPTIONS)
    cred = credential(endpoint.client_id, aio=aio)
    return ContainerClient(_address(endpoint), container, credential=cred, **BLOB_CLIENT_OPTIONS)


def servicebus_client(endpoint: Endpoint, *, aio: bool = True) -> Any:
    """A ``ServiceBusClient`` for the namespace (async for receivers, sync for the publisher's sender)."""
    if aio:
        from azure.servicebus.aio import ServiceBusClient
    else:
        from azure.servicebus import ServiceBusClient  # type: ignore[assignment]  # same API, sync flavour

    if endpoint.auth_type == "CONNECTION_STRING":
        return ServiceBusClient.from_connection_string(_secret(endpoint))
    return ServiceBusClient(_address(endpoint), credential=credential(endpoint.client_id, aio=aio))


def servicebus_admin_client(endpoint: Endpoint) -> Any:
    """An async ``ServiceBusAdministrationClient`` (creates per-replica subscriptions)."""
    from azure.servicebus.aio.management import ServiceBusAdministrationClient

    if endpoint.auth_type == "CONNECTION_STRING":
        return ServiceBusAdministrationClient.from_connection_string(_secret(endpoint))
    return ServiceBusAdministrationClient(_address(endpoint), credential=credential(endpoint.client_id, aio=True))
