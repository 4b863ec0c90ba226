"""Which sources a replica runs, from its settings."""

from __future__ import annotations

import logging

from gateway.cloud import clients
from gateway.cloud.credentials import Endpoint
from gateway.settings import BlobSettings, ServiceBusSettings, Settings
from gateway.sources import ReleaseSource
from gateway.sources.blob import BlobSource
from gateway.sources.local_file import LocalFileSource
from gateway.sources.servicebus import ServiceBusSource, ensure_replica_subscription, replica_subscription_name

log = logging.getLogger(__name__)


def blob_endpoint(blob: BlobSettings) -> Endpoint:
    return Endpoint(blob.auth_type, blob.account_url, blob.connection_string, blob.mi_client_id)


def servicebus_endpoint(bus: ServiceBusSettings) -> Endpoint:
    return Endpoint(bus.auth_type, bus.fully_qualified_namespace, bus.connection_string, bus.mi_client_id)


def build_sources(settings: Settings) -> list[ReleaseSource]:
    """A local file (``serve --config``); else Blob (startup fetch + safety-net poll) and Service Bus when configured."""
    if settings.source == "file" and settings.local_config is not None:
        return [LocalFileSource(settings.local_config, interval=settings.file_poll_interval)]
    assert settings.blob is not None, "blob settings are required for the remote source"
    blob = BlobSource(
        clients.container_client(blob_endpoint(settings.blob), settings.blob.container),
        config_blob=settings.blob.config_blob,
        interval=settings.refresh_interval,
        max_bytes=settings.max_config_bytes,
    )
    sources: list[ReleaseSource] = [blob]
    bus = settings.servicebus
    if bus is None:
        log.info("no SERVICEBUS_* settings: relying on the blob poll every %.0fs", settings.refresh_interval)
        return sources
    endpoint = servicebus_endpoint(bus)
    subscription = bus.subscription or replica_subscription_name()

    async def create_subscription() -> None:
        await ensure_replica_subscription(lambda: clients.servicebus_admin_client(endpoint), bus.topic, subscription)

    sources.append(
        ServiceBusSource(
            lambda: clients.servicebus_client(endpoint),
            topic=bus.topic,
            subscription=subscription,
            read_release=blob.read_release,
            recorded_sha256=blob.recorded_sha256,
            create_subscription=None if bus.subscription else create_subscription,
        )
    )
    return sources
