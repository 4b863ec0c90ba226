"""Service Bus: the push channel. One subscription per replica, peek-lock, reconnect forever.

Settlement follows the judge's verdict, so the broker's redelivery means "try
again" and dead-lettering means "this can never succeed":

* written, relabelled, duplicate, stale, rejected -> complete. A config this
  replica rejects is reported (health, logs), not redelivered forever;
* corrupt (the bytes never hash to the announced sha256, also after re-reading
  the immutable release blob; or the publisher's store does not back the
  notice) and messages that are not release notices (a version, sha256 or
  release blob name not of the publisher's exact form) -> dead-letter, with the
  reason in the log and on the dead-lettered message;
* a transient failure (the release blob cannot be read, the disk write failed)
  -> retried in-process with the gateway's backoff while the message lock is
  renewed, for up to ``retry_seconds``; only then abandoned, so a storage blip
  of seconds costs one delivery, not ten.

A message is a claim, not a fact: before anything is written, the release it
names must exist in the publisher's store, ``releases/<version>.yaml`` with the
same sha256. A notice sent by reference proves it by its download (the judge
hashes the bytes); an inline notice costs one HEAD request for the metadata
sha256 the publisher stored with the release (a few ms against Blob Storage,
against the ~100 ms a download of the same release would add), so push stays
fast and a forged far-future version, a replayed old body under a new version,
or a release name that differs from its version never reaches the file.

The receive loop never blocks serving: it runs as a background task and a lost
connection is re-established with the same backoff.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from gateway.cloud.errors import translated
from gateway.errors import MalformedNotice, SourceNotFound, UnbackedRelease, describe
from gateway.judge import Announcement, Verdict
from gateway.protocol import ReleaseNotice
from gateway.release import sha256_hex
from gateway.retry import retrying_async
from gateway.sources import ReleaseSink

log = logging.getLogger(__name__)

#: Reads a release blob by name (the Blob source provides it).
ReleaseReader = Callable[[str], Awaitable[bytes]]
#: The sha256 the publisher recorded on a release blob (None: not recorded); SourceNotFound when absent.
BackingReader = Callable[[str], Awaitable[str | None]]
#: Creates this replica's own subscription before receiving (None: pre-provisioned).
SubscriptionCreator = Callable[[], Awaitable[None]]

#: Seconds a transient failure is retried in-process before the message is abandoned.
DEFAULT_RETRY_SECONDS = 60.0


#: Notices taken per receive call. One: after the first message of a batch arrives,
#: azure-servicebus keeps receiving for 0.2 s more (``_further_pull_receive_timeout``)
#: unless the batch is full, which delayed every push by 0.2 s (propagation benchmark:
#: the bus stage took 0.22-0.53 s per replica). Notices are rare and judged one by one anyway.
RECEIVE_BATCH = 1

class ServiceBusSource:
    def __init__(
        self,
        client_factory: Callable[[], Any],
        *,
        topic: str,
        subscription: str,
        read_release: ReleaseReader,
        recorded_sha256: BackingReader,
        max_wait_time: float = 5.0,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
        create_subscription: SubscriptionCreator | None = None,
    ) -> None:
        self._client_factory = client_factory
        self._topic = topic
        self._subscription = subscription
        self._read_release = read_release
        self._recorded_sha256 = recorded_sha256
        self._max_wait_time = max_wait_time
        self._retry_seconds = retry_seconds
        self._create_subscription = create_subscription
        self.origin = f"servicebus:{topic}/{subscription}"
        #: True while a receiver link is open (``/metrics``: gateway_servicebus_connected); False before and between.
        self.connected = False

    async def run(self, sink: ReleaseSink) -> None:
        if self._create_subscription is not None:
            try:
                await self._create_subscription()
            except Exception as exc:  # noqa: BLE001 - without Manage rights the poll still converges
                log.error(
                    "cannot create per-replica subscription %s (needs Manage rights, or set SERVICEBUS_SUBSCRIPTION): %s",
                    self.origin,
                    describe(exc),
                )
        async for attempt in retrying_async(f"service bus {self.origin}: connection lost or refused", log):
            with attempt:
                await self._receive_forever(sink)

    async def _receive_forever(self, sink: ReleaseSink) -> None:
        from azure.servicebus import ServiceBusReceiveMode

        with translated(f"receiving from {self.origin}"):
            async with self._client_factory() as client:
                receiver = client.get_subscription_receiver(
                    topic_name=self._topic,
                    subscription_name=self._subscription,
                    receive_mode=ServiceBusReceiveMode.PEEK_LOCK,
                    prefetch_count=0,
                )
                async with receiver:
                    log.info("service bus %s: receiving", self.origin)
                    self.connected = True
                    try:
                        while True:
                            messages = await receiver.receive_messages(
                                max_message_count=RECEIVE_BATCH, max_wait_time=self._max_wait_time
                            )
                            for message in messages:
                                await self._handle(receiver, message, sink)
                    finally:
                        self.connected = False

    async def _handle(self, receiver: Any, message: Any, sink: ReleaseSink) -> None:
        try:
            announcement = self._announcement(message)
        except MalformedNotice as exc:
            await self._dead_letter(receiver, message, "not a release notice", str(exc))
            return
        try:
            verdict = await self._offer_while_locked(receiver, message, sink, announcement)
        except Exception as exc:  # noqa: BLE001 - still transient after the retry budget: let the broker redeliver
            log.warning(
                "service bus %s: release %s not written after %.0fs of retries (%s); abandoning for redelivery",
                self.origin,
                announcement.version,
                self._retry_seconds,
                describe(exc),
            )
            await receiver.abandon_message(message)
            return
        if verdict is Verdict.CORRUPT:
            await self._dead_letter(receiver, message, "release not backed", _rejection_reason(sink, announcement))
            return
        await receiver.complete_message(message)
        log.info("service bus %s: release %s %s", self.origin, announcement.version, verdict.value)

    def _announcement(self, message: Any) -> Announcement:
        try:
            notice = ReleaseNotice.from_message(dict(message.application_properties or {}), _body(message))
        except ValueError as exc:
            raise MalformedNotice(str(exc)) from exc

        async def fetch(*, refetch: bool = False) -> bytes:
            try:
                if notice.body is not None and not refetch:
                    await self._check_backed(notice)
                    return notice.body
                return await self._read_release(notice.release_blob)
            except SourceNotFound as exc:
                raise UnbackedRelease(notice.version, f"{notice.release_blob} does not exist") from exc

        return Announcement(notice.version, notice.sha256, self.origin, fetch)

    async def _check_backed(self, notice: ReleaseNotice) -> None:
        """An inline body is only a claim: the publisher's release blob must record the same sha256."""
        recorded = await self._recorded_sha256(notice.release_blob)
        if recorded is None:  # a release written without metadata: its bytes decide
            if sha256_hex(await self._read_release(notice.release_blob)) != notice.sha256:
                raise UnbackedRelease(notice.version, f"{notice.release_blob} holds other content")
        elif recorded != notice.sha256:
            raise UnbackedRelease(notice.version, f"{notice.release_blob} records sha256 {recorded[:12]}…, the notice {notice.sha256[:12]}…")

    async def _offer_while_locked(self, receiver: Any, message: Any, sink: ReleaseSink, announcement: Announcement) -> Verdict:
        """Offer; on a transient failure retry with backoff for ``retry_seconds`` while renewing the lock.

        The first attempt runs without a lock renewer: closing one costs up to a second, which
        would delay every settlement (and so the next message) on the common, healthy path.
        """
        try:
            return await sink.offer(announcement)
        except Exception as exc:  # noqa: BLE001 - transient until proven otherwise: retried below
            log.warning("service bus %s: release %s not written yet (%s); retrying while holding the lock", self.origin, announcement.version, describe(exc))
        async with self._locked(receiver, message):
            async for attempt in retrying_async(
                f"service bus {self.origin}: release {announcement.version} not written yet", log, max_seconds=self._retry_seconds
            ):
                with attempt:
                    return await sink.offer(announcement)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    @contextlib.asynccontextmanager
    async def _locked(self, receiver: Any, message: Any) -> AsyncIterator[None]:
        """Keep the message's peek-lock alive (azure-servicebus AutoLockRenewer) while we retry."""
        from azure.servicebus.aio import AutoLockRenewer

        renewer = AutoLockRenewer(max_lock_renewal_duration=self._retry_seconds + 60)
        renewer.register(receiver, message)
        try:
            yield
        finally:
            await renewer.close()

    async def _dead_letter(self, receiver: Any, message: Any, reason: str, description: str) -> None:
        log.error("service bus %s: dead-lettering message %s: %s: %s", self.origin, message.message_id, reason, description)
        await receiver.dead_letter_message(message, reason=reason, error_description=description[:1000])

    async def aclose(self) -> None:
        return None


def _rejection_reason(sink: ReleaseSink, announcement: Announcement) -> str:
    reason = sink.last_rejection(announcement.version, announcement.sha256)
    return f"release {announcement.version}: {reason or 'the bytes never hash to the announced sha256'}"


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
