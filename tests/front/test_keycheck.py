"""Item 2: a presented key that is not the master key gets an OpenAI-style 401, found as LiteLLM finds keys."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.front.keycheck import KeyCheck, presented_key

GOOD = "sk-good-" + "g" * 32


def _scope(headers: list[tuple[bytes, bytes]], *, kind: str = "http", path: str = "/v1/chat/completions", query: bytes = b"") -> dict[str, Any]:
    return {"type": kind, "path": path, "headers": headers, "query_string": query}


async def _call(scope: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    sent: list[dict[str, Any]] = []
    reached = False

    async def app(_scope: Any, _receive: Any, _send: Any) -> None:
        nonlocal reached
        reached = True

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await KeyCheck(app, lambda: (GOOD,))(scope, receive, send)
    return sent, reached


@pytest.mark.parametrize(
    "headers",
    [
        [(b"authorization", b"Bearer sk-wrong")],
        [(b"authorization", b"bearer sk-wrong")],
        [(b"api-key", b"sk-wrong")],
        [(b"x-api-key", b"sk-wrong")],
        [(b"x-goog-api-key", b"sk-wrong")],
        [(b"ocp-apim-subscription-key", b"sk-wrong")],
        [(b"x-litellm-api-key", b"Bearer sk-wrong"), (b"authorization", b"Bearer " + GOOD.encode())],
    ],
)
async def test_wrong_key_in_any_header_litellm_reads_gets_401(headers: list[tuple[bytes, bytes]]) -> None:
    """Every header LiteLLM takes a key from, in its order, is checked; the answer is OpenAI's invalid_api_key."""
    sent, reached = await _call(_scope(headers))
    assert not reached
    assert sent[0]["status"] == 401
    body = json.loads(sent[1]["body"])
    assert body["error"]["code"] == "invalid_api_key" and body["error"]["type"] == "invalid_request_error"
    assert "sk-wrong" not in sent[1]["body"].decode()


@pytest.mark.parametrize(
    "headers",
    [[(b"authorization", b"Bearer " + GOOD.encode())], [(b"api-key", GOOD.encode())], []],
    ids=["bearer", "api-key", "no-key"],
)
async def test_master_key_or_no_key_passes_to_litellm(headers: list[tuple[bytes, bytes]]) -> None:
    """The master key reaches LiteLLM; so does a request with no key (LiteLLM refuses it on protected routes)."""
    sent, reached = await _call(_scope(headers))
    assert reached and sent == []


async def test_wrong_key_on_a_websocket_closes_with_policy_violation() -> None:
    """Realtime websockets with a wrong key (header or subprotocol) are closed with 1008 before LiteLLM."""
    for headers in ([(b"authorization", b"Bearer sk-wrong")], [(b"sec-websocket-protocol", b"realtime, openai-insecure-api-key.sk-wrong")]):
        sent, reached = await _call(_scope(headers, kind="websocket", path="/v1/realtime"))
        assert not reached and sent == [{"type": "websocket.close", "code": 1008}]


def test_generate_content_query_key_is_read_only_on_those_routes() -> None:
    """?key= counts on Google generateContent routes (as in LiteLLM) and nowhere else."""
    assert presented_key(_scope([], path="/v1beta/models/g:generateContent", query=b"key=sk-wrong")) == "sk-wrong"
    assert presented_key(_scope([], path="/v1/chat/completions", query=b"key=sk-wrong")) is None
