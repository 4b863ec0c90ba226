"""Shared load-generation and process helpers for the benchmark scripts."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.processes import free_port, wait_until  # noqa: E402

MASTER_KEY = "sk-bench-" + "0123456789abcdef" * 2


@dataclass
class LoadResult:
    requests: int = 0
    failures: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(q / 100 * len(data)))]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def row(self, label: str) -> str:
        return (
            f"{label:<34} {self.requests:>8} {self.failures:>8} {self.rps:>9.1f} "
            f"{self.pct(50):>9.1f} {self.pct(99):>9.1f}"
        )


HEADER = f"{'scenario':<34} {'requests':>8} {'failures':>8} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9}"


async def run_load(base_url: str, *, seconds: float, concurrency: int, model: str = "gpt-4") -> LoadResult:
    """``concurrency`` clients call chat completions back to back for ``seconds``."""
    result = LoadResult()
    body = {"model": model, "messages": [{"role": "user", "content": "hello"}]}
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def client(http: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                response = await http.post("/v1/chat/completions", json=body, headers=headers)
                ok = response.status_code == 200
                reason = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                ok, reason = False, type(exc).__name__
            result.requests += 1
            if ok:
                result.latencies_ms.append((time.perf_counter() - started) * 1000)
            else:
                result.failures += 1
                result.errors[reason] = result.errors.get(reason, 0) + 1

    started = time.monotonic()
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
    result.seconds = time.monotonic() - started
    return result


class Server:
    """A server subprocess (our gateway or plain LiteLLM) with its peak RSS read from /proc."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log
        full_env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_MASTER_KEY": MASTER_KEY, **env}
        args = [a.replace("{port}", str(self.port)) for a in args]
        full_env = {k: v.replace("{port}", str(self.port)) for k, v in full_env.items()}
        self._log = open(log, "wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(args, env=full_env, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO)
        self.base_url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, path: str, timeout: float = 120) -> float:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: see {self.log}")
            return httpx.get(self.base_url + path, timeout=2, headers={"Authorization": f"Bearer {MASTER_KEY}"}).status_code == 200

        wait_until(ready, timeout=timeout, interval=0.05, what=f"{self.base_url}{path}")
        return time.monotonic() - self.started

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        """User + system CPU the server process has used so far (/proc/PID/stat fields 14 and 15)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
