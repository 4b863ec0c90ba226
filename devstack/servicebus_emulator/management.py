"""Request/response nodes: ``$cbs`` (claims-based auth) and ``<entity>/$management``.

The SDK authenticates by putting a token on ``$cbs`` before it attaches any link, and renews
locks, peeks and settles-by-lock-token through ``$management``. Both are plain AMQP messages
answered on the client's reply link, correlated by the request's message-id.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import Any

from proton import Message, symbol

from . import wire
from .entities import Entity, Namespace

_LOG = logging.getLogger(__name__)

LOCK_LOST = "com.microsoft:message-lock-lost"


def _response(
    request: Message, status: int, description: str, body: Any = None, condition: str | None = None
) -> Message:
    """A reply carrying the status under both spellings (``$cbs`` and ``$management`` differ)."""
    properties: dict[str, Any] = {
        "statusCode": status,
        "statusDescription": description,
        "status-code": status,
        "status-description": description,
    }
    if condition:
        properties["errorCondition"] = symbol(condition)
    reply = Message(correlation_id=request.id, properties=properties, address=request.reply_to)
    if body is not None:
        reply.body = body
        reply.inferred = False
    return reply


def _tokens(value: Any) -> list[uuid.UUID]:
    """``lock-tokens`` arrives as an AMQP array (proton ``Array``) or list of UUIDs."""
    items: Iterable[Any] = getattr(value, "elements", value) or []
    return [item if isinstance(item, uuid.UUID) else uuid.UUID(str(item)) for item in items]


def handle_request(namespace: Namespace, node: str, request: Message, now: float) -> Message:
    """Answer a request sent to ``$cbs`` or ``<entity>/$management``; errors become a 500 reply."""
    try:
        if node == "$cbs":
            return handle_cbs(request)
        with namespace.lock:
            return handle_management(namespace.resolve(node), request, now)
    except Exception as exc:  # noqa: BLE001 - a reply, not silence, so the client does not time out
        _LOG.exception("management request on %s failed", node)
        return _response(request, 500, str(exc), condition="amqp:internal-error")


def handle_cbs(request: Message) -> Message:
    """Accept any token: the emulator, like the official one, does not check SAS signatures."""
    return _response(request, 200, "OK")


def handle_management(entity: Entity | None, request: Message, now: float) -> Message:
    """Run one ``$management`` operation (renew-lock, peek, update-disposition) on an entity.

    The caller holds the namespace lock.
    """
    properties: dict[Any, Any] = dict(request.properties or {})
    operation = str(properties.get("operation", ""))
    body: dict[Any, Any] = request.body if isinstance(request.body, dict) else {}
    if entity is None:
        return _response(request, 404, "entity not found", condition="amqp:not-found")
    if operation == "com.microsoft:renew-lock":
        expirations = []
        for token in _tokens(body.get("lock-tokens")):
            until = entity.renew(token, now)
            if until is None:
                return _response(request, 410, "The lock supplied is invalid.", condition=LOCK_LOST)
            expirations.append(wire.amqp_time(until))
        return _response(request, 200, "OK", {"expirations": expirations})
    if operation == "com.microsoft:peek-message":
        start = int(body.get("from-sequence-number", 1))
        found = entity.peek(start, int(body.get("message-count", 1)))
        if not found:
            return _response(request, 204, "No messages")
        return _response(request, 200, "OK", {"messages": [{"message": wire.render(m, None)} for m in found]})
    if operation == "com.microsoft:update-disposition":
        return _update_disposition(entity, request, body)
    _LOG.info("unsupported management operation %r on %s", operation, entity.path)
    return _response(request, 501, f"operation {operation!r} is not supported", condition="amqp:not-implemented")


def _update_disposition(entity: Entity, request: Message, body: dict[Any, Any]) -> Message:
    """Settle by lock token (the SDK's fallback when the receive link cannot confirm a settlement)."""
    status = str(body.get("disposition-status", ""))
    for token in _tokens(body.get("lock-tokens")):
        if status == "completed":
            ok = entity.complete(token)
        elif status == "abandoned":
            ok = entity.abandon(token)
        elif status == "suspended":
            ok = entity.dead_letter(token, body.get("deadletter-reason"), body.get("deadletter-description"))
        elif status == "defered":
            ok = entity.defer(token)
        else:
            return _response(request, 400, f"unknown disposition-status {status!r}", condition="amqp:invalid-field")
        if not ok:
            return _response(request, 410, "The lock supplied is invalid.", condition=LOCK_LOST)
    return _response(request, 200, "OK")
