"""The ASGI app uvicorn serves: our probes in front, LiteLLM's FastAPI app behind.

The outer app owns the lifespan (it starts the runtime, never blocking on the
first config) and answers ``/health/config`` and the probes itself, without a
key (``/health/config`` says more with the master key; ``gateway.front.exposure``).
Every other request goes to LiteLLM's app once a config is applied, and must carry
a key; before that the gateway answers 503 instead of letting LiteLLM serve with no router.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from gateway import front
from gateway.apply.litellm_proxy import proxy_app
from gateway.front import exposure
from gateway.front.keycheck import KeyCheck, litellm_master_keys
from gateway.front.retry_after import wait_headers
from gateway.front.tracebacks import TracebackScrubber
from gateway.redact import scrub_tree
from gateway.runtime import GatewayRuntime

log = logging.getLogger(__name__)

READINESS_PATHS = frozenset({"/health/readiness", "/health/ready"})
LIVENESS_PATHS = frozenset({"/health/liveliness", "/health/liveness", "/health/live"})
CONFIG_PATHS = frozenset({"/health/config"})
#: Prometheus text (gateway.metrics), without the master key like the probes; says no more than /health/config.
METRICS_PATHS = frozenset({"/metrics"})
#: Environment variables whose values never appear in a health body, even to the master key's holder.
_SECRET_ENV = re.compile(r"(KEY|SECRET|PASSWORD|PASSWD|TOKEN|CONNECTION_STRING|CREDENTIAL)", re.IGNORECASE)
#: What a client is told to wait before the first config is applied (the file watcher polls faster).
NOT_READY_RETRY_AFTER_S = 2.0
_WRONG_KEY = front.OpenAIError(401, "Incorrect API key provided. Use the gateway's master key.", "invalid_request_error", code="invalid_api_key")
_NOT_READY = front.OpenAIError(503, "gateway not ready: no valid config applied yet", "service_unavailable")


class GatewayApp:
    def __init__(self, runtime: GatewayRuntime) -> None:
        self.runtime = runtime
        # A wrong key gets an OpenAI-style 401, not LiteLLM's 400 "No connected db." (gateway.front.keycheck);
        # no response carries a Python traceback (gateway.front.tracebacks). Around both, the front
        # (gateway.front): OpenAI error bodies, retry-after, request size and concurrency caps, body checks.
        # No request reaches LiteLLM without a key (exposure.RequireKey), whatever LiteLLM or a config makes public.
        self._litellm = front.build(
            proxy_app(),
            authenticate=lambda app: exposure.RequireKey(KeyCheck(TracebackScrubber(app), litellm_master_keys)),
        )

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        path = scope.get("path", "").rstrip("/") or "/"
        if scope["type"] == "http":
            if path in CONFIG_PATHS:
                return await self._config(scope, send)
            if path in METRICS_PATHS:
                return await _metrics(send)
            if path in LIVENESS_PATHS:
                return await _json(send, 200, {"status": "alive"})
            if path in READINESS_PATHS:
                ready = self.runtime.status.ready
                body = {"status": "ready" if ready else "waiting for first valid config", **_brief(self.runtime)}
                return await _json(send, 200 if ready else 503, body)
        if not self.runtime.status.ready:
            if scope["type"] == "http":
                return await front.send_error(send, _NOT_READY, wait_headers(NOT_READY_RETRY_AFTER_S))
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1013})  # try again later
            return
        await self._litellm(scope, receive, send)

    async def _config(self, scope: dict[str, Any], send: Any) -> None:
        """Brief without a key, everything (scrubbed of secrets) with the master key, 401 with another key."""
        keys = litellm_master_keys()
        valid = exposure.key_is_valid(scope, keys)
        if valid is False:
            return await front.send_error(send, _WRONG_KEY)
        secrets = (*keys, *(v for k, v in self.runtime.env.items() if _SECRET_ENV.search(k)))
        body = exposure.config_view(self.runtime.status, detailed=bool(valid), redact=lambda b: scrub_tree(b, secrets))
        await _json(send, 200, body)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.runtime.start()
                except Exception as exc:
                    log.exception("gateway failed to start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.runtime.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _brief(runtime: GatewayRuntime) -> dict[str, Any]:
    status = runtime.status
    return {"version": status.applied.version if status.applied else None}


async def _metrics(send: Any) -> None:
    from gateway import metrics

    payload = metrics.render()
    headers = [(b"content-type", metrics.CONTENT_TYPE.encode()), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _json(send: Any, code: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body, default=str).encode()
    await send(
        {
            "type": "http.response.start",
            "status": code,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})
