"""The front's pieces on their own: error normalising, retry-after, the caps, the body checks (no LiteLLM)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from gateway.front import retry_after
from gateway.front.body import RequestCheck
from gateway.front.contract import ErrorContract
from gateway.front.errors import normalize, scrub
from gateway.front.limits import MIB, Limits, RequestLimits
from gateway.front.litellm_link import ErrorFacts


def _scope(method: str = "POST", path: str = "/v1/chat/completions", headers: list[tuple[bytes, bytes]] | None = None) -> Scope:
    return {"type": "http", "method": method, "path": path, "headers": headers or []}


async def _run(app: Any, scope: Scope, body: bytes = b"", chunks: list[bytes] | None = None) -> tuple[int, dict[bytes, bytes], bytes]:
    parts = chunks if chunks is not None else [body]
    queue = [{"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)]
    sent: list[Message] = []

    async def receive() -> Message:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    return start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


def _responder(status: int, body: bytes, headers: list[tuple[bytes, bytes]] = ()) -> Any:  # type: ignore[assignment]
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json"), *headers]})
        await send({"type": "http.response.body", "body": body})

    return app


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"error": {"message": "m", "type": "auth_error", "param": "None", "code": "400"}}', ("m", "auth_error", None, None)),
        (b'{"detail": "Not Found"}', ("Not Found", "invalid_request_error", None, None)),
        (b'{"detail": {"error": "upstream text"}}', ("upstream text", "invalid_request_error", None, None)),
        (b"Internal Server Error", ("Internal Server Error", "invalid_request_error", None, None)),
        (b"", ("Bad Request", "invalid_request_error", None, None)),
        (b'{"error": {"message": "x", "type": "None", "param": "prompt", "code": "content_filter"}}', ("x", "invalid_request_error", "prompt", "content_filter")),
    ],
)
def test_every_error_shape_becomes_openais(body: bytes, expected: tuple[Any, ...]) -> None:
    """LiteLLM's, FastAPI's and plain-text error bodies become {message, type, param, code} with null where absent."""
    error = normalize(400, body)
    assert (error.message, error.type, error.param, error.code) == expected


def test_upstream_code_and_param_win() -> None:
    """What the upstream said (content_filter, prompt) replaces LiteLLM's "400" and missing param."""
    error = normalize(400, b'{"error": {"message": "m", "type": "invalid_request_error", "param": null, "code": "400"}}',
                      upstream_code="content_filter", upstream_param="prompt")
    assert (error.code, error.param) == ("content_filter", "prompt")


def test_scrub_removes_tracebacks_and_server_paths_but_keeps_urls() -> None:
    """A traceback and absolute paths leave the message; the first line and a docs URL stay."""
    text = ("Invalid request format: 'str' object has no attribute 'get'\nTraceback (most recent call last):\n"
            '  File "/work/main/.venv/lib/python3.11/site-packages/litellm/main.py", line 706, in acompletion\n'
            "see https://docs.litellm.ai/docs/routing#fallbacks or /srv/app/config.yaml")
    assert scrub(text) == "Invalid request format: 'str' object has no attribute 'get'"
    assert scrub("see https://docs.litellm.ai/docs/routing and /srv/app/x.py") == "see https://docs.litellm.ai/docs/routing and <path>"


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"llm_provider-retry-after": "17"}, 17.0),
        ({"llm_provider-retry-after-ms": "2500", "llm_provider-retry-after": "9"}, 2.5),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "-3"}, None),
    ],
)
def test_upstream_wait_forms(headers: dict[str, str], seconds: float | None) -> None:
    """Seconds, milliseconds (preferred) and HTTP dates are read; garbage and negatives are not."""
    assert retry_after.upstream_wait(headers) == seconds


async def test_contract_adds_standard_wait_headers_from_llm_provider_headers() -> None:
    """A 429 carrying only llm_provider-retry-after leaves with retry-after and retry-after-ms."""
    app = ErrorContract(_responder(429, b'{"error": {"message": "slow down"}}', [(b"llm_provider-retry-after", b"17")]),
                        facts=lambda _exc: ErrorFacts())
    status, headers, body = await _run(app, _scope())
    assert status == 429 and headers[b"retry-after"] == b"17" and headers[b"retry-after-ms"] == b"17000"
    assert json.loads(body)["error"] == {"message": "slow down", "type": "throttling_error", "param": None, "code": None}
    assert headers[b"content-length"] == str(len(body)).encode()


