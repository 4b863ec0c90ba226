"""A gateway with a Redis response cache that comes and goes: it never waits for Redis and never fails a request."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Self

import httpx

from tests.cache.redis_server_support import RedisServer, redis_server_binary
from tests.support.processes import MASTER_KEY, GatewayProcess, free_port, wait_until

CONFIG = """
model_list:
  - model_name: gpt-4
    litellm_params: {model: openai/gpt-4, mock_response: cached answer}
litellm_settings:
  cache: true
  cache_params: {ttl: 300}
"""

REDIS_PASSWORD = "gw-e2e-redis-Pw-5k2QxZ"  # requirepass of the test's redis-server


def _ask(base_url: str, text: str, client: httpx.Client | None = None) -> httpx.Response:
    return (client or httpx).post(
        f"{base_url}/v1/chat/completions",
        json={"model": "gpt-4", "messages": [{"role": "user", "content": text}]},
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
        timeout=10,
    )


class HealthReader:
    """Reads /health/config (with the master key) and keeps every raw body, to check none carries the password."""

    def __init__(self, gw: GatewayProcess) -> None:
        self.gw = gw
        self.bodies: list[str] = []

    def cache(self) -> dict:
        response = httpx.get(
            f"{self.gw.base_url}/health/config", headers={"Authorization": f"Bearer {MASTER_KEY}"}, timeout=5
        )
        self.bodies.append(response.text)
        return response.json()["cache"]

    def backend(self) -> str | None:
        return self.cache()["backend"]


class Load:
    """Four threads sending requests until stopped; counts answers and records every failure."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.stop = threading.Event()
        self.failures: list[str] = []
        self._answered = 0
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(n,)) for n in range(4)]

    @property
    def answered(self) -> int:
        with self._lock:
            return self._answered

    def _run(self, n: int) -> None:
        with httpx.Client() as client:
            i = 0
            while not self.stop.is_set():
                try:  # httpx's 10 s timeout bounds a request; a request that hits it counts as a failure
                    response = _ask(self.base_url, f"q{(i * 4 + n) % 20}", client)
                    if response.status_code != 200:
                        self.failures.append(f"HTTP {response.status_code}")
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                with self._lock:
                    self._answered += 1
                i += 1

    def wait_for_more(self, count: int, what: str) -> None:
        target = self.answered + count
        wait_until(lambda: self.answered >= target, timeout=60, what=f"{count} more answers {what}")

    def __enter__(self) -> Self:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)


def test_redis_down_at_start_then_up_then_killed_under_load(tmp_path: Path) -> None:
    """Start on memory with Redis down, move to Redis when it appears, survive a SIGKILL under load with zero failures
    and no request sent to the dead Redis once on memory; the Redis password is used and never logged or reported."""
    binary = redis_server_binary()
    assert binary, "redis-server is missing: apt-get install -y redis-server (scripts/install-test-deps.sh)"
    port = free_port()
    redis = RedisServer(binary, workdir=tmp_path, port=port, requirepass=REDIS_PASSWORD)
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    log_path = tmp_path / "gateway.log"
    gw = GatewayProcess(
        args=["serve", "--config", str(config)],
        env={
            "LITELLM_MASTER_KEY": MASTER_KEY,
            "LITELLM_YAML_STORAGE_PATH": str(tmp_path / "applied" / "config.yaml"),
            "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": str(port),
            "REDIS_AUTH_TYPE": "PASSWORD",
            "REDIS_PASSWORD": REDIS_PASSWORD,
            "GATEWAY_LOG_LEVEL": "DEBUG",  # the password must stay out of every level
        },
        log_path=log_path,
    )
    health = HealthReader(gw)
    try:
        gw.start()
        assert health.backend() == "memory"
        assert _ask(gw.base_url, "while redis is down").status_code == 200

        redis.start()
        # requirepass answers NOAUTH to an unauthenticated PING: reaching "redis" proves the password was sent
        wait_until(lambda: health.backend() == "redis", timeout=15, what="switch to redis")
        assert _ask(gw.base_url, "shared").status_code == 200
        wait_until(lambda: int(redis.cli("DBSIZE") or 0) > 0, timeout=5, what="an entry written to redis")

        with Load(gw.base_url) as load:
            load.wait_for_more(20, "on redis")
            redis.kill()
            wait_until(lambda: health.backend() == "memory", timeout=10, what="fallback to memory")
            ops_redis_on_memory = health.cache()["ops_redis"]
            load.wait_for_more(40, "on memory")
            assert health.cache()["ops_redis"] == ops_redis_on_memory, "a request was sent to the dead Redis"
            redis.start()
            wait_until(lambda: health.backend() == "redis", timeout=10, what="redis resumed")
            load.wait_for_more(20, "after redis resumed")
        assert load.failures == []
        assert health.cache()["ops_redis"] > ops_redis_on_memory  # requests went back to Redis
    finally:
        gw.stop()
        redis.stop()
    assert REDIS_PASSWORD not in log_path.read_text(errors="replace")
    assert health.bodies and all(REDIS_PASSWORD not in body for body in health.bodies)
