"""AMQP message encoding: what Service Bus adds to a stored message when it hands it out.

The client's own sections (properties, application properties, body) are decoded and re-encoded
by proton unchanged; only the broker-owned parts (header delivery count, ``x-opt-*`` annotations,
dead-letter application properties) are written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from proton import Data, Described, Message, symbol, timestamp

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


def _own(value: Any) -> Any:
    """Copy proton's views of its internal buffers (binaries) into bytes, recursively."""
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, dict):
        return type(value)((_own(k), _own(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_own(v) for v in value]
    return value


def decode(payload: bytes) -> Message:
    """Decode an encoded AMQP message; binaries are copied so re-encoding cannot read freed memory."""
    message = Message()
    message.decode(payload)
    message.body = _own(message.body)
    message.properties = _own(message.properties)
    message.annotations = _own(message.annotations)
    message.instructions = _own(message.instructions)
    return message


_SECTIONS = range(0x70, 0x79)  # header .. footer
_BODY = (0x75, 0x76, 0x77)  # data, amqp-sequence, amqp-value
_DATA = 0x75


def _sections(encoded: bytes) -> list[tuple[int, Any]]:
    """Split an encoded message into (descriptor, value) sections; raises on anything else."""
    sections, offset = [], 0
    while offset < len(encoded):
        data = Data()
        consumed = data.decode(encoded[offset:])
        value = data.get_object()
        if consumed <= 0 or not isinstance(value, Described):
            raise ValueError("not an AMQP message")
        descriptor, inner = int(value.descriptor), value.value  # type: ignore[arg-type]
        if descriptor not in _SECTIONS:
            raise ValueError("not an AMQP message")
        # proton hands binaries out as views of its own buffer: copy before ``data`` is freed
        sections.append((descriptor, bytes(inner) if isinstance(inner, memoryview) else inner))
        offset += consumed
    return sections


def _is_message(encoded: bytes) -> bool:
    try:
        return any(d in _BODY for d, _ in _sections(encoded))
    except Exception:  # noqa: BLE001 - any decode failure means "plain bytes"
        return False


def unbatch(payload: bytes) -> list[bytes]:
    """Split a batch sent by ``send_messages([...])`` into its messages.

    The SDK sends a batch as one transfer with message-format 0x80013700 whose data sections are
    whole encoded messages. proton does not expose the message format, so a batch is recognised
    by every data section being an AMQP message; anything else is a single message.
    """
    try:
        sections = _sections(payload)
    except Exception:  # noqa: BLE001
        return [payload]
    bodies = [value for descriptor, value in sections if descriptor in _BODY]
    if bodies and all(d == _DATA for d, _ in sections if d in _BODY) and all(_is_message(b) for b in bodies):
        return bodies
    return [payload]


@dataclass(frozen=True)
class PublishInfo:
    """What the broker needs from an incoming message: its time to live and scheduled time."""

    ttl_s: float | None
    scheduled_at: float | None


def inspect_published(payload: bytes) -> PublishInfo:
    """Read header TTL and ``x-opt-scheduled-enqueue-time`` from a message a client sent."""
    message = decode(payload)
    annotations: dict[Any, Any] = dict(message.annotations or {})
    scheduled = annotations.get(SCHEDULED_ENQUEUE_TIME)
    return PublishInfo(
        ttl_s=float(message.ttl) if message.ttl else None,
        scheduled_at=int(scheduled) / 1000.0 if scheduled is not None else None,
    )


_HEADER = 0x70


def _header_section(message: Message, delivery_count: int) -> bytes:
    """Encode the header with every field present.

    proton omits fields at their default value, but the SDK reports ``delivery_count`` as None
    unless the field is on the wire, and Service Bus always sends it (0 on first delivery).
    """
    data = Data()
    data.put_described()
    data.enter()
    data.put_ulong(_HEADER)
    data.put_list()
    data.enter()
    data.put_bool(bool(message.durable))
    data.put_ubyte(message.priority)
    if message.ttl:
        data.put_uint(int(message.ttl * 1000))
    else:
        data.put_null()
    data.put_bool(delivery_count == 0)
    data.put_uint(delivery_count)
    data.exit()
    data.exit()
    return bytes(data.encode())


def _without_header(encoded: bytes) -> bytes:
    """Drop the header section proton put first, if any."""
    first = Data()
    consumed = first.decode(encoded)
    value = first.get_object() if consumed else None
    if getattr(value, "descriptor", None) == _HEADER:
        return encoded[consumed:]
    return encoded


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
    if stored.dead_letter_reason is not None or stored.dead_letter_description is not None:
        properties: dict[Any, Any] = dict(message.properties or {})
        if stored.dead_letter_reason is not None:
            properties[DEAD_LETTER_REASON] = stored.dead_letter_reason
        if stored.dead_letter_description is not None:
            properties[DEAD_LETTER_DESCRIPTION] = stored.dead_letter_description
        message.properties = properties  # type: ignore[assignment]  # proton declares it as None
    return _header_section(message, stored.delivery_count) + _without_header(bytes(message.encode()))


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
