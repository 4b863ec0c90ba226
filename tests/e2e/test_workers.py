"""`serve --workers 2`: one writer process, two applier workers, both serving every edit."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx

from tests.support.processes import MASTER_KEY, GatewayProcess, wait_until


def _config(reply: str) -> bytes:
    return f"model_list:\n  - model_name: gpt-4\n    litellm_params: {{model: openai/gpt-4, mock_response: '{reply}'}}\n".encode()


def test_every_worker_applies_each_edit(tmp_path: Path) -> None:
    """Both worker processes report the new sha256 after one edit of the file."""
    config = tmp_path / "config.yaml"
    config.write_bytes(_config("one"))
    gw = GatewayProcess(
        args=["serve", "--config", str(config), "--workers", "2"],
        env={
            "LITELLM_MASTER_KEY": MASTER_KEY,
            "LITELLM_YAML_STORAGE_PATH": str(tmp_path / "applied" / "config.yaml"),
            "GATEWAY_FILE_POLL_INTERVAL": "0.2",
        },
        log_path=tmp_path / "gateway.log",
    ).start(timeout=120)
    try:
        config.write_bytes(_config("two"))
        digest = hashlib.sha256(_config("two")).hexdigest()
        pids: set[int] = set()

        def both_workers_updated() -> bool:
            body = gw.health()
            if body["sha256"] == digest:
                pids.add(body["pid"])
            return len(pids) == 2

        wait_until(both_workers_updated, timeout=60, interval=0.05, what=f"two workers on the new config; saw {pids}")
        response = httpx.post(
            f"{gw.base_url}/v1/chat/completions",
            json={"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {MASTER_KEY}"},
            timeout=20,
        )
        assert response.json()["choices"][0]["message"]["content"] == "two"
    finally:
        gw.stop()
