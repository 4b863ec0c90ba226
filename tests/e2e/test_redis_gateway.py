"""A gateway with a Redis response cache that comes and goes: it never waits for Redis and never fails a request."""

from __future__ import annotations

import threading
import time
from pathlib import Path

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


def _ask(base_url: str, text: str, client: httpx.Client | None = None) -> httpx.Response:
    return (client or httpx).post(
        f"{base_url}/v1/chat/completions",
        json={"model": "gpt-4", "messages": [{"role": "user", "content": text}]},
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
        timeout=10,
    )


def _backend(gw: GatewayProcess) -> str | None:
    return gw.health()["cache"]["backend"]


def test_redis_down_at_start_then_up_then_killed_under_load(tmp_path: Path) -> None:
    """Start on memory with Redis down, move to Redis when it appears, survive a SIGKILL under load with zero failures."""
    binary = redis_server_binary()
    assert binary, "redis-server is missing: apt-get install -y redis-server (scripts/install-test-deps.sh)"
    port = free_port()
    redis = RedisServer(binary, workdir=tmp_path, port=port)
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    gw = GatewayProcess(
        args=["serve", "--config", str(config)],
        env={
            "LITELLM_MASTER_KEY": MASTER_KEY,
            "LITELLM_YAML_STORAGE_PATH": str(tmp_path / "applied" / "config.yaml"),
            "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": str(port),
            "REDIS_AUTH_TYPE": "NONE",
        },
        log_path=tmp_path / "gateway.log",
    )
    try:
        gw.start()
        assert _backend(gw) == "memory"
        assert _ask(gw.base_url, "while redis is down").status_code == 200

        redis.start()
        wait_until(lambda: _backend(gw) == "redis", timeout=15, what="switch to redis")
        assert _ask(gw.base_url, "shared").status_code == 200
        wait_until(lambda: int(redis.cli("DBSIZE") or 0) > 0, timeout=5, what="an entry written to redis")

        stop = threading.Event()
        failures: list[str] = []
        slowest = [0.0]

        def load() -> None:
            with httpx.Client() as client:
                i = 0
                while not stop.is_set():
                    started = time.monotonic()
                    try:
                        response = _ask(gw.base_url, f"q{i % 20}", client)
                        if response.status_code != 200:
                            failures.append(f"HTTP {response.status_code}")
                    except httpx.HTTPError as exc:
                        failures.append(repr(exc))
                    slowest[0] = max(slowest[0], time.monotonic() - started)
                    i += 1

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        redis.kill()
        wait_until(lambda: _backend(gw) == "memory", timeout=10, what="fallback to memory")
        time.sleep(2)
        redis.start()
        wait_until(lambda: _backend(gw) == "redis", timeout=10, what="redis resumed")
        time.sleep(1)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        assert failures == []
        assert slowest[0] < 2.0, f"a request took {slowest[0]:.2f}s while Redis died"
    finally:
        gw.stop()
        redis.stop()
    assert "REDIS_PASSWORD" not in (tmp_path / "gateway.log").read_text()
