"""Item 4: no response to a client carries a Python traceback, in an error body or in a streamed event."""

from __future__ import annotations

import json
from typing import Any

from gateway.front.tracebacks import TracebackScrubber

TRACE = 'litellm.APIConnectionError: AzureException - bad api_version\nTraceback (most recent call last):\n  File "/x/main.py", line 1, in f\nTypeError: boom'


async def _run(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def app(_scope: Any, _receive: Any, send: Any) -> None:
        for message in messages:
            await send(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await TracebackScrubber(app)({"type": "http", "path": "/v1/chat/completions"}, receive, send)
    return sent


def _start(status: int, content_type: bytes, length: int | None = None) -> dict[str, Any]:
    headers = [(b"content-type", content_type)]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return {"type": "http.response.start", "status": status, "headers": headers}


async def test_error_body_keeps_the_message_and_loses_the_traceback() -> None:
    """A 500 whose message holds a traceback keeps its first line; content-length matches the new body."""
    body = json.dumps({"error": {"message": TRACE, "type": None, "code": "500"}}).encode()
    sent = await _run([_start(500, b"application/json", len(body)), {"type": "http.response.body", "body": body[:20], "more_body": True},
                       {"type": "http.response.body", "body": body[20:]}])
    out = sent[-1]["body"]
    assert b"Traceback" not in out and b"File \\\"" not in out
    assert json.loads(out)["error"]["message"] == "litellm.APIConnectionError: AzureException - bad api_version"
    assert dict(sent[0]["headers"])[b"content-length"] == str(len(out)).encode()


async def test_streamed_error_event_loses_the_traceback() -> None:
    """An SSE data: event with an error (status already 200) is re-encoded without the traceback."""
    event = b"data: " + json.dumps({"error": {"message": TRACE}}).encode() + b"\n\n"
    sent = await _run([_start(200, b"text/event-stream"), {"type": "http.response.body", "body": event, "more_body": True},
                       {"type": "http.response.body", "body": b"data: [DONE]\n\n"}])
    assert b"Traceback" not in sent[1]["body"] and sent[1]["body"].startswith(b"data: {")
    assert sent[2]["body"] == b"data: [DONE]\n\n"


async def test_successful_responses_pass_untouched() -> None:
    """2xx bodies are not buffered or changed, even if a model's answer quotes a traceback."""
    body = json.dumps({"choices": [{"message": {"content": TRACE}}]}).encode()
    messages = [_start(200, b"application/json", len(body)), {"type": "http.response.body", "body": body}]
    assert await _run(messages) == messages
