"""Message stores: queues, topic subscriptions and their dead-letter queues, with peek-lock rules.

This module knows nothing about AMQP, so the Service Bus delivery rules (locks, delivery counts,
dead-lettering, expiry) can be read and tested on their own; the broker turns wire events into
calls here. The reactor thread and test helpers share this state, so callers hold
``Namespace.lock`` around every call.
"""

from __future__ import annotations

import bisect
import dataclasses
import threading
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from .config import EmulatorConfig, EntityOptions

MAX_DELIVERY_COUNT_EXCEEDED = "MaxDeliveryCountExceeded"
TTL_EXPIRED = "TTLExpiredException"


@dataclass
class StoredMessage:
    """One copy of a message in one entity; ``payload`` is the AMQP message as the client sent it."""

    payload: bytes
    sequence_number: int
    enqueued_at: float
    expires_at: float | None = None
    visible_at: float = 0.0
    delivery_count: int = 0
    dead_letter_reason: str | None = None
    dead_letter_description: str | None = None


@dataclass
class Lock:
    """A peek-lock held by one receive link; the token is what the client calls the lock token."""

    token: uuid.UUID
    message: StoredMessage
    locked_until: float
    owner: int


class Entity:
    """A queue, a subscription, or the dead-letter queue of either (``dead_letter_queue`` is then None)."""

    def __init__(self, path: str, options: EntityOptions, dead_letter_queue: Entity | None = None) -> None:
        self.path = path
        self.options = options
        self.dead_letter_queue = dead_letter_queue
        self.next_sequence = 1
        self._available: list[StoredMessage] = []  # kept in sequence-number order
        self._locks: dict[uuid.UUID, Lock] = {}
        self._deferred: dict[int, StoredMessage] = {}

    def enqueue(self, message: StoredMessage) -> None:
        """Make a message available again in sequence order (new, abandoned or lock-expired)."""
        bisect.insort(self._available, message, key=lambda m: m.sequence_number)

    def take(self, now: float) -> StoredMessage | None:
        """Remove and return the oldest deliverable message (not expired, not scheduled later)."""
        for index, message in enumerate(self._available):
            if message.visible_at <= now and (message.expires_at is None or message.expires_at > now):
                del self._available[index]
                return message
        return None

    def lock(self, message: StoredMessage, owner: int, now: float) -> Lock:
        """Lock a taken message for a peek-lock receiver until ``now + LockDuration``."""
        held = Lock(uuid.uuid4(), message, now + self.options.lock_duration_s, owner)
        self._locks[held.token] = held
        return held

    def lock_of(self, token: uuid.UUID) -> Lock | None:
        """The live lock for a token, or None when it expired or was settled (lock lost)."""
        return self._locks.get(token)

    def complete(self, token: uuid.UUID) -> bool:
        """Delete a locked message; False means the lock was lost."""
        return self._locks.pop(token, None) is not None

    def abandon(self, token: uuid.UUID, failed: bool = True) -> bool:
        """Unlock a message for redelivery; a failed attempt counts towards MaxDeliveryCount."""
        held = self._locks.pop(token, None)
        if held is not None:
            self._give_back(held.message, failed)
        return held is not None

    def dead_letter(self, token: uuid.UUID, reason: str | None, description: str | None) -> bool:
        """Move a locked message to the dead-letter queue with the client's reason."""
        held = self._locks.pop(token, None)
        if held is not None:
            self._to_dead_letter(held.message, reason, description)
        return held is not None

    def defer(self, token: uuid.UUID) -> bool:
        """Set a locked message aside; it is kept (and peekable) but never delivered again."""
        held = self._locks.pop(token, None)
        if held is not None:
            self._deferred[held.message.sequence_number] = held.message
        return held is not None

    def renew(self, token: uuid.UUID, now: float) -> float | None:
        """Extend a live lock by LockDuration and return the new expiry, None if it was lost."""
        held = self._locks.get(token)
        if held is None:
            return None
        held.locked_until = now + self.options.lock_duration_s
        return held.locked_until

    def release_owner(self, owner: int) -> None:
        """Give back every message locked by a link that went away: its locks are lost."""
        for held in [h for h in self._locks.values() if h.owner == owner]:
            del self._locks[held.token]
            self._give_back(held.message, failed=True)

    def sweep(self, now: float) -> None:
        """Redeliver messages whose lock expired and drop (or dead-letter) expired messages."""
        for held in [h for h in self._locks.values() if h.locked_until <= now]:
            del self._locks[held.token]
            self._give_back(held.message, failed=True)
        expired = [m for m in self._available if m.expires_at is not None and m.expires_at <= now]
        for message in expired:
            self._available.remove(message)
            if self.options.dead_letter_on_expiration and self.dead_letter_queue is not None:
                self._to_dead_letter(message, TTL_EXPIRED, "The message expired and was dead lettered.")

    def peek(self, from_sequence: int, count: int) -> list[StoredMessage]:
        """Active, locked and deferred messages from a sequence number on, without locking them."""
        pool = self._available + [h.message for h in self._locks.values()] + list(self._deferred.values())
        pool = sorted((m for m in pool if m.sequence_number >= from_sequence), key=lambda m: m.sequence_number)
        return pool[:count]

    def active_count(self) -> int:
        """Messages waiting or locked (what Service Bus reports as active)."""
        return len(self._available) + len(self._locks)

    def messages(self) -> list[StoredMessage]:
        """Every message held, in sequence order (for inspection)."""
        return self.peek(0, 1 << 62)

    def _give_back(self, message: StoredMessage, failed: bool) -> None:
        if failed:
            message.delivery_count += 1
        limit = self.options.max_delivery_count
        if failed and self.dead_letter_queue is not None and message.delivery_count >= limit:
            self._to_dead_letter(
                message,
                MAX_DELIVERY_COUNT_EXCEEDED,
                f"Message could not be consumed after {limit} delivery attempts.",
            )
        else:
            self.enqueue(message)

    def _to_dead_letter(self, message: StoredMessage, reason: str | None, description: str | None) -> None:
        target = self.dead_letter_queue or self  # dead-lettering from a DLQ keeps the message there
        target.enqueue(
            dataclasses.replace(
                message,
                expires_at=None,
                visible_at=0.0,
                dead_letter_reason=reason,
                dead_letter_description=description,
            )
        )


