"""Which remote sources a replica runs, from its settings."""

from __future__ import annotations

import logging
from typing import Any

from gateway.settings import Settings
from gateway.sources import azure_clients
from gateway.sources.blob import BlobSource
from gateway.sources.servicebus import ServiceBusSource, ensure_replica_subscription, replica_subscription_name
from gateway.sync import SyncLoop

log = logging.getLogger(__name__)


def build_remote_sources(settings: Settings, sync: SyncLoop) -> list[Any]:
    """Blob (startup fetch + safety-net poll) always; Service Bus push when configured."""
    assert settings.blob is not None, "blob settings are required for the remote source"
    blob = BlobSource(
        azure_clients.container_client(settings.blob),
        sync,
        config_blob=settings.blob.config_blob,
        interval=settings.refresh_interval,
        max_bytes=settings.max_config_bytes,
    )
    sources: list[Any] = [blob]
    bus = settings.servicebus
    if bus is not None:
        subscription = bus.subscription
        if subscription is None:
            subscription = replica_subscription_name()
            sources.append(_SubscriptionCreator(settings, subscription))
        sources.append(
            ServiceBusSource(
                lambda: azure_clients.servicebus_client(bus),
                sync,
                topic=bus.topic,
                subscription=subscription,
                read_release=blob.read_release,
            )
        )
    else:
        log.info("no SERVICEBUS_* settings: relying on the blob poll every %.0fs", settings.refresh_interval)
    return sources


class _SubscriptionCreator:
    """Creates the per-replica subscription once, before the receiver's first attempt succeeds."""

    def __init__(self, settings: Settings, name: str) -> None:
        self._settings = settings
        self._name = name

    async def run(self) -> None:
        bus = self._settings.servicebus
        assert bus is not None
        try:
            await ensure_replica_subscription(lambda: azure_clients.servicebus_admin_client(bus), bus.topic, self._name)
        except Exception as exc:  # noqa: BLE001 - without management rights the poll still converges
            log.error(
                "cannot create per-replica subscription %s on %s (needs Manage rights, or set SERVICEBUS_SUBSCRIPTION): %s",
                self._name,
                bus.topic,
                exc,
            )
