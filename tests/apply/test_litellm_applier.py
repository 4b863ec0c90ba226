"""The in-process applier fixes what LiteLLM's own load_config gets wrong on a re-apply.

These run the real LiteLLM proxy module in this process and inspect its globals,
which the HTTP-level tests cannot see.
"""

from __future__ import annotations

import asyncio
from typing import Any

import litellm
import pytest
import yaml
from litellm.proxy import proxy_server as ps

from gateway.apply.litellm_proxy import ProxyApplier
from gateway.errors import ApplyError
from gateway.release import Release

CALLBACK_LISTS = ("callbacks", "success_callback", "failure_callback", "_async_success_callback", "_async_failure_callback")


def _config(reply: str = "one", *, settings: dict[str, Any] | None = None, extra_model: bool = False, router: dict | None = None) -> dict:
    models = [{"model_name": "m", "litellm_params": {"model": "openai/m", "mock_response": reply}}]
    if extra_model:
        models.append({"model_name": "m2", "litellm_params": {"model": "openai/m2", "mock_response": "two"}})
    config: dict[str, Any] = {"model_list": models}
    if settings is not None:
        config["litellm_settings"] = settings
    if router is not None:
        config["router_settings"] = router
    return config


async def _apply(applier: ProxyApplier, config: dict) -> None:
    data = yaml.safe_dump(config).encode()
    await applier.apply(Release.from_bytes(data, origin="test"), config)


def _callback_counts() -> dict[str, int]:
    return {name: len(getattr(litellm, name)) for name in CALLBACK_LISTS}


async def _ask(text: str = "hi", model: str = "m") -> Any:
    assert ps.llm_router is not None
    return await ps.llm_router.acompletion(model=model, messages=[{"role": "user", "content": text}])


_APPLIER: ProxyApplier | None = None


@pytest.fixture
def applier() -> ProxyApplier:
    """One applier per process, as in a worker: LiteLLM's globals outlive any single test."""
    global _APPLIER
    if _APPLIER is None:
        _APPLIER = ProxyApplier(env={})
    return _APPLIER


async def test_callbacks_do_not_pile_up(applier: ProxyApplier) -> None:
    """Ten applies of a config with a callback leave exactly as many callbacks as one apply."""
    cfg = _config(settings={"callbacks": ["tests.support.callbacks.counter"]})
    await _apply(applier, cfg)
    after_one = _callback_counts()
    for i in range(10):
        await _apply(applier, _config(reply=f"r{i}", settings={"callbacks": ["tests.support.callbacks.counter"]}))
    assert _callback_counts() == after_one
    from tests.support.callbacks import counter

    assert sum(cb is counter for cb in litellm.callbacks) == 1


async def test_removed_callback_is_removed(applier: ProxyApplier) -> None:
    """A callback dropped from the config stops being called."""
    from tests.support.callbacks import counter

    await _apply(applier, _config(settings={"callbacks": ["tests.support.callbacks.counter"]}))
    assert any(cb is counter for cb in litellm.callbacks)
    await _apply(applier, _config(settings={}))
    assert not any(cb is counter for name in CALLBACK_LISTS for cb in getattr(litellm, name))


async def test_removed_litellm_settings_key_returns_to_default(applier: ProxyApplier) -> None:
    """drop_params and num_retries go back to LiteLLM's defaults when the key disappears."""
    default_drop, default_retries = litellm.drop_params, litellm.num_retries
    await _apply(applier, _config(settings={"drop_params": True, "num_retries": 7}))
    assert (litellm.drop_params, litellm.num_retries) == (True, 7)
    await _apply(applier, _config(settings={}))
    assert (litellm.drop_params, litellm.num_retries) == (default_drop, default_retries)


async def test_cache_false_really_turns_the_cache_off(applier: ProxyApplier) -> None:
    """cache: true installs a response cache; cache: false removes it and the router stops caching."""
    await _apply(applier, _config(settings={"cache": True, "cache_params": {"type": "local"}}))
    assert litellm.cache is not None and ps.llm_router is not None and ps.llm_router.cache_responses
    await _apply(applier, _config(settings={"cache": False}))
    assert litellm.cache is None and not ps.llm_router.cache_responses


