"""Start and stop gateway processes for tests: real uvicorn, real LiteLLM, loopback only."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
MASTER_KEY = "sk-test-" + "a1b2c3d4" * 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Any, *, timeout: float, interval: float = 0.1, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except (httpx.HTTPError, OSError) as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


@dataclass
class GatewayProcess:
    """One ``genai-gateway serve`` subprocess; its log goes to a file the test can read on failure."""

    args: list[str]
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    #: The key /health/config details need; default: the env's LITELLM_MASTER_KEY, else MASTER_KEY.
    master_key: str | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait_ready: bool = True, timeout: float = 90) -> GatewayProcess:
        env = {**os.environ, **self.env, "LITELLM_PORT": str(self.port), "LITELLM_HOST": "127.0.0.1"}
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", *self.args], env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO
        )
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 90) -> None:
        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"gateway exited with {self.proc.returncode}:\n{self.log_tail()}")
            return httpx.get(f"{self.base_url}/health/readiness", timeout=2).status_code == 200

        wait_until(ready, timeout=timeout, what=f"gateway readiness\n{self.log_tail}")

    def health(self) -> dict[str, Any]:
        """The detailed /health/config body (it needs the master key; without one it is brief)."""
        key = self.master_key or self.env.get("LITELLM_MASTER_KEY") or MASTER_KEY
        return httpx.get(f"{self.base_url}/health/config", headers={"Authorization": f"Bearer {key}"}, timeout=5).json()

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if getattr(self, "_log", None):
            self._log.close()
