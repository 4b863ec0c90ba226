"""The one error shape every client sees: OpenAI's ``{"error": {message, type, param, code}}``.

Why: the OpenAI SDKs parse exactly these four keys (``param`` and ``code`` may be
JSON ``null``). LiteLLM's proxy answers errors in several shapes (``{"error": {...}}``
with ``param: "None"`` and ``code`` set to the HTTP status, FastAPI's ``{"detail": ...}``,
Starlette's plain-text 500) and can put a Python traceback with server paths in the
message. Every error body the gateway sends is built or rebuilt here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from starlette.types import Send

#: The ``type`` a status gets when the body names none (OpenAI's names where it has them).
_DEFAULT_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    408: "timeout_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "throttling_error",
}
#: Values LiteLLM writes where it means "absent".
_ABSENT = frozenset({"", "None", "none", "null"})
_TRACEBACK = re.compile(r"\s*Traceback \(most recent call last\):.*", re.DOTALL)
_FRAME = re.compile(r'\s*File "[^"]*", line \d+.*')
#: An absolute path of two or more segments (``/work/main/x.py``, ``C:\\srv\\x.py``), without a URL before it.
_PATH = re.compile(r"(?<![\w:/.])(?:/[\w.@+-]+){2,}/?|\b[A-Za-z]:\\(?:[\w.@+ -]+\\?)+")


@dataclass(frozen=True)
class OpenAIError:
    """One error as OpenAI's SDKs read it; ``status`` is the HTTP status it is sent with."""

    status: int
    message: str
    type: str
    param: str | None = None
    code: str | None = None

    def body(self) -> bytes:
        return json.dumps(
            {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        ).encode()


def default_type(status: int) -> str:
    """The error ``type`` for a status when nothing better is known (5xx: ``server_error``)."""
    return _DEFAULT_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


def reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def scrub(message: str) -> str:
    """Remove tracebacks, stack frames and absolute server paths from text sent to a client."""
    text = _TRACEBACK.sub("", message)
    text = "\n".join(line for line in text.splitlines() if not _FRAME.fullmatch(line))
    return _PATH.sub("<path>", text).strip()


def _text(value: Any) -> str | None:
    """A present string value, or None for LiteLLM's spellings of "absent" and non-scalars."""
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return None if text in _ABSENT else text


def _message_of(payload: Any) -> str | None:
    """Find the human message in any of the shapes LiteLLM or FastAPI answer with."""
    if isinstance(payload, str):
        return payload
    if isinstance(payload, list):  # FastAPI's 422 detail: [{"loc": [...], "msg": "..."}]
        parts = [
            f"{'.'.join(str(p) for p in item.get('loc', ()))}: {item.get('msg')}" if isinstance(item, dict) else str(item)
            for item in payload
        ]
        return "; ".join(parts) or None
    if isinstance(payload, dict):
        for key in ("error", "detail", "message", "msg"):
            if key in payload:
                found = _message_of(payload[key])
                if found:
                    return found
    return None


def normalize(
    status: int, body: bytes, *, upstream_code: str | None = None, upstream_param: str | None = None
) -> OpenAIError:
    """Rebuild any error body as an ``OpenAIError``; the upstream's code and param win over the body's.

    A ``code`` that only repeats the HTTP status (LiteLLM's ``"429"``) carries nothing and
    becomes ``null``; a real code (``content_filter``, ``invalid_api_key``) is kept.
    """
    try:
        payload: Any = json.loads(body) if body else None
    except ValueError:
        payload = body.decode("utf-8", "replace")
    inner: Mapping[str, Any] = {}
    if isinstance(payload, dict):
        candidate = payload.get("error")
        if isinstance(candidate, dict):
            inner = candidate
        elif isinstance(payload.get("detail"), dict) and isinstance(payload["detail"].get("error"), dict):
            inner = payload["detail"]["error"]
    message = _message_of(inner) or _message_of(payload) or reason(status)
    code = upstream_code or _text(inner.get("code"))
    if code is not None and code == str(status):
        code = None
    return OpenAIError(
        status=status,
        message=scrub(message) or reason(status),
        type=_text(inner.get("type")) or default_type(status),
        param=upstream_param or _text(inner.get("param")),
        code=code,
    )


async def send_error(send: Send, error: OpenAIError, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    """Answer a whole HTTP response with ``error`` and any extra headers (e.g. ``retry-after``)."""
    payload = error.body()
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