async def test_cached_responses_are_flushed_when_deployments_change(applier: ProxyApplier) -> None:
    """A cached answer from the old deployment is not served after mock_response changes."""
    settings = {"cache": True, "cache_params": {"type": "local"}}
    await _apply(applier, _config("old answer", settings=settings))
    first = await _ask("same question")
    again = await _ask("same question")
    assert first.choices[0].message.content == again.choices[0].message.content == "old answer"
    await asyncio.sleep(0.2)  # the cache write is asynchronous
    assert (await _ask("same question"))._hidden_params.get("cache_hit") is True
    await _apply(applier, _config("new answer", settings=settings))
    assert (await _ask("same question")).choices[0].message.content == "new answer"


async def test_cache_survives_an_unrelated_change(applier: ProxyApplier) -> None:
    """A settings-only change keeps the same cache object (no needless flush)."""
    await _apply(applier, _config(settings={"cache": True, "cache_params": {"type": "local"}, "drop_params": True}))
    cache = litellm.cache
    await _apply(applier, _config(settings={"cache": True, "cache_params": {"type": "local"}, "drop_params": False}))
    assert litellm.cache is cache


async def test_old_router_is_retired_and_inflight_request_finishes(applier: ProxyApplier) -> None:
    """A request that started on the old router completes; the old router's callbacks are unhooked."""
    await _apply(applier, _config("slow old"))
    old = ps.llm_router
    assert old is not None
    inflight = asyncio.create_task(old.acompletion(model="m", messages=[{"role": "user", "content": "x"}], mock_delay=0.5))
    await asyncio.sleep(0.05)
    await _apply(applier, _config("new"))
    assert ps.llm_router is not old
    assert (await inflight).choices[0].message.content == "slow old"
    assert not any(getattr(cb, "__self__", None) is old for name in CALLBACK_LISTS for cb in getattr(litellm, name))


async def test_router_settings_change_takes_effect(applier: ProxyApplier) -> None:
    """A model_group_alias added in router_settings routes a new name to an existing group."""
    await _apply(applier, _config("aliased"))
    with pytest.raises(litellm.BadRequestError, match="gpt-4o"):  # no such model group yet
        await _ask(model="gpt-4o")
    await _apply(applier, _config("aliased", router={"model_group_alias": {"gpt-4o": "m"}}))
    assert (await _ask(model="gpt-4o")).choices[0].message.content == "aliased"


async def test_failed_prepare_keeps_the_previous_router(applier: ProxyApplier) -> None:
    """A config LiteLLM cannot build a router from raises ApplyError and changes nothing."""
    await _apply(applier, _config("still here"))
    before = ps.llm_router
    with pytest.raises(ApplyError, match="routing_strategy"):
        await _apply(applier, _config("never", router={"routing_strategy": "nope"}))
    assert ps.llm_router is before
    assert (await _ask()).choices[0].message.content == "still here"


async def test_databricks_hook_is_installed_only_while_needed() -> None:
    """The Databricks token hook joins litellm.callbacks with a service-principal deployment and leaves with it."""
    from gateway.identity.deployments import DeploymentIdentities

    identities = DeploymentIdentities()
    applier = ProxyApplier(env={}, bind_deployments=identities.bind, gateway_callbacks=identities.callbacks)
    dbx = {
        "model_name": "llama",
        "litellm_params": {
            "model": "databricks/llama",
            "api_base": "http://127.0.0.1:9/serving-endpoints",
            "client_id": "sp-client",
            "client_secret": "sp-secret",
        },
    }
    await _apply(applier, {"model_list": [dbx, *_config()["model_list"]]})
    assert sum(cb is identities.hook for cb in litellm.callbacks) == 1
    await _apply(applier, _config("no databricks"))
    assert not any(cb is identities.hook for cb in litellm.callbacks)
