"""Fail LiteLLM's per-request optional imports once, not on every request.

Why: LiteLLM's auth step imports ``litellm.integrations.otel.logger`` inside a
``try`` on every request. That module needs ``opentelemetry-sdk``, which the
gateway does not ship (it exports no traces), so the import fails half-way, the
half-built module is dropped, and the next request loads it from disk again.
Measured with py-spy on a mock chat completion under ``wrk`` (2 cores,
2026-11-29): 6.7% of the server's CPU per request, ~0.4 ms per import on an
idle core. A ``None`` entry in ``sys.modules`` is Python's documented way to
make an import fail at once (``ModuleNotFoundError``), so LiteLLM's ``except``
path runs exactly as before, without the disk.

Which modules: found by counting ``find_spec`` calls during 5 s of load; the
only module looked up more than a handful of times was the one below.
"""

from __future__ import annotations

import importlib
import logging
import sys

log = logging.getLogger(__name__)

#: Modules LiteLLM imports inside a ``try`` on every request (litellm 1.108.7).
PER_REQUEST_OPTIONAL: tuple[str, ...] = ("litellm.integrations.otel.logger",)


def pin_unavailable(names: tuple[str, ...] = PER_REQUEST_OPTIONAL) -> tuple[str, ...]:
    """Try each module once; mark those that cannot be imported as unimportable.

    Returns the names pinned. A module that imports is left alone (it is then
    cached like any other), so installing its dependency restores the feature.
    """
    pinned = []
    for name in names:
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except ImportError as exc:
            sys.modules[name] = None  # type: ignore[assignment]  # None = "import fails at once", by design
            pinned.append(name)
            log.debug("optional module %s unavailable (%s): not retried per request", name, exc)
    return tuple(pinned)
