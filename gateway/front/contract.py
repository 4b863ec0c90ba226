"""ASGI middleware: every error response leaves the gateway in OpenAI's shape, with a usable wait.

Why: whatever produced an error (LiteLLM's handlers, FastAPI's validation, Starlette's
500 page, an exception nobody caught), the client gets ``{"error": {message, type,
param, code}}`` with no traceback or server path, the upstream's own ``code`` when there
was one, and on 429/503 ``retry-after``/``retry-after-ms``. Successful responses stream
through untouched; only error bodies (small) are buffered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.front import litellm_link, retry_after
from gateway.front.errors import OpenAIError, normalize, send_error

log = logging.getLogger(__name__)

#: Error bodies larger than this are passed on as they are (headers still fixed): no real error is this big.
MAX_ERROR_BODY = 1 << 20
_DROPPED = frozenset({b"content-length", b"content-type"})

FactsReader = Callable[[Any], litellm_link.ErrorFacts]


@dataclass
class _Pending:
    start: Message | None = None
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    passthrough: bool = False
    done: bool = False


class ErrorContract:
    """Rewrite error responses of ``app`` to the OpenAI schema and add waits to 429/503."""

    def __init__(self, app: ASGIApp, facts: FactsReader = litellm_link.facts) -> None:
        self.app = app
        self.facts = facts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = _Pending()

        async def guarded_send(message: Message) -> None:
            if state.passthrough:
                await send(message)
                return
            if message["type"] == "http.response.start":
                if message["status"] < 400:
                    state.passthrough = True
                    await send(message)
                else:
                    state.start = message
                return
            if message["type"] != "http.response.body" or state.start is None:
                await send(message)
                return
            state.chunks.append(message.get("body", b""))
            state.size += len(state.chunks[-1])
            if state.size > MAX_ERROR_BODY:
                state.passthrough = True
                facts = self.facts(scope.get(litellm_link.SCOPE_KEY))
                await send({**state.start, "headers": _headers(state.start, facts, keep_framing=True)})
                for chunk in state.chunks[:-1]:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send(message)
                return
            if message.get("more_body", False):
                return
            state.done = True
            await self._send_rewritten(scope, state.start, b"".join(state.chunks), send)

        try:
            await self.app(scope, receive, guarded_send)
        except Exception:
            if state.done or state.passthrough:
                # Starlette re-raises after sending its 500; the client already has a clean answer.
                log.exception("unhandled error behind %s %s", scope.get("method"), scope.get("path"))
                return
            log.exception("unhandled error behind %s %s", scope.get("method"), scope.get("path"))
            await send_error(send, OpenAIError(500, "The gateway failed to handle this request.", "server_error"))

    async def _send_rewritten(self, scope: Scope, start: Message, body: bytes, send: Send) -> None:
        facts = self.facts(scope.get(litellm_link.SCOPE_KEY))
        error = normalize(start["status"], body, upstream_code=facts.upstream_code, upstream_param=facts.upstream_param)
        payload = error.body()
        headers = _headers(start, facts, keep_framing=False)
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": start["status"], "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def _headers(start: Message, facts: litellm_link.ErrorFacts, *, keep_framing: bool) -> list[tuple[bytes, bytes]]:
    """The response's headers, plus the wait on a 429/503: the upstream's, else the cooldown left, else LiteLLM's."""
    headers = [(k, v) for k, v in start.get("headers", []) if keep_framing or k.lower() not in _DROPPED]
    if start["status"] not in retry_after.THROTTLE_STATUSES:
        return headers
    named = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers}
    wait = retry_after.upstream_wait({k: v for k, v in named.items() if k.startswith("llm_provider-")})
    if wait is None:
        wait = facts.cooldown_s
    if wait is None:
        wait = retry_after.upstream_wait(named)
    return retry_after.with_wait(headers, wait) if wait is not None else headers
