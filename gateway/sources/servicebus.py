"""Service Bus: the push channel. One subscription per replica, peek-lock, reconnect forever.

Settlement follows what the sync loop decided, so the broker's redelivery means
"try again" and nothing else:

* written, duplicate, stale, rejected -> complete. A config this replica
  rejects is reported (health, logs), not redelivered forever;
* a transient failure (the release blob could not be read, the disk write
  failed) -> abandon, so the broker redelivers it;
* a message that is not a release notice at all -> dead-letter, with the reason.

The receive loop never blocks serving: it runs as a background task and any
connection failure is retried with capped exponential backoff and jitter.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.backoff import Backoff
from gateway.errors import IntegrityError, describe
from gateway.protocol import ReleaseNotice
from gateway.release import sha256_hex
from gateway.sources.blob import verified_release
from gateway.sync import Outcome, SyncLoop

log = logging.getLogger(__name__)

#: Reads a release blob by name (the Blob source provides it); used when a notice is sent by reference.
ReleaseReader = Callable[[str], Awaitable[bytes]]


class ServiceBusSource:
    def __init__(
        self,
        client_factory: Callable[[], Any],
        sync: SyncLoop,
        *,
        topic: str,
        subscription: str,
        read_release: ReleaseReader,
        max_wait_time: float = 5.0,
    ) -> None:
        self._client_factory = client_factory
        self._sync = sync
        self._topic = topic
        self._subscription = subscription
        self._read_release = read_release
        self._max_wait_time = max_wait_time
        self.origin = f"servicebus:{topic}/{subscription}"

    async def run(self) -> None:
        backoff = Backoff(base=0.5, cap=30.0)
        while True:
            try:
                await self._receive_forever(backoff)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - reconnect forever; serving is never blocked by the bus
                delay = backoff.next_delay()
                log.warning("service bus %s: %s; reconnecting in %.1fs", self.origin, describe(exc), delay)
                await asyncio.sleep(delay)

    async def _receive_forever(self, backoff: Backoff) -> None:
        from azure.servicebus import ServiceBusReceiveMode

        async with self._client_factory() as client:
            receiver = client.get_subscription_receiver(
                topic_name=self._topic,
                subscription_name=self._subscription,
                receive_mode=ServiceBusReceiveMode.PEEK_LOCK,
                prefetch_count=0,
            )
            async with receiver:
                log.info("service bus %s: receiving", self.origin)
                while True:
                    messages = await receiver.receive_messages(max_message_count=10, max_wait_time=self._max_wait_time)
                    backoff.reset()
                    for message in messages:
                        await self._handle(receiver, message)

    async def _handle(self, receiver: Any, message: Any) -> None:
        try:
            notice = ReleaseNotice.from_message(dict(message.application_properties or {}), _body(message))
        except ValueError as exc:
            log.error("service bus %s: dead-lettering a message that is not a release notice: %s", self.origin, exc)
            await receiver.dead_letter_message(message, reason="not a release notice", error_description=str(exc)[:1000])
            return
        try:
            outcome = await self._offer(notice)
        except Exception as exc:  # noqa: BLE001 - anything transient: let the broker redeliver
            log.warning("service bus %s: release %s not applied yet (%s); abandoning for redelivery", self.origin, notice.version, describe(exc))
            await receiver.abandon_message(message)
            return
        await receiver.complete_message(message)
        log.info("service bus %s: release %s %s", self.origin, notice.version, outcome.value)

    async def _offer(self, notice: ReleaseNotice) -> Outcome:
        written = self._sync.written
        if written is not None and written.sha256 == notice.sha256:
            return Outcome.DUPLICATE
        data = notice.body if notice.body is not None else await self._read_release(notice.release_blob)
        try:
            release = verified_release(data, notice.version, notice.sha256, self.origin)
        except IntegrityError as exc:
            self._sync.reject(notice.version, sha256_hex(data), exc)
            return Outcome.REJECTED
        return await self._sync.offer(release)

    async def close(self) -> None:
        return None


def _body(message: Any) -> bytes:
    body = message.body
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    return b"".join(bytes(part) for part in body)


def replica_subscription_name() -> str:
    """A name for a per-replica subscription: the pod's hostname plus a random suffix (max 50 chars)."""
    host = os.environ.get("HOSTNAME") or socket.gethostname()
    return f"gw-{host[:36]}-{uuid.uuid4().hex[:8]}"


async def ensure_replica_subscription(admin_factory: Callable[[], Any], topic: str, name: str, idle_minutes: int = 60) -> None:
    """Create this replica's own subscription, deleted by Service Bus once the replica is gone for a while."""
    import datetime as dt

    from azure.core.exceptions import ResourceExistsError

    async with admin_factory() as admin:
        try:
            await admin.create_subscription(
                topic,
                name,
                auto_delete_on_idle=dt.timedelta(minutes=max(5, idle_minutes)),
                lock_duration=dt.timedelta(seconds=60),
                max_delivery_count=10,
            )
            log.info("created per-replica subscription %s/%s (auto-delete after %d idle minutes)", topic, name, idle_minutes)
        except ResourceExistsError:
            pass
