"""What a caller without a key can reach and see: the gateway's whole public surface, in one place.

Why: LiteLLM's proxy serves many routes without a key (``/``, ``/routes``,
``/config/yaml``, ``/public/*``, the UI's ``/.well-known/...``, ``/sso/*``) and a
config can switch on more (``general_settings.enable_drain_endpoint`` makes
``/health/drain`` take the worker out of rotation for good; ``public_routes``,
``allow_public_health_readiness_details``). The gateway needs none of them, and
``/health/config`` used to tell anyone the model groups, every deployment's
identity and service-principal client id, the Redis host and its last error.

So the surface is deny-by-default:

* ``PUBLIC_PATHS`` are the only paths answered without a key; the gateway
  answers them itself (LiteLLM never sees them), and ``/health/config`` without
  a key says only ``ready``, ``version``, ``sha256`` and whether the last
  release was rejected (``config_view``);
* every other request must present a key (a wrong one gets 401 from
  ``gateway.front.keycheck``; none gets 401 here), whatever LiteLLM or a config says;
* ``CLOSED_PATHS`` are LiteLLM routes the gateway does not serve even with the
  master key (404).

The README's endpoint table lists ``PUBLIC_PATHS``; a test keeps both honest
against every route LiteLLM's app registers.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.front.errors import OpenAIError, send_error
from gateway.front.keycheck import presented_key

#: Path -> why it needs no key. The gateway answers each one itself.
PUBLIC_PATHS: Mapping[str, str] = {
    "/health/config": "ready, version, sha256, last_release_rejected (details with the master key)",
    "/health/readiness": "Kubernetes readiness: 200 once a config is applied, 503 before",
    "/health/ready": "alias of /health/readiness",
    "/health/liveliness": "Kubernetes liveness: 200 while the process runs",
    "/health/liveness": "alias of /health/liveliness",
    "/health/live": "alias of /health/liveliness",
    "/metrics": "Prometheus text for the scraper; says no more than the keyless /health/config (no secret, no identity)",
}
#: LiteLLM routes the gateway never serves, with or without a key -> why.
CLOSED_PATHS: Mapping[str, str] = {
    "/health/drain": "takes the worker out of rotation for good; the gateway drains on SIGTERM itself",
}
_MISSING = OpenAIError(
    401,
    "Missing API key: send the gateway's master key as 'Authorization: Bearer <key>'.",
    "invalid_request_error",
    code="invalid_api_key",
)
_CLOSED = OpenAIError(404, "Not Found", "invalid_request_error", code="not_found")


def normalized(path: str) -> str:
    """The path as the gateway matches it: trailing slashes dropped, ``/`` kept."""
    return path.rstrip("/") or "/"


def is_public(path: str) -> bool:
    return normalized(path) in PUBLIC_PATHS


def key_is_valid(scope: Scope, valid_keys: Iterable[str]) -> bool | None:
    """None when the request carries no key, else whether it is one of ``valid_keys`` (constant time)."""
    key = presented_key(dict(scope))
    if key is None:
        return None
    candidate = key.encode()
    return any(hmac.compare_digest(candidate, v.encode()) for v in valid_keys if v)


class RequireKey:
    """ASGI middleware in front of LiteLLM: 404 on ``CLOSED_PATHS``, 401 for a request that carries no key.

    A key's *value* is checked further in (``gateway.front.keycheck``); this layer only makes
    sure no LiteLLM route, present or future, public by LiteLLM or by a config, is
    reachable anonymously.
    """

    def __init__(self, app: ASGIApp | Any) -> None:  # Any: the key check predates the front's Starlette types
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            path = normalized(scope.get("path", ""))
            refusal = _CLOSED if path in CLOSED_PATHS else _MISSING if presented_key(dict(scope)) is None else None
            if refusal is not None:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                await send_error(send, refusal)
                return
        await self.app(scope, receive, send)


def last_release_rejected(status: Any) -> bool:
    """Whether the most recent release this worker judged was refused (a later apply clears it)."""
    return bool(status.last_release_rejected)


def config_view(status: Any, *, detailed: bool, redact: Callable[[Any], Any] = lambda body: body) -> dict[str, Any]:
    """The ``/health/config`` body: the brief public one, or (``detailed``) everything, passed through ``redact``."""
    applied = status.applied
    brief = {
        "ready": status.ready,
        "version": applied.version if applied else None,
        "sha256": applied.sha256 if applied else None,
        "last_release_rejected": last_release_rejected(status),
    }
    if not detailed:
        return brief
    return {**redact(status.as_dict()), "last_release_rejected": brief["last_release_rejected"]}