async def test_contract_uses_remaining_cooldown_over_litellms_configured_one() -> None:
    """When all deployments cool, the wait is what is left of the first cooldown, not LiteLLM's configured time."""
    app = ErrorContract(_responder(429, b"{}", [(b"retry-after", b"60")]), facts=lambda _exc: ErrorFacts(cooldown_s=4.2))
    _status, headers, _body = await _run(app, _scope())
    assert headers[b"retry-after"] == b"5" and headers[b"retry-after-ms"] == b"4200"


async def test_contract_answers_an_escaped_exception_without_its_text() -> None:
    """An exception nobody caught becomes a 500 in OpenAI's shape that does not repeat the exception."""

    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("secret detail at /srv/app/x.py")

    status, _headers, body = await _run(ErrorContract(broken, facts=lambda _exc: ErrorFacts()), _scope())
    assert status == 500 and b"secret" not in body and json.loads(body)["error"]["type"] == "server_error"


async def test_contract_passes_success_through_untouched() -> None:
    """A 200 body is not buffered or rewritten."""
    status, _headers, body = await _run(ErrorContract(_responder(200, b"[1]"), facts=lambda _exc: ErrorFacts()), _scope())
    assert (status, body) == (200, b"[1]")


async def test_size_cap_by_content_length_and_by_counting() -> None:
    """Over the cap: 413 by content-length without reading, and by counting a body with no content-length."""
    limits = RequestLimits(_responder(200, b"ok"), lambda: Limits(max_body_bytes=MIB))
    declared = _scope(headers=[(b"content-length", str(2 * MIB).encode())])
    assert (await _run(limits, declared))[0] == 413
    assert (await _run(limits, _scope(), chunks=[b"x" * MIB, b"x"]))[0] == 413
    assert (await _run(limits, _scope(), chunks=[b"x" * (MIB - 1), b"x"]))[0] == 200


async def test_concurrency_cap_refuses_the_request_over_it_and_frees_slots() -> None:
    """With a cap of 1, a POST while one is in flight gets 429 with retry-after; once it ends the next passes."""
    release = asyncio.Event()
    entered = asyncio.Event()

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        entered.set()
        await release.wait()
        await _responder(200, b"ok")(scope, receive, send)

    limits = RequestLimits(slow, lambda: Limits(max_parallel=1))
    first = asyncio.create_task(_run(limits, _scope()))
    await entered.wait()
    status, headers, body = await _run(limits, _scope())
    assert status == 429 and headers[b"retry-after"] == b"1" and json.loads(body)["error"]["code"] == "rate_limit_exceeded"
    release.set()
    assert (await first)[0] == 200 and limits.in_flight == 0
    assert (await _run(limits, _scope()))[0] == 200


def test_limits_read_from_general_settings() -> None:
    """max_request_size_mb is MiB like LiteLLM's; absent, zero or non-numbers mean no cap."""
    assert Limits.from_general_settings({"max_request_size_mb": 1.5, "global_max_parallel_requests": 3}) == Limits(int(1.5 * MIB), 3)
    assert Limits.from_general_settings({"max_request_size_mb": "1", "global_max_parallel_requests": True}) == Limits()


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/chat/completions", {"model": "m", "messages": "hi"}, "messages"),
        ("/chat/completions", {"model": "m", "messages": [{"role": None}]}, "messages[0].role"),
        ("/openai/deployments/m/chat/completions", {"messages": []}, "messages"),
        ("/v1/embeddings", {"model": "m", "input": []}, "input"),
        ("/v1/chat/completions", {"messages": [{"role": "user"}]}, "model"),
    ],
)
async def test_malformed_inference_requests_never_reach_the_app(path: str, body: Any, param: str) -> None:
    """A request missing what OpenAI requires gets 400 naming the parameter; the app behind is not called."""
    called = False

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal called
        called = True

    status, _headers, raw = await _run(RequestCheck(app), _scope(path=path), json.dumps(body).encode())
    assert status == 400 and json.loads(raw)["error"]["param"] == param and not called


async def test_valid_request_reaches_the_app_with_its_body() -> None:
    """A well-formed body is replayed to the app byte for byte."""
    seen: list[bytes] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((await receive())["body"])
        await _responder(200, b"ok")(scope, receive, send)

    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "é"}]}).encode()
    assert (await _run(RequestCheck(app), _scope(), body))[0] == 200 and seen == [body]


async def test_non_utf8_body_is_named_as_such() -> None:
    """Bytes that are not UTF-8 get a message that says so, not "missing messages"."""
    status, _headers, raw = await _run(RequestCheck(_responder(200, b"")), _scope(), b'{"messages": "\xff"}')
    assert status == 400 and "not valid UTF-8 JSON" in json.loads(raw)["error"]["message"]
