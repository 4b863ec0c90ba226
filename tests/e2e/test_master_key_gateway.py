"""Item 1 end to end: the key a config names is the one in force, shown by source, and never a weak one."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import yaml

from tests.support.processes import GatewayProcess, wait_until

CONFIG_KEY = "sk-config-" + "k" * 32
MODELS = [{"model_name": "gpt-4", "litellm_params": {"model": "openai/gpt-4", "mock_response": "hi"}}]


def _config(key_ref: str) -> bytes:
    return yaml.safe_dump({"model_list": MODELS, "general_settings": {"master_key": key_ref}}).encode()


def _chat(gw: GatewayProcess, key: str) -> httpx.Response:
    return httpx.post(f"{gw.base_url}/v1/chat/completions", json={"model": "gpt-4", "messages": [{"role": "user", "content": "x"}]},
                      headers={"Authorization": f"Bearer {key}"}, timeout=30)


def test_config_key_is_in_force_and_a_weak_one_is_rejected(tmp_path: Path) -> None:
    """No generated key is printed, the config's key works (source on /health/config), a switch to sk-1234 is refused."""
    config = tmp_path / "config.yaml"
    config.write_bytes(_config("os.environ/MY_GATEWAY_KEY"))
    gw = GatewayProcess(
        args=["serve", "--config", str(config)],
        env={"LITELLM_MASTER_KEY": "", "MY_GATEWAY_KEY": CONFIG_KEY, "WEAK_KEY": "sk-1234",
             "LITELLM_YAML_STORAGE_PATH": str(tmp_path / "applied" / "config.yaml"), "GATEWAY_FILE_POLL_INTERVAL": "0.1"},
        log_path=tmp_path / "gateway.log",
        master_key=CONFIG_KEY,
    ).start()
    try:
        health = gw.health()
        assert health["master_key_source"] == "general_settings.master_key (os.environ/MY_GATEWAY_KEY)"
        assert CONFIG_KEY not in httpx.get(f"{gw.base_url}/health/config").text
        assert _chat(gw, CONFIG_KEY).status_code == 200
        assert _chat(gw, "sk-1234").status_code == 401

        weak = _config("os.environ/WEAK_KEY")
        config.write_bytes(weak)
        digest = hashlib.sha256(weak).hexdigest()
        rejected = wait_until(lambda: (h := gw.health())["last_rejected"] and h["last_rejected"]["sha256"] == digest and h,
                              timeout=30, what="rejection of the weak key")
        [error] = rejected["last_rejected"]["errors"]
        assert error["path"] == "general_settings.master_key" and "too weak" in error["message"]
        assert _chat(gw, "sk-1234").status_code == 401
        assert _chat(gw, CONFIG_KEY).status_code == 200
    finally:
        gw.stop()
    log = (tmp_path / "gateway.log").read_text()
    assert "generated one for this local run" not in log
    assert "Master key: general_settings.master_key (os.environ/MY_GATEWAY_KEY)" in log
    assert CONFIG_KEY not in log
