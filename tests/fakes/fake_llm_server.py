"""A fake Azure OpenAI / Databricks serving endpoint on 127.0.0.1 that records who called it.

Routes (what litellm 1.108.7 calls):

* Azure OpenAI: ``POST /openai/deployments/<deployment>/chat/completions?api-version=...``
* Databricks:   ``POST /serving-endpoints/chat/completions`` (endpoint name in the body ``model``)
* any other ``POST .../chat/completions`` (e.g. Azure AI), recorded the same way
* Databricks workspace OAuth: ``POST /oidc/v1/token``, delegated in-process to a
  ``FakeTokenServer`` so the workspace URL derived from ``api_base`` is the real target.

Every request's ``Authorization`` and ``api-key`` headers are recorded. Scripted
faults (``enqueue``) answer the next requests with an HTTP status or a delay;
``fail_for`` answers every request with a status for a while. Otherwise a valid
OpenAI chat completion is returned whose content names the server and deployment.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.token_server import FakeTokenServer


@dataclass(frozen=True)
class Fault:
    """Answer one request with ``status`` (if set) after ``delay_s`` seconds.

    ``headers`` are added to that answer (e.g. ``retry-after``); ``error`` replaces the
    default error object (e.g. Azure's ``{"code": "content_filter", ...}``).
    """

    status: int | None = None
    delay_s: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()
    error: dict[str, Any] | None = None


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    deployment: str
    authorization: str | None
    api_key: str | None
    status: int
    at: float
    delay_s: float = 0.0  # > 0: the answer was held back this long (the client may have timed out)

    @property
    def bearer(self) -> str | None:
        if self.authorization and self.authorization.startswith("Bearer "):
            return self.authorization[len("Bearer "):]
        return None


class FakeLLMServer:
    """``start()``/``stop()`` or context manager; ``base_url`` is ``http://127.0.0.1:<port>``."""

    def __init__(self, name: str, *, token_server: FakeTokenServer | None = None, max_delay_s: float = 10.0) -> None:
        self.name = name
        self.token_server = token_server
        self.max_delay_s = max_delay_s
        self._lock = threading.Lock()
        self._faults: deque[Fault] = deque()
        self._fail_until = 0.0
        self._fail_status = 500
        self._stopping = threading.Event()
        self.requests: list[RecordedRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FakeLLMServer:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes delayed handlers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- scripting ---------------------------------------------------------
    def reset(self) -> None:
        """Forget recorded requests and pending faults (between cases sharing one server)."""
        with self._lock:
            self.requests.clear()
            self._faults.clear()

    def enqueue(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def fail_for(self, seconds: float, status: int = 500) -> None:
        with self._lock:
            self._fail_until, self._fail_status = time.monotonic() + seconds, status

    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    def _next_fault(self) -> Fault | None:
        with self._lock:
            if self._faults:
                return self._faults.popleft()
            if time.monotonic() < self._fail_until:
                return Fault(status=self._fail_status)
        return None

    def ok_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.status == 200 and not r.delay_s]

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)


def completion(content: str, model: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{int(time.time() * 1000)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


class _Handler(BaseHTTPRequestHandler):
    fake: FakeLLMServer
    protocol_version = "HTTP/1.1"
    timeout = 15

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any], headers: tuple[tuple[str, str], ...] = ()) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass

    def do_POST(self) -> None:
        fake = self.fake
        url = urlsplit(self.path)
        length = min(int(self.headers.get("Content-Length") or 0), 1 << 22)
        raw = self.rfile.read(length)
        if url.path == "/oidc/v1/token":
            if fake.token_server is None:
                return self._send(404, {"error": "no token server"})
            form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            status, body = fake.token_server.databricks_token(self.headers.get("Authorization"), form)
            return self._send(status, body)
        if not url.path.endswith("/chat/completions"):
            return self._send(404, {"error": {"message": f"no route {url.path}"}})
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self._send(400, {"error": {"message": "invalid json"}})
        parts = url.path.strip("/").split("/")
        deployment = parts[2] if parts[:2] == ["openai", "deployments"] else str(body.get("model", ""))
        fault = fake._next_fault() or Fault()
        status = fault.status or 200
        fake._record(RecordedRequest(url.path, deployment, self.headers.get("Authorization"),
                                     self.headers.get("api-key"), status, time.time(), fault.delay_s))
        if fault.delay_s:
            fake._stopping.wait(min(fault.delay_s, fake.max_delay_s))
        if status != 200:
            error = fault.error or {"message": f"{fake.name} scripted {status}", "code": str(status)}
            return self._send(status, {"error": error}, fault.headers)
        self._send(200, completion(f"{fake.name}:{deployment}", deployment), fault.headers)
