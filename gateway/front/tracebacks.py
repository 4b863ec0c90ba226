"""No response to a client ever carries a Python traceback.

Why: LiteLLM appends ``traceback.format_exc()`` to the message of exceptions it
cannot map (``exception_mapping_utils``: "APIConnectionError - ...\\nTraceback
(most recent call last): ..."), and the proxy copies that message into the
error body, or into a ``data: {"error": ...}`` event of a stream already
answering 200. A traceback tells a caller file paths, library versions and
internal values, and nothing they can act on. This ASGI middleware cuts every
JSON string in an error body (and in an SSE ``data:`` event) at the traceback;
the first line of the message, which says what failed, stays. The full
traceback is still in the replica's log.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MARKER = "Traceback (most recent call last)"
_MARKER_BYTES = MARKER.encode()
#: Error bodies larger than this are passed on untouched rather than buffered (LiteLLM's are a few KiB).
MAX_BUFFERED = 1024 * 1024


def cut(text: str) -> str:
    """``text`` up to the traceback (trailing whitespace removed), or unchanged when it has none."""
    index = text.find(MARKER)
    return text if index < 0 else text[:index].rstrip() or "internal error (details are in the gateway's log)"


def scrub(value: Any) -> Any:
    """A copy of a JSON value with every string cut at its traceback."""
    if isinstance(value, str):
        return cut(value)
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def scrub_json(body: bytes) -> bytes:
    """A JSON body with tracebacks cut; a body that is not JSON is cut as text."""
    try:
        return json.dumps(scrub(json.loads(body))).encode()
    except ValueError:
        return cut(body.decode("utf-8", errors="replace")).encode()


def scrub_sse(chunk: bytes) -> bytes:
    """An SSE chunk whose ``data:`` lines carrying a traceback are re-encoded without it."""
    lines = chunk.split(b"\n")
    for index, line in enumerate(lines):
        if _MARKER_BYTES in line and line.startswith(b"data:"):
            lines[index] = b"data: " + scrub_json(line[len(b"data:") :].strip())
    return b"\n".join(lines)


class TracebackScrubber:
    """ASGI middleware: error bodies and streamed events leave without Python tracebacks."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        mode = "pass"
        start: Message | None = None
        buffered: list[bytes] = []
        size = 0

        async def wrapped(message: Message) -> None:
            nonlocal mode, start, size
            if message["type"] == "http.response.start":
                headers = {k.lower(): v for k, v in message.get("headers", [])}
                content_type = headers.get(b"content-type", b"")
                if b"text/event-stream" in content_type:
                    mode = "sse"
                elif message["status"] >= 400:
                    mode, start = "buffer", message
                    return
                await send(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            body: bytes = message.get("body", b"")
            if mode == "sse":
                if _MARKER_BYTES in body:
                    message = {**message, "body": scrub_sse(body)}
                await send(message)
            elif mode == "buffer":
                buffered.append(body)
                size += len(body)
                if size > MAX_BUFFERED:  # not an error body we know: hand it on as it is
                    mode = "pass"
                    assert start is not None
                    await send(start)
                    await send({**message, "body": b"".join(buffered)})
                    return
                if not message.get("more_body", False):
                    await _send_buffered(send, start, b"".join(buffered))
            else:
                await send(message)

        await self.app(scope, receive, wrapped)


async def _send_buffered(send: Send, start: Message | None, body: bytes) -> None:
    assert start is not None
    if _MARKER_BYTES in body:
        body = scrub_json(body)
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": body})
