"""Event Grid ``Microsoft.Storage.BlobCreated`` events, in either schema, as one plain value.

An event subscription can deliver the Event Grid schema (``eventType``, ``topic``,
``eventTime``, ``dataVersion``) or CloudEvents 1.0 (``type``, ``source``, ``time``,
``specversion``); the ``data`` object is the same in both. ``parse_event`` turns
either into a ``BlobCreated`` or returns ``None`` (with a log line saying why) for
events the publisher must not act on: other event types, other containers, other
blobs, and Data Lake ``CreateFile`` (an empty file whose content arrives with a
later ``FlushWithClose`` event). A BlobCreated event for the watched blob that
lacks what a release needs (eTag, sequencer) raises ``InvalidEvent``: redelivering
it cannot help, so callers log it and drop it.

No Azure Functions import here: ``event_to_dict`` reads a ``func.EventGridEvent`` or
``func.CloudEvent`` by duck typing.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway import protocol
from gateway.errors import GatewayError

_LOG = logging.getLogger(__name__)

BLOB_CREATED = "Microsoft.Storage.BlobCreated"
_SUBJECT = re.compile(r"^/blobServices/default/containers/(?P<container>[^/]+)/blobs/(?P<blob>.+)$")
#: The sequencer becomes the release version and part of a blob name: keep it to safe characters.
_SEQUENCER = protocol.VERSION_PATTERN
#: Data Lake Storage (hierarchical namespace) announces an empty file first; its content comes with FlushWithClose.
_IGNORED_APIS = frozenset({"CreateFile"})


class InvalidEvent(GatewayError, ValueError):
    """A BlobCreated event for the watched blob that cannot be processed (missing eTag or sequencer)."""


@dataclass(frozen=True)
class BlobCreated:
    """One upload of the watched blob, as the publisher needs it."""

    url: str
    container: str
    blob_name: str
    etag: str  # without quotes, as Event Grid sends it
    sequencer: str  # ordered per blob name: the release version
    content_length: int | None
    api: str
    subject: str
    event_id: str


def normalize_etag(etag: str | None) -> str:
    """Event Grid sends ``0x8D...``; the Blob SDK returns ``"0x8D..."``. Compare and store the bare form."""
    return (etag or "").strip().strip('"')


def event_to_dict(event: Any) -> dict[str, Any]:
    """A plain dict in the event's own schema from a dict, ``func.EventGridEvent`` or ``func.CloudEvent``."""
    if isinstance(event, Mapping):
        return dict(event)
    data = event.get_json() if hasattr(event, "get_json") else getattr(event, "data", None)
    if hasattr(event, "specversion"):
        return {
            "specversion": event.specversion,
            "id": event.id,
            "source": event.source,
            "type": event.type,
            "subject": event.subject,
            "time": _iso(getattr(event, "time", None)),
            "data": data,
        }
    return {
        "id": event.id,
        "topic": getattr(event, "topic", None),
        "subject": event.subject,
        "eventType": event.event_type,
        "eventTime": _iso(getattr(event, "event_time", None)),
        "dataVersion": getattr(event, "data_version", None),
        "data": data,
    }


def parse_event(
    event: Mapping[str, Any] | Any,
    *,
    container: str | None = "litellm-config",
    blob_name: str | None = "config.yaml",
) -> BlobCreated | None:
    """Return the upload an event announces, or ``None`` when the publisher must ignore it.

    ``container``/``blob_name`` restrict which blob counts (``None``: any).
    Raises ``InvalidEvent`` for a BlobCreated event of the watched blob that lacks eTag or sequencer.
    """
    raw = event_to_dict(event)
    cloud = "specversion" in raw
    event_id = str(raw.get("id") or "")
    event_type = raw.get("type") if cloud else raw.get("eventType")
    if event_type != BLOB_CREATED:
        _LOG.info("event %s ignored: type %r is not %s", event_id, event_type, BLOB_CREATED)
        return None
    subject = str(raw.get("subject") or "")
    match = _SUBJECT.match(subject)
    if match is None:
        _LOG.info("event %s ignored: subject %r is not /blobServices/default/containers/<c>/blobs/<name>", event_id, subject)
        return None
    if container is not None and match["container"] != container:
        _LOG.info("event %s ignored: container %r is not the watched container %r", event_id, match["container"], container)
        return None
    if blob_name is not None and match["blob"] != blob_name:
        _LOG.info("event %s ignored: blob %r is not the watched blob %r", event_id, match["blob"], blob_name)
        return None

    data = raw.get("data")
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except ValueError:
            data = None
    if not isinstance(data, Mapping):
        raise InvalidEvent(f"event {event_id} for {subject}: data is not a JSON object")
    api = str(data.get("api") or "")
    if api in _IGNORED_APIS:
        _LOG.info("event %s ignored: api %s announces an empty file; its FlushWithClose event follows", event_id, api)
        return None
    etag = normalize_etag(data.get("eTag"))
    if not etag:
        raise InvalidEvent(f"event {event_id} for {subject}: data.eTag is missing")
    sequencer = str(data.get("sequencer") or "")
    if not _SEQUENCER.match(sequencer):
        raise InvalidEvent(f"event {event_id} for {subject}: data.sequencer {sequencer!r} is missing or not a 16-64 digit hex sequencer")
    return BlobCreated(
        url=str(data.get("url") or ""),
        container=match["container"],
        blob_name=match["blob"],
        etag=etag,
        sequencer=sequencer,
        content_length=_int_or_none(data.get("contentLength")),
        api=api,
        subject=subject,
        event_id=event_id,
    )


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    return None if value is None else str(value)
