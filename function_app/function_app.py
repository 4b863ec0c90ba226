"""Azure Function (Python v2 model): an upload of config.yaml becomes a validated, announced release.

Event Grid (system topic of the storage account, ``Microsoft.Storage.BlobCreated``,
subject filter on the config blob) -> ``on_config_blob_created`` -> the publisher
in ``gateway.publisher``: download exactly the uploaded version, validate it with
the gateway's own validator ("publisher" mode), write ``releases/<version>.yaml``,
compare-and-swap ``releases/current.json``, announce it on the Service Bus topic,
record the verdict in ``status/config.yaml.json``.

This file only wires the trigger to the publisher. The handler raises only on
transient errors (storage, Service Bus): the invocation fails and Event Grid
redelivers the event per the event subscription's retry policy. A rejected
config, a superseded, stale or duplicate event is a normal outcome, logged, and
not retried.

Settings come from app settings (see local.settings.json.example and README.md).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path

import azure.functions as func

try:
    import gateway  # noqa: F401  - vendored next to this file on deploy (see README.md)
except ImportError:  # running from a repository checkout without vendoring: use the repo's package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.publisher import Publisher, PublisherSettings
from gateway.supply_chain import guard_function

# Refuse to load (so the host indexes no function and logs why) when the installed packages
# are not the ones requirements.txt locks: a wrong litellm or a foreign .pth file.
guard_function(Path(__file__).with_name("requirements.txt"))

app = func.FunctionApp()
_LOG = logging.getLogger("function_app")

# Clients are expensive (AMQP connection, credential token cache): build them once per
# worker process and reuse them across invocations; rebuild only if the settings change.
_lock = threading.Lock()
_cached: tuple[PublisherSettings, Publisher] | None = None


def get_publisher() -> Publisher:
    """The process-wide publisher for the current app settings (SettingsError names a bad variable)."""
    global _cached
    settings = PublisherSettings.from_env(os.environ)
    with _lock:
        if _cached is None or _cached[0] != settings:
            if _cached is not None:
                _cached[1].close()
            _cached = (settings, Publisher.from_settings(settings))
        return _cached[1]


def warm_up() -> None:
    """Pay LiteLLM's import and first Router build before the first event (``Publisher.warm``); never raises."""
    try:
        get_publisher().warm()
    except Exception:  # noqa: BLE001 - a failed warm-up only means the first event pays the costs itself
        _LOG.warning("publisher warm-up failed; the first event pays its one-time costs", exc_info=True)


# In the background, so the host indexes the function at once; an event that arrives first waits on the same imports.
threading.Thread(target=warm_up, name="publisher-warm-up", daemon=True).start()


@app.function_name("on_config_blob_created")
@app.event_grid_trigger(arg_name="event")
def on_config_blob_created(event: func.EventGridEvent) -> None:
    """Handle one BlobCreated event (Event Grid schema, or a ``func.CloudEvent`` for CloudEvents 1.0)."""
    outcome = get_publisher().handle(event)
    _LOG.info("on_config_blob_created: event %s -> %s", getattr(event, "id", "?"), outcome.result)
