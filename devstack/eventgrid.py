"""A local stand-in for Event Grid: new uploads in Azurite become BlobCreated events.

Nothing emulates Event Grid, and Azurite emits no events. ``BlobEventDeliverer``
polls one blob's properties; every new ETag becomes a ``Microsoft.Storage.BlobCreated``
event in the real Event Grid schema (or CloudEvents 1.0), with a fixed-width,
strictly increasing ``data.sequencer``, and is handed to ``deliver`` - typically
``invoke_function``, which runs the Function's code exactly as the Functions
worker would (``azure.functions`` converter -> ``func.EventGridEvent`` /
``func.CloudEvent`` -> the registered handler), without Core Tools.

Like Event Grid, delivery is retried when ``deliver`` raises (bounded), and the
deliverer can be told to misbehave the ways Event Grid may: deliver every event
twice (``duplicate=True``) or swap consecutive events (``out_of_order=True``).

Several uploads between two polls collapse into one event for the newest (Event
Grid would send one per upload; the older ones would be ``superseded`` anyway).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, Literal
from urllib.parse import quote

from azure.core.exceptions import ResourceNotFoundError

_LOG = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
FUNCTION_APP_PATH = REPO / "function_app" / "function_app.py"
DEFAULT_FUNCTION = "on_config_blob_created"
BLOB_CREATED = "Microsoft.Storage.BlobCreated"
#: A well-formed but obviously local resource id for the storage account (Event Grid's ``topic``/``source``).
SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"
RESOURCE_GROUP = "devstack"

Schema = Literal["eventgrid", "cloudevents"]


def storage_topic(account: str) -> str:
    return (
        f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{RESOURCE_GROUP}"
        f"/providers/Microsoft.Storage/storageAccounts/{account}"
    )


def blob_created_event(
    *,
    account: str,
    container: str,
    blob_name: str,
    url: str,
    etag: str,
    sequencer: str,
    content_length: int,
    content_type: str | None = "application/octet-stream",
    api: str = "PutBlob",
    event_time: datetime | None = None,
) -> dict[str, Any]:
    """A ``Microsoft.Storage.BlobCreated`` event in the Event Grid schema, shaped like the service's."""
    return {
        "topic": storage_topic(account),
        "subject": f"/blobServices/default/containers/{container}/blobs/{blob_name}",
        "eventType": BLOB_CREATED,
        "id": str(uuid.uuid4()),
        "data": {
            "api": api,
            "clientRequestId": str(uuid.uuid4()),
            "requestId": str(uuid.uuid4()),
            "eTag": etag.strip('"'),
            "contentType": content_type or "application/octet-stream",
            "contentLength": content_length,
            "blobType": "BlockBlob",
            "url": url,
            "sequencer": sequencer,
            "storageDiagnostics": {"batchId": str(uuid.uuid4())},
        },
        "dataVersion": "",
        "metadataVersion": "1",
        "eventTime": (event_time or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f0Z"),
    }


def to_cloudevent(event: dict[str, Any]) -> dict[str, Any]:
    """The same event as an Event Grid subscription with the CloudEvents 1.0 schema delivers it."""
    return {
        "specversion": "1.0",
        "type": event["eventType"],
        "source": event["topic"],
        "id": event["id"],
        "time": event["eventTime"],
        "subject": event["subject"],
        "datacontenttype": "application/json",
        "data": event["data"],
    }


class BlobEventDeliverer:
    """Polls one blob in a container; each new ETag is delivered as a BlobCreated event.

    ``poll_once()`` runs one poll synchronously (deterministic tests); ``start()``/``stop()``
    run it on a background thread every ``interval`` seconds. ``delivered`` lists every
    event handed to ``deliver`` successfully, in delivery order.
    """

    def __init__(
        self,
        container_client: Any,
        deliver: Callable[[dict[str, Any]], None],
        blob_name: str = "config.yaml",
        interval: float = 0.2,
        *,
        schema: Schema = "eventgrid",
        duplicate: bool = False,
        out_of_order: bool = False,
        deliver_existing: bool = False,
        max_attempts: int = 3,
        retry_delay: float = 0.2,
    ) -> None:
        self.container_client = container_client
        self.deliver = deliver
        self.blob_name = blob_name
        self.interval = interval
        self.schema = schema
        self.duplicate = duplicate
        self.out_of_order = out_of_order
        self.max_attempts = max(1, max_attempts)
        self.retry_delay = retry_delay
        self.delivered: list[dict[str, Any]] = []
        self.dropped: list[dict[str, Any]] = []
        self._last_etag: str | None = None
        self._last_sequencer = 0
        self._held: dict[str, Any] | None = None
        self._primed = deliver_existing
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- events ----------------------------------------------------------------------------
    def next_sequencer(self) -> str:
        """32 hex digits, strictly increasing, and increasing across restarts (time-based floor)."""
        self._last_sequencer = max(self._last_sequencer + 1, time.time_ns())
        return f"{self._last_sequencer:032x}"

    def _check(self) -> dict[str, Any] | None:
        """Return a new event if the watched blob has an ETag not seen before."""
        try:
            props = self.container_client.get_blob_client(self.blob_name).get_blob_properties()
        except ResourceNotFoundError:
            self._primed = True  # nothing there yet: the first upload is an event
            return None
        etag = str(props.etag).strip('"')
        if not self._primed:  # like Event Grid: what was there before we started is not an event
            self._primed, self._last_etag = True, etag
            return None
        if etag == self._last_etag:
            return None
        self._last_etag = etag
        event = blob_created_event(
            account=self.container_client.account_name,
            container=self.container_client.container_name,
            blob_name=self.blob_name,
            url=f"{self.container_client.url}/{quote(self.blob_name)}",
            etag=etag,
            sequencer=self.next_sequencer(),
            content_length=int(props.size),
            content_type=props.content_settings.content_type,
        )
        return to_cloudevent(event) if self.schema == "cloudevents" else event

    def poll_once(self) -> list[dict[str, Any]]:
        """One poll: detect a new upload and deliver what is due; return the events delivered now."""
        with self._lock:
            event = self._check()
            if event is None:
                return []
            if self.out_of_order:
                if self._held is None:
                    self._held = event
                    return []
                batch, self._held = [event, self._held], None  # newer first, then the older one
            else:
                batch = [event]
            return self._send(batch)

    def flush(self) -> list[dict[str, Any]]:
        """Deliver an event held back for ``out_of_order`` (a real Event Grid would deliver it eventually)."""
        with self._lock:
            held, self._held = self._held, None
            return self._send([held]) if held is not None else []

    def _send(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        sent = []
        for event in batch:
            for _copy in range(2 if self.duplicate else 1):
                if self._deliver_with_retry(event):
                    sent.append(event)
        return sent

    def _deliver_with_retry(self, event: dict[str, Any]) -> bool:
        for attempt in range(1, self.max_attempts + 1):
            try:
                self.deliver(event)
                self.delivered.append(event)
                return True
            except Exception:  # noqa: BLE001 - like Event Grid: any failure is retried, then dropped
                _LOG.warning("eventgrid: delivery of %s failed (attempt %d/%d)", event["id"], attempt, self.max_attempts, exc_info=True)
                if attempt < self.max_attempts and self._stop.wait(self.retry_delay * 2 ** (attempt - 1)):
                    break
        _LOG.error("eventgrid: event %s dropped after %d attempts (Event Grid would dead-letter it)", event["id"], self.max_attempts)
        self.dropped.append(event)
        return False

    # -- background thread -----------------------------------------------------------------
    def start(self) -> BlobEventDeliverer:
        if self._thread is not None:
            raise RuntimeError("the deliverer was already started")
        self._thread = threading.Thread(target=self._run, name="eventgrid-deliverer", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # noqa: BLE001 - Azurite restarting, a transient error: poll again
                _LOG.warning("eventgrid: poll failed", exc_info=True)
            self._stop.wait(self.interval)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling (bounded by ``timeout``); events held for ``out_of_order`` are delivered first."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                _LOG.warning("eventgrid: deliverer thread did not stop within %.1fs", timeout)
        if self._held is not None:
            self._stop.clear()
            try:
                self.flush()
            finally:
                self._stop.set()

    def __enter__(self) -> BlobEventDeliverer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- running the Function without Core Tools --------------------------------------------------
_apps: dict[Path, tuple[ModuleType, dict[str, Any]]] = {}
_apps_lock = threading.Lock()


def load_function_app(path: Path | str = FUNCTION_APP_PATH) -> tuple[ModuleType, dict[str, Any]]:
    """Import function_app.py by path once and index its functions (``get_functions()`` runs once per app)."""
    resolved = Path(path).resolve()
    with _apps_lock:
        if resolved not in _apps:
            spec = importlib.util.spec_from_file_location("function_app", resolved)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {resolved}")
            module = importlib.util.module_from_spec(spec)
            sys.modules.setdefault("function_app", module)
            spec.loader.exec_module(module)
            functions = {fn.get_function_name(): fn for fn in module.app.get_functions()}
            _apps[resolved] = (module, functions)
        return _apps[resolved]


def to_functions_event(event: dict[str, Any]) -> Any:
    """Decode an event as the Python worker does: ``func.EventGridEvent``, or ``func.CloudEvent`` for CloudEvents."""
    from azure.functions import meta
    from azure.functions.eventgrid import EventGridEventInConverter

    return EventGridEventInConverter.decode(meta.Datum(json.dumps(event), "json"), trigger_metadata={})


def invoke_function(
    event: dict[str, Any],
    *,
    function_name: str = DEFAULT_FUNCTION,
    app_path: Path | str = FUNCTION_APP_PATH,
) -> Any:
    """Run the Event Grid function of function_app.py on one event dict (exceptions propagate, as to the host)."""
    _module, functions = load_function_app(app_path)
    if function_name not in functions:
        raise KeyError(f"{app_path} has no function {function_name!r} (has: {', '.join(functions)})")
    fn = functions[function_name]
    trigger = next(b for b in fn.get_bindings() if b.type == "eventGridTrigger")
    return fn.get_user_function()(**{trigger.name: to_functions_event(event)})


__all__ = [
    "BlobEventDeliverer",
    "blob_created_event",
    "invoke_function",
    "load_function_app",
    "storage_topic",
    "to_cloudevent",
    "to_functions_event",
]
