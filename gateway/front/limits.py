"""ASGI middleware: the request-size and concurrency caps LiteLLM accepts but does not enforce.

Why: this LiteLLM build checks ``general_settings.max_request_size_mb`` only with an
enterprise licence (without one it logs a line per request and lets 25 MB through), and
its ``global_max_parallel_requests`` is read by a limiter the proxy no longer installs.
The gateway owns the ASGI front, so it enforces both here, reading the values the
running config gave LiteLLM on every request (a live apply changes them at once):

* a body larger than ``max_request_size_mb`` MiB gets 413 (by ``content-length`` before
  any byte is read, else by counting while buffering at most the cap);
* more than ``global_max_parallel_requests`` POST requests in flight in this worker get
  429 with ``retry-after``. A streaming response holds its slot until its last chunk.
  Like LiteLLM's own limiter, the count is per worker process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.front.errors import OpenAIError, send_error
from gateway.front.retry_after import wait_headers

MIB = 1024 * 1024
#: The wait a client is told after a 429 from the concurrency cap: one typical completion.
PARALLEL_RETRY_AFTER_S = 1.0


@dataclass(frozen=True)
class Limits:
    """The caps in force; None means no cap."""

    max_body_bytes: int | None = None
    max_parallel: int | None = None

    @classmethod
    def from_general_settings(cls, settings: Mapping[str, Any]) -> Limits:
        """Read the caps from ``general_settings`` (validation has already refused bad values)."""
        size = _positive(settings.get("max_request_size_mb"))
        parallel = _positive(settings.get("global_max_parallel_requests"))
        return cls(
            max_body_bytes=int(size * MIB) if size is not None else None,
            max_parallel=int(parallel) if parallel is not None else None,
        )


def _positive(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or ():
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields an already-read body once, then defers to the real one (disconnects)."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


async def read_body(receive: Receive, limit: int | None) -> bytes | None:
    """The whole request body, or None as soon as it grows past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class RequestLimits:
    """413 over the size cap, 429 over the concurrency cap; ``limits()`` is read per request."""

    def __init__(self, app: ASGIApp, limits: Callable[[], Limits]) -> None:
        self.app = app
        self.limits = limits
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limits = self.limits()
        counted = scope.get("method") == "POST"
        if counted and limits.max_parallel is not None and self.in_flight >= limits.max_parallel:
            await send_error(
                send,
                OpenAIError(
                    429,
                    f"Too many requests in flight: this gateway worker serves at most {limits.max_parallel} at a "
                    "time (general_settings.global_max_parallel_requests). Retry after the retry-after header.",
                    "throttling_error",
                    code="rate_limit_exceeded",
                ),
                wait_headers(PARALLEL_RETRY_AFTER_S),
            )
            return
        if counted:
            self.in_flight += 1
        try:
            if limits.max_body_bytes is not None:
                capped = await self._capped(scope, receive, send, limits.max_body_bytes)
                if capped is None:
                    return
                receive = capped
            await self.app(scope, receive, send)
        finally:
            if counted:
                self.in_flight -= 1

    async def _capped(self, scope: Scope, receive: Receive, send: Send, cap: int) -> Receive | None:
        declared = _content_length(scope)
        body = None if declared is not None and declared > cap else await read_body(receive, cap)
        if body is None:
            await send_error(
                send,
                OpenAIError(
                    413,
                    f"Request body too large: the limit is {cap / MIB:g} MB (general_settings.max_request_size_mb).",
                    "invalid_request_error",
                    code="request_too_large",
                ),
            )
            return None
        return replay(body, receive)
