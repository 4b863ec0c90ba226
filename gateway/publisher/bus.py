"""Announce a release on the Service Bus topic, in the shape ``gateway.protocol`` defines.

Small configs travel inline (body = the YAML bytes); larger ones go by
reference (empty body, ``inline=False``): the replica reads ``release_blob``.
The message id is derived from version and content (``protocol.message_id``),
so a republish of the same release is a duplicate that a topic with duplicate
detection drops, and that a replica ignores anyway (version <= applied).
"""

from __future__ import annotations

from typing import Protocol

from azure.servicebus import ServiceBusMessage

from gateway import protocol
from gateway.protocol import ReleaseNotice


class MessageSender(Protocol):
    """What ``publish`` needs of a ``ServiceBusSender``."""

    def send_messages(self, message: ServiceBusMessage) -> None: ...


def build_notice(*, version: str, sha256: str, release_blob: str, source_etag: str, data: bytes) -> ReleaseNotice:
    """The notice for a release: inline when ``len(data) <= INLINE_BODY_LIMIT``, else by reference."""
    body = data if len(data) <= protocol.INLINE_BODY_LIMIT else None
    return ReleaseNotice(version=version, sha256=sha256, release_blob=release_blob, source_etag=source_etag, body=body)


def to_message(notice: ReleaseNotice) -> ServiceBusMessage:
    """The Service Bus message for a notice (body, application properties, message id, content type)."""
    inline = notice.body is not None
    return ServiceBusMessage(
        notice.body if inline else b"",
        application_properties=dict(notice.application_properties()),  # type: ignore[arg-type]  # str keys and str|bool values are a subset of what the SDK accepts
        message_id=protocol.message_id(notice.version, notice.sha256),
        content_type=protocol.CONTENT_TYPE_YAML if inline else None,
        subject=notice.release_blob,
    )


def publish(sender: MessageSender, notice: ReleaseNotice) -> str:
    """Send one notice; return its message id. SDK errors propagate (transient: the event is retried)."""
    message = to_message(notice)
    sender.send_messages(message)
    return str(message.message_id)
