"""AMQP message encoding: what Service Bus adds to a stored message when it hands it out.

The client's own sections (properties, application properties, body) are decoded and re-encoded
by proton unchanged; only the broker-owned parts (header delivery count, ``x-opt-*`` annotations,
dead-letter application properties) are written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from proton import Message, symbol, timestamp

from .entities import StoredMessage

SEQUENCE_NUMBER = symbol("x-opt-sequence-number")
ENQUEUED_TIME = symbol("x-opt-enqueued-time")
LOCKED_UNTIL = symbol("x-opt-locked-until")
SCHEDULED_ENQUEUE_TIME = symbol("x-opt-scheduled-enqueue-time")
DEAD_LETTER_REASON = "DeadLetterReason"
DEAD_LETTER_DESCRIPTION = "DeadLetterErrorDescription"


def amqp_time(seconds: float) -> timestamp:
    """AMQP timestamps are milliseconds since the epoch."""
    return timestamp(int(seconds * 1000))


def decode(payload: bytes) -> Message:
    """Decode an encoded AMQP message (all sections)."""
    message = Message()
    message.decode(payload)
    return message


@dataclass(frozen=True)
class PublishInfo:
    """What the broker needs from an incoming message: its time to live and scheduled time."""

    ttl_s: float | None
    scheduled_at: float | None


def inspect_published(payload: bytes) -> PublishInfo:
    """Read header TTL and ``x-opt-scheduled-enqueue-time`` from a message a client sent."""
    message = decode(payload)
    scheduled = (message.annotations or {}).get(SCHEDULED_ENQUEUE_TIME)
    return PublishInfo(
        ttl_s=float(message.ttl) if message.ttl else None,
        scheduled_at=int(scheduled) / 1000.0 if scheduled is not None else None,
    )


def render(stored: StoredMessage, locked_until: float | None) -> bytes:
    """Encode a stored message for delivery or peek, with the broker-owned fields filled in."""
    message = decode(stored.payload)
    annotations = dict(message.annotations or {})
    annotations[SEQUENCE_NUMBER] = stored.sequence_number
    annotations[ENQUEUED_TIME] = amqp_time(stored.enqueued_at)
    if locked_until is not None:
        annotations[LOCKED_UNTIL] = amqp_time(locked_until)
    message.annotations = annotations
    message.instructions = None  # delivery annotations are per hop, never forwarded
    message.delivery_count = stored.delivery_count
    if stored.dead_letter_reason is not None or stored.dead_letter_description is not None:
        properties = dict(message.properties or {})
        if stored.dead_letter_reason is not None:
            properties[DEAD_LETTER_REASON] = stored.dead_letter_reason
        if stored.dead_letter_description is not None:
            properties[DEAD_LETTER_DESCRIPTION] = stored.dead_letter_description
        message.properties = properties
    return message.encode()


@dataclass(frozen=True)
class MessageSnapshot:
    """A read-only view of a stored message, for test assertions."""

    sequence_number: int
    message_id: Any
    subject: str | None
    content_type: str | None
    application_properties: dict[str, Any]
    body: Any
    delivery_count: int
    dead_letter_reason: str | None
    dead_letter_error_description: str | None


def snapshot(stored: StoredMessage) -> MessageSnapshot:
    """Decode a stored message into a snapshot."""
    message = decode(stored.payload)
    return MessageSnapshot(
        sequence_number=stored.sequence_number,
        message_id=message.id,
        subject=message.subject,
        content_type=str(message.content_type) if message.content_type else None,
        application_properties=dict(message.properties or {}),
        body=message.body,
        delivery_count=stored.delivery_count,
        dead_letter_reason=stored.dead_letter_reason,
        dead_letter_error_description=stored.dead_letter_description,
    )
