"""Refuse a wrong API key with 401 before LiteLLM sees the request.

Why: the gateway has no database by design, so the only valid key is the one
master key in force. LiteLLM, asked about any other key, looks for virtual keys
in a database that does not exist and answers HTTP 400 "No connected db." (FACTS.md),
which the OpenAI SDK raises as ``BadRequestError``. This middleware finds the key
the way LiteLLM's ``get_api_key`` does (same headers, same order) and, when one
is presented and is not the master key, answers an OpenAI-style 401 on every
route (websockets are closed with 1008, policy violation). Requests presenting
no key go on to LiteLLM, which refuses them on protected routes itself.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: LiteLLM's ``SpecialHeaders``, in the order ``get_api_key`` tries them (lower-case, as ASGI gives them).
KEY_HEADERS = (
    b"x-litellm-api-key",
    b"authorization",
    b"api-key",
    b"x-api-key",
    b"x-goog-api-key",
    b"ocp-apim-subscription-key",
)
_PREFIXES = ("Bearer ", "bearer ", "Basic ")
_WS_PROTOCOL_PREFIX = "openai-insecure-api-key."
_BODY = json.dumps(
    {
        "error": {
            "message": "Incorrect API key provided. Use the gateway's master key.",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }
).encode()


def presented_key(scope: Scope) -> str | None:
    """The key LiteLLM would authenticate this request with, or None when it carries none."""
    headers: dict[bytes, bytes] = {}
    for name, value in scope.get("headers") or ():
        headers.setdefault(name.lower(), value)
    for name in KEY_HEADERS:
        raw = headers.get(name)
        if raw is None or (name == b"authorization" and not raw):
            continue
        value = raw.decode("latin-1").strip()
        for prefix in _PREFIXES:
            if value.startswith(prefix):
                value = value[len(prefix) :].strip()
                break
        return value
    if scope.get("type") == "websocket":
        for protocol in headers.get(b"sec-websocket-protocol", b"").decode("latin-1").split(","):
            if protocol.strip().startswith(_WS_PROTOCOL_PREFIX):
                return protocol.strip()[len(_WS_PROTOCOL_PREFIX) :]
    query = scope.get("query_string", b"").decode("latin-1")
    if ":generateContent" in scope.get("path", "") or ":streamGenerateContent" in scope.get("path", ""):
        for pair in query.split("&"):
            if pair.startswith("key="):
                return pair[len("key=") :]
    return None


def matches(key: str, valid: Iterable[str]) -> bool:
    """Constant-time comparison against every valid key."""
    candidate = key.encode()
    return any(hmac.compare_digest(candidate, v.encode()) for v in valid if v)


class KeyCheck:
    """ASGI middleware: 401 for a presented key that is not one of ``valid_keys()``; others pass through."""

    def __init__(self, app: ASGIApp, valid_keys: Callable[[], Iterable[str]]) -> None:
        self.app = app
        self.valid_keys = valid_keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            key = presented_key(scope)
            if key is not None and not matches(key, self.valid_keys()):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(_BODY)).encode()),
                            (b"www-authenticate", b'Bearer realm="genai-gateway"'),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": _BODY})
                return
        await self.app(scope, receive, send)


def litellm_master_keys() -> tuple[str, ...]:
    """The key LiteLLM's proxy authenticates with right now (the applier keeps it current)."""
    from litellm.proxy import proxy_server as ps

    return (ps.master_key,) if isinstance(ps.master_key, str) and ps.master_key else ()
