"""The publisher: turns a BlobCreated event for ``config.yaml`` into a validated, announced release.

This package holds all of the Azure Function's judgement and none of its
hosting, so it runs the same under the Functions host, the local dev stack
(``devstack.eventgrid``) and the tests:

* ``events``   - Event Grid / CloudEvents BlobCreated -> ``BlobCreated`` (or ignored)
* ``store``    - exact-version download, create-once release blobs, CAS on current.json and the status blob
* ``bus``      - the Service Bus message for a release (inline or by reference)
* ``pipeline`` - ``handle_blob_created``: the order of steps and the outcome semantics
* ``clients``  - settings from the environment and the Azure clients (managed identity or connection strings)
* ``service``  - ``Publisher``: settings + clients + pipeline, one call per event

The wire contract (blob names, pointer, status, message) is ``gateway.protocol``.
"""

from gateway.publisher.bus import build_notice, publish, to_message
from gateway.publisher.clients import PublisherSettings
from gateway.publisher.events import BlobCreated, InvalidEvent, event_to_dict, parse_event
from gateway.publisher.pipeline import PublishOutcome, handle_blob_created
from gateway.publisher.service import Publisher
from gateway.publisher.store import ConcurrentUpdate, ReleaseConflict, ReleaseStore, Superseded, TooLarge

__all__ = [
    "BlobCreated",
    "ConcurrentUpdate",
    "InvalidEvent",
    "PublishOutcome",
    "Publisher",
    "PublisherSettings",
    "ReleaseConflict",
    "ReleaseStore",
    "Superseded",
    "TooLarge",
    "build_notice",
    "event_to_dict",
    "handle_blob_created",
    "parse_event",
    "publish",
    "to_message",
]
