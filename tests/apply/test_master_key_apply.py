"""Item 1: exactly one key authenticates, and a config that stops naming one gives LITELLM_MASTER_KEY back."""

from __future__ import annotations

import yaml
from litellm.proxy import proxy_server as ps
from litellm.proxy.utils import hash_token

from gateway.apply.litellm_proxy import ProxyApplier
from gateway.release import Release

ENV_KEY = "sk-env-" + "e" * 32
CONFIG_KEY = "sk-cfg-" + "c" * 32
MODELS = [{"model_name": "m", "litellm_params": {"model": "openai/m", "mock_response": "x"}}]


async def _apply(applier: ProxyApplier, config: dict) -> str:
    result = await applier.apply(Release.from_bytes(yaml.safe_dump(config).encode(), origin="test"), config)
    return result.master_key_source


async def test_config_key_replaces_env_key_and_removal_restores_it() -> None:
    """Config key in force while named (source shown), LITELLM_MASTER_KEY again once the config drops it."""
    applier = ProxyApplier(env={"LITELLM_MASTER_KEY": ENV_KEY, "MY_GATEWAY_KEY": CONFIG_KEY})
    source = await _apply(applier, {"model_list": MODELS, "general_settings": {"master_key": "os.environ/MY_GATEWAY_KEY"}})
    assert source == "general_settings.master_key (os.environ/MY_GATEWAY_KEY)"
    assert ps.master_key == CONFIG_KEY and ps.litellm_master_key_hash == hash_token(CONFIG_KEY)
    source = await _apply(applier, {"model_list": MODELS})
    assert source == "LITELLM_MASTER_KEY"
    assert ps.master_key == ENV_KEY and ps.litellm_master_key_hash == hash_token(ENV_KEY)
