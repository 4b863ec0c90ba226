"""The publisher wired to real clients: what the Function (or the dev stack) calls per event.

``Publisher.from_env(os.environ)`` builds the settings, the credentials, the
container client and the Service Bus sender once; ``handle(event)`` takes a raw
event dict, a ``func.EventGridEvent`` or a ``func.CloudEvent`` and returns a
``PublishOutcome``. It raises only on transient errors (storage, Service Bus,
a CAS that kept losing), so Event Grid redelivers the event; events that can
never succeed (malformed) are logged and dropped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from gateway.cloud.errors import translated
from gateway.publisher import clients
from gateway.publisher.clients import PublisherSettings
from gateway.publisher.events import InvalidEvent, parse_event
from gateway.publisher.pipeline import PublishOutcome, handle_blob_created
from gateway.publisher.store import ReleaseStore

_LOG = logging.getLogger(__name__)

#: What ``Publisher.warm`` validates: one deployment, nothing read from the environment.
_WARM_UP_CONFIG = b"model_list:\n  - model_name: warm-up\n    litellm_params: {model: openai/gpt-4o, mock_response: ok}\n"


class Publisher:
    """One config container and one topic; clients are created once and reused across events."""

    def __init__(self, settings: PublisherSettings, *, container_client: Any, servicebus_client: Any) -> None:
        self.settings = settings
        self.store = ReleaseStore(container_client, config_blob=settings.config_blob)
        self._container_client = container_client
        self._servicebus = servicebus_client
        self._sender: _SerializedSender | None = None
        self._sender_lock = threading.Lock()
        self.options = settings.validation_options()

    @classmethod
    def from_settings(cls, settings: PublisherSettings) -> Publisher:
        _LOG.info("publisher: %s", settings.describe())
        return cls(
            settings,
            container_client=clients.container_client(settings),
            servicebus_client=clients.servicebus_client(settings),
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Publisher:
        return cls.from_settings(PublisherSettings.from_env(env))

    @property
    def sender(self) -> _SerializedSender:
        with self._sender_lock:
            if self._sender is None:
                self._sender = _SerializedSender(self._servicebus.get_topic_sender(self.settings.topic))
            return self._sender

    def warm(self) -> None:
        """Pay the first event's one-time costs before it arrives; call once per worker process.

        Why: in the propagation benchmark the first event's Function stage took 0.74 s
        against 0.15-0.22 s for later ones, and 0.50 s of it was the first send opening the
        AMQP connection and link. This opens them, imports LiteLLM, freezes the import-time
        heap (``gateway.heap``) and validates a one-deployment config, all off the event path.
        A failure here (Service Bus unreachable) raises; the first event then retries it.
        """
        from gateway import heap
        from gateway.validation import semantics, validate

        semantics.router_setting_names()  # imports LiteLLM
        heap.freeze_startup_heap()
        report = validate(_WARM_UP_CONFIG, self.options)
        self.sender.connect()
        _LOG.info("publisher: warmed up (warm-up config valid: %s)", report.valid)

    def handle(self, event: Any) -> PublishOutcome:
        """Judge one event; log and return the outcome. Raises only on transient errors."""
        try:
            parsed = parse_event(event, container=self.settings.container, blob_name=self.settings.config_blob)
        except InvalidEvent as exc:
            _LOG.error("publisher: event dropped: %s", exc)
            return PublishOutcome("ignored", None, detail=str(exc))
        if parsed is None:
            return PublishOutcome("ignored", None, detail="not a BlobCreated event for the watched blob")
        # Storage and Service Bus failures leave as SourceError: the Function raises, Event Grid redelivers.
        with translated(f"publishing {parsed.blob_name} version {parsed.sequencer}"):
            outcome = handle_blob_created(parsed, store=self.store, sender=self.sender, options=self.options)
        level = logging.WARNING if outcome.result == "rejected" else logging.INFO
        _LOG.log(level, "publisher: %s/%s event %s: %s", parsed.container, parsed.blob_name, parsed.event_id, outcome.describe())
        return outcome

    def close(self) -> None:
        """Close the sender and the clients (bounded by the SDKs' own timeouts)."""
        for closable in (self._sender, self._servicebus, self._container_client):
            if closable is None:
                continue
            try:
                closable.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                _LOG.debug("publisher: error while closing %r", type(closable).__name__, exc_info=True)
        self._sender = None


class _SerializedSender:
    """azure-servicebus senders are not thread-safe; the Python worker may run invocations concurrently."""

    def __init__(self, sender: Any) -> None:
        self._sender = sender
        self._lock = threading.Lock()

    def send_messages(self, message: Any) -> None:
        with self._lock:
            self._sender.send_messages(message)

    def connect(self) -> None:
        """Open the AMQP connection and sender link now (``create_message_batch`` needs the link's size limit)."""
        with self._lock:
            self._sender.create_message_batch()

    def close(self) -> None:
        with self._lock:
            self._sender.close()
