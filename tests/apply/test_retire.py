"""Live applies do not accumulate LiteLLM global state (issue 8, item 11; gateway.apply.retire).

Every apply here changes every deployment's parameters, so every apply brings new
deployment ids: before the fix each one stayed in ``litellm.model_cost`` for good
(6.6 KB each in the gateway process). These check values, not timing: which ids
the cost map holds, the callback list lengths, whether the retired Router can be
collected, and that the current Router still answers.
"""

from __future__ import annotations

import gc
import weakref
from typing import Any

import litellm
import yaml
from litellm.proxy import proxy_server as ps

from gateway.apply import retire
from gateway.apply.litellm_proxy import CALLBACK_LISTS, ProxyApplier
from gateway.apply.retire import RetiredRouters
from gateway.release import Release
from gateway.validation import semantics

DEPLOYMENTS = 5
APPLIES = 6

_APPLIER: ProxyApplier | None = None


def _applier() -> ProxyApplier:
    """One applier per process, as in a worker: LiteLLM's globals outlive any single test."""
    global _APPLIER
    if _APPLIER is None:
        _APPLIER = ProxyApplier(env={})
    return _APPLIER


def _config(tag: str, *, priced: bool = False) -> dict[str, Any]:
    """``tag`` is in every deployment's parameters, so each tag gives new deployment ids."""
    models = []
    for j in range(DEPLOYMENTS):
        params: dict[str, Any] = {"model": f"openai/retire-m{j}", "mock_response": f"reply-{tag}"}
        if priced:
            params |= {"input_cost_per_token": 0.001, "output_cost_per_token": 0.002}
        models.append({"model_name": f"retire-m{j % 2}", "litellm_params": params})
    return {"model_list": models}


async def _apply(config: dict[str, Any]) -> None:
    data = yaml.safe_dump(config).encode()
    await _applier().apply(Release.from_bytes(data, origin="test"), config)


def _router_ids(router: Any) -> set[str]:
    return set(retire.deployment_ids([router]))


def _deployment_keys() -> set[str]:
    """The cost-map keys a Router registered for its deployments."""
    return {key for key, entry in litellm.model_cost.items() if isinstance(entry, dict) and entry.get("id") == key}


async def test_retired_deployment_ids_leave_the_cost_map() -> None:
    await _apply(_config("start"))
    size_after_first = len(litellm.model_cost)
    retired: set[str] = set()
    for i in range(APPLIES):
        retired |= _router_ids(ps.llm_router)
        await _apply(_config(f"a{i}"))
    current = _router_ids(ps.llm_router)
    assert len(current) == DEPLOYMENTS and not current & retired
    assert not retired & set(litellm.model_cost), "ids of retired deployments are still in litellm.model_cost"
    assert current <= set(litellm.model_cost)
    assert len(litellm.model_cost) == size_after_first


async def test_validation_routers_leave_nothing_behind() -> None:
    """Validation's throw-away Router registers its own ids (different ones when an identity binds a deployment)."""
    await _apply(_config("before-validation"))
    throwaway = [semantics.deployment_for_router(e) for e in _config("validated-only")["model_list"]]
    assert semantics.check_router(throwaway, {}) == []
    registered = _deployment_keys() - _router_ids(ps.llm_router)
    assert registered, "the throw-away Router registered no ids; this test no longer tests anything"
    await _apply(_config("after-validation"))
    assert _deployment_keys() == _router_ids(ps.llm_router)


async def test_callback_lists_do_not_grow() -> None:
    await _apply(_config("callbacks-start"))
    before = {name: len(getattr(litellm, name)) for name in CALLBACK_LISTS}
    for i in range(APPLIES):
        assert semantics.check_router([semantics.deployment_for_router(e) for e in _config(f"cv{i}")["model_list"]], {}) == []
        await _apply(_config(f"c{i}"))
    assert {name: len(getattr(litellm, name)) for name in CALLBACK_LISTS} == before


async def test_retired_router_is_collectable_and_current_one_serves() -> None:
    await _apply(_config("collect-start"))
    old = weakref.ref(ps.llm_router)
    await _apply(_config("collect-next"))
    gc.collect()
    assert old() is None, "something still holds the retired Router"
    assert ps.llm_router is not None
    response = await ps.llm_router.acompletion(model="retire-m1", messages=[{"role": "user", "content": "hi"}])
    assert response.choices[0].message.content == "reply-collect-next"


async def test_priced_ids_outlive_the_apply_that_retires_them() -> None:
    """A deployment with its own pricing is billed by id when its request ends: its entry outlives the apply."""
    applier = ProxyApplier(env={})  # its own held retirements, so the other tests see none
    held: set[str] = set()
    for tag, priced in (("priced-old", True), ("priced-new", False)):
        config = _config(tag, priced=priced)
        await applier.apply(Release.from_bytes(yaml.safe_dump(config).encode(), origin="test"), config)
        if priced:
            held = _router_ids(ps.llm_router)
    assert held <= set(litellm.model_cost), "a request in flight on the retired Router would lose its pricing"
    await _apply(_config("priced-other-applier"))  # holds nothing: the grace is per applier
    assert not held & set(litellm.model_cost)


async def test_priced_ids_are_held_for_the_grace_only() -> None:
    router = litellm.Router(model_list=[e for e in _config("grace", priced=True)["model_list"]])
    router.discard()
    ids = _router_ids(router)
    held = RetiredRouters(grace_s=3600, trim=False)
    report = await held.retire(router)
    assert report.held_ids == len(ids) and ids <= set(litellm.model_cost)
    report = await RetiredRouters(grace_s=0, trim=False).retire(router)
    assert report.held_ids == 0 and not ids & set(litellm.model_cost)


async def test_held_retirements_are_capped() -> None:
    held = RetiredRouters(grace_s=3600, keep_retired=2, trim=False)
    routers = []
    for i in range(3):
        router = litellm.Router(model_list=_config(f"cap{i}", priced=True)["model_list"])
        router.discard()
        routers.append(router)
        report = await held.retire(router)
    assert report.held_ids == 2 * DEPLOYMENTS
    assert not _router_ids(routers[0]) & set(litellm.model_cost)


def test_malloc_trim_never_raises(monkeypatch: Any) -> None:
    assert retire.malloc_trim() in (True, False)

    def no_libc(_name: Any) -> Any:
        raise OSError("no C library here")

    monkeypatch.setattr(retire, "_libc", None)
    monkeypatch.setattr(retire.ctypes, "CDLL", no_libc)
    assert retire.malloc_trim() is False