@dataclass
class Topic:
    """A topic fans each message out to all of its subscriptions, under one sequence counter."""

    name: str
    default_ttl_s: float | None
    subscriptions: dict[str, Entity]
    next_sequence: int = 1


def address_segments(address: str) -> list[str]:
    """Lower-cased path segments of ``amqps://host/<path>`` or a bare ``<path>``."""
    if "://" in address:
        address = urlsplit(address).path
    return [s.lower() for s in address.split("/") if s]


class Namespace:
    """All entities of the emulated namespace, resolved by the addresses the SDK uses."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.lock = threading.RLock()
        self.name = config.namespace
        self.queues: dict[str, Entity] = {
            q.name.lower(): Entity(q.name, q.options, Entity(f"{q.name}/$DeadLetterQueue", q.options))
            for q in config.queues
        }
        self.topics: dict[str, Topic] = {}
        for t in config.topics:
            self.topics[t.name.lower()] = Topic(t.name, t.default_ttl_s, {})
            for s in t.subscriptions:
                self.add_subscription(t.name, s.name, s.options)

    def add_subscription(self, topic: str, name: str, options: EntityOptions) -> Entity:
        """Create a subscription (idempotent: an existing one is returned unchanged)."""
        with self.lock:
            owner = self.topics[topic.lower()]
            if name.lower() not in owner.subscriptions:
                path = f"{owner.name}/Subscriptions/{name}"
                owner.subscriptions[name.lower()] = Entity(path, options, Entity(f"{path}/$DeadLetterQueue", options))
            return owner.subscriptions[name.lower()]

    def can_publish(self, address: str) -> bool:
        """Whether a sender link target names a topic or queue."""
        segments = address_segments(address)
        return len(segments) == 1 and (segments[0] in self.topics or segments[0] in self.queues)

    def publish(self, address: str, payload: bytes, now: float, ttl_s: float | None, visible_at: float) -> int:
        """Store a copy for the queue, or one per subscription of the topic; returns the copy count."""
        name = address_segments(address)[0]
        if name in self.queues:
            queue = self.queues[name]
            targets, sequence = [queue], queue.next_sequence
            queue.next_sequence += 1
            default_ttl = queue.options.default_ttl_s
        else:
            topic = self.topics[name]
            targets, sequence = list(topic.subscriptions.values()), topic.next_sequence
            topic.next_sequence += 1
            default_ttl = topic.default_ttl_s
        for entity in targets:
            limits = [t for t in (ttl_s, default_ttl, entity.options.default_ttl_s) if t]
            expires = visible_at + min(limits) if limits else None
            entity.enqueue(StoredMessage(payload, sequence, now, expires, visible_at))
        return len(targets)

    def resolve(self, address: str) -> Entity | None:
        """The entity a receive link source or ``$management`` node names, including ``$deadletterqueue``."""
        segments = address_segments(address)
        if segments and segments[-1] == "$management":
            segments = segments[:-1]
        dead_letter = bool(segments) and segments[-1] == "$deadletterqueue"
        if dead_letter:
            segments = segments[:-1]
        entity: Entity | None = None
        if len(segments) == 1:
            entity = self.queues.get(segments[0])
        elif len(segments) == 3 and segments[1] == "subscriptions" and segments[0] in self.topics:
            entity = self.topics[segments[0]].subscriptions.get(segments[2])
        if entity is not None and dead_letter:
            return entity.dead_letter_queue
        return entity

    def entity(self, name: str, subscription: str | None = None, dead_letter: bool = False) -> Entity:
        """Look an entity up by queue name, or topic and subscription name (raises KeyError)."""
        path = f"{name}/Subscriptions/{subscription}" if subscription else name
        found = self.resolve(path + ("/$DeadLetterQueue" if dead_letter else ""))
        if found is None:
            raise KeyError(path)
        return found

    def all_entities(self) -> list[Entity]:
        """Every queue, subscription and dead-letter queue (for the periodic sweep)."""
        roots = list(self.queues.values()) + [s for t in self.topics.values() for s in t.subscriptions.values()]
        return roots + [e.dead_letter_queue for e in roots if e.dead_letter_queue is not None]
