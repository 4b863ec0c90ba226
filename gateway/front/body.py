"""ASGI middleware: a JSON request that cannot be right is refused before LiteLLM or any upstream sees it.

Why: LiteLLM reads a body it cannot decode as an empty ``{}`` (a non-UTF-8 body gets
"Missing required parameter: 'messages'", or an unrelated auth error), and a chat
request with ``messages: "hi"`` fails inside LiteLLM's provider code, where the Router
takes it for a connection error, retries it, and answers with a traceback. Client errors
are the client's to fix: they get one clear 400 naming the parameter, no retry and no
upstream call. Only what the OpenAI API itself requires is checked here; everything
else (unknown fields, value ranges) is left to LiteLLM and the upstream.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.front.errors import OpenAIError, send_error
from gateway.front.limits import read_body, replay

_CHECKED_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _content_type(scope: Scope) -> str:
    for name, value in scope.get("headers") or ():
        if name.lower() == b"content-type":
            return value.decode("latin-1").split(";", 1)[0].strip().lower()
    return ""


def _route(path: str) -> str | None:
    """Which OpenAI inference route ``path`` is (with or without ``/v1``, Azure-style deployments too)."""
    for suffix in ("/chat/completions", "/embeddings", "/completions"):
        if path.rstrip("/").endswith(suffix):
            return suffix.strip("/")
    return None


def _bad(message: str, param: str | None) -> OpenAIError:
    return OpenAIError(400, message, "invalid_request_error", param=param, code=None)


def check_json(body: bytes) -> tuple[Any, OpenAIError | None]:
    """Decode a JSON body, or say in one sentence why it is not UTF-8 JSON."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, _bad(f"The request body is not valid UTF-8 JSON (invalid byte at offset {exc.start}).", None)
    try:
        return json.loads(text), None
    except ValueError as exc:
        return None, _bad(f"The request body is not valid JSON: {exc}.", None)


def check_shape(route: str, payload: Any, *, model_in_path: bool) -> OpenAIError | None:
    """The parameters the OpenAI API requires for ``route``, with the JSON types it requires."""
    if not isinstance(payload, dict):
        return _bad(f"The request body must be a JSON object, got {type(payload).__name__}.", None)
    model = payload.get("model")
    if not model_in_path and (not isinstance(model, str) or not model.strip()):
        return _bad("'model' is required and must be a non-empty string.", "model")
    if route == "chat/completions":
        messages = payload.get("messages")
        if not isinstance(messages, list) or not messages:
            return _bad("'messages' is required and must be a non-empty array of message objects.", "messages")
        for index, message in enumerate(messages):
            if not isinstance(message, dict):
                return _bad(f"messages[{index}] must be an object with a 'role'.", f"messages[{index}]")
            if not isinstance(message.get("role"), str) or not message["role"]:
                return _bad(f"messages[{index}].role is required and must be a string.", f"messages[{index}].role")
    elif route == "embeddings" and payload.get("input") in (None, "", []):
        return _bad("'input' is required and must be a string or an array.", "input")
    elif route == "completions" and "prompt" in payload and payload["prompt"] is None:
        return _bad("'prompt' must be a string or an array.", "prompt")
    return None


class RequestCheck:
    """400 for a JSON body that is not UTF-8 JSON, or an inference request missing what OpenAI requires."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        content_type = _content_type(scope)
        if (
            scope["type"] != "http"
            or scope.get("method") not in _CHECKED_METHODS
            or (content_type and "json" not in content_type)
        ):
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        route = _route(path)
        body = await read_body(receive, None) or b""
        error = None
        if body.strip():
            payload, error = check_json(body)
            if error is None and route is not None:
                error = check_shape(route, payload, model_in_path="/deployments/" in path or "/engines/" in path)
        elif route is not None:
            error = _bad("The request body is empty: expected a JSON object.", None)
        if error is not None:
            await send_error(send, error)
            return
        await self.app(scope, replay(body, receive), send)
