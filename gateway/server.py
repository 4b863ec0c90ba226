"""The ASGI app uvicorn serves: our probes in front, LiteLLM's FastAPI app behind.

The outer app owns the lifespan (it starts the runtime, never blocking on the
first config) and answers ``/health/config`` and the probes itself, without a
key. Every other request goes to LiteLLM's app once a config is applied; before
that the gateway answers 503 instead of letting LiteLLM serve with no router.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from gateway.apply.litellm_proxy import proxy_app
from gateway.runtime import GatewayRuntime

log = logging.getLogger(__name__)

READINESS_PATHS = frozenset({"/health/readiness", "/health/ready"})
LIVENESS_PATHS = frozenset({"/health/liveliness", "/health/liveness", "/health/live"})
CONFIG_PATHS = frozenset({"/health/config"})


class GatewayApp:
    def __init__(self, runtime: GatewayRuntime) -> None:
        self.runtime = runtime
        self._litellm = proxy_app()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        path = scope.get("path", "").rstrip("/") or "/"
        if scope["type"] == "http":
            if path in CONFIG_PATHS:
                return await _json(send, 200, self.runtime.status.as_dict())
            if path in LIVENESS_PATHS:
                return await _json(send, 200, {"status": "alive"})
            if path in READINESS_PATHS:
                ready = self.runtime.status.ready
                body = {"status": "ready" if ready else "waiting for first valid config", **_brief(self.runtime)}
                return await _json(send, 200 if ready else 503, body)
        if not self.runtime.status.ready:
            if scope["type"] == "http":
                return await _json(
                    send,
                    503,
                    {"error": {"message": "gateway not ready: no valid config applied yet", "type": "service_unavailable", "code": "503"}},
                )
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1013})  # try again later
            return
        await self._litellm(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.runtime.start()
                except Exception as exc:  # noqa: BLE001 - reported to uvicorn, which exits
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
