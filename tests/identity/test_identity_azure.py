"""Per-deployment Azure identities through a real LiteLLM Router, real azure-identity, fake IdP and endpoints."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.identity import (
    CredentialRegistry,
    DatabricksTokenCache,
    IdentitySpec,
    bind_identities,
)
from tests.fakes.fake_llm_server import FakeLLMServer
from tests.fakes.token_server import SYSTEM_ASSIGNED, FakeTokenServer
from tests.identity._support import Regions, ask, make_router, seed_quick_start


async def test_each_region_sends_its_own_identity_token(
    registry: CredentialRegistry, dbx_cache: DatabricksTokenCache, token_server: FakeTokenServer,
    regions: Regions,
) -> None:
    """The east deployment authenticates as the east managed identity and the west one as the west identity."""
    east, west, east_id, west_id = regions.east, regions.west, regions.east_id, regions.west_id
    model_list = regions.model_list()
    bound = bind_identities(model_list, registry, dbx_cache)
    router = make_router(bound)

    for _ in range(16):
        await ask(router)

    assert east.ok_requests() and west.ok_requests(), "simple-shuffle should have used both regions"
    assert {r.bearer for r in east.ok_requests()} == {f"tok-{east_id}-1"}
    assert {r.bearer for r in west.ok_requests()} == {f"tok-{west_id}-1"}
    assert all(r.api_key is None for r in east.requests + west.requests)
    assert [i.kind for i in bound.identities] == ["managed_identity", "managed_identity"]
    assert [i.client_id for i in bound.identities] == [east_id, west_id]


async def test_tokens_are_cached_one_fetch_per_identity(
    registry: CredentialRegistry, dbx_cache: DatabricksTokenCache, token_server: FakeTokenServer,
    regions: Regions,
) -> None:
    """Twenty requests, sequential and concurrent, cost exactly one token fetch per identity."""
    east, west, east_id, west_id = regions.east, regions.west, regions.east_id, regions.west_id
    router = make_router(bind_identities(regions.model_list(), registry, dbx_cache))

    for _ in range(5):
        await ask(router)
    await asyncio.gather(*(ask(router) for _ in range(15)))

    assert len(east.ok_requests()) + len(west.ok_requests()) == 20
    assert token_server.fetches(east_id) == 1
    assert token_server.fetches(west_id) == 1
    assert registry.token_provider(IdentitySpec("managed_identity", east_id)).stats.fetches == 1
    assert {r.flow for r in token_server.requests_for(east_id)} == {"app_service"}
    assert {r.scope for r in token_server.requests_for(east_id)} == {"https://cognitiveservices.azure.com"}


async def test_token_is_refreshed_before_it_expires(
    registry: CredentialRegistry, dbx_cache: DatabricksTokenCache, token_server: FakeTokenServer,
    regions: Regions,
) -> None:
    """A token 5 minutes from expiry is replaced in the background while requests keep flowing."""
    east, east_id = regions.east, regions.east_id
    token_server.set_expires_in(east_id, 302)  # enters the 300 s refresh window after 2 s
    model_list = regions.model_list()[:1]
    router = make_router(bind_identities(model_list, registry, dbx_cache))
    provider = registry.token_provider(IdentitySpec("managed_identity", east_id))

    await ask(router)
    assert east.requests[-1].bearer == f"tok-{east_id}-1"
    await asyncio.sleep(2.3)
    await ask(router)  # still-valid token served at once; refresh starts in the background
    deadline = time.monotonic() + 5
    while provider.stats.fetches < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await ask(router)

    assert east.requests[-1].bearer == f"tok-{east_id}-2"
    assert token_server.fetches(east_id) == 2
    assert provider.stats.background_refreshes == 1


async def test_credentials_and_providers_survive_a_second_apply(
    registry: CredentialRegistry, dbx_cache: DatabricksTokenCache, token_server: FakeTokenServer,
    regions: Regions,
) -> None:
    """Binding the same config twice reuses the credential and provider objects and their cached token."""
    east, west, east_id, west_id = regions.east, regions.west, regions.east_id, regions.west_id
    model_list = regions.model_list()
    first = bind_identities(model_list, registry, dbx_cache)
    assert registry.prefetch() == {}  # what the applier does in a worker thread before the swap
    credential = registry.credential(IdentitySpec("managed_identity", east_id))
    await ask(make_router(first))

    second = bind_identities(model_list, registry, dbx_cache)
    router2 = make_router(second)
    for _ in range(6):
        await ask(router2)

    for a, b in zip(first.model_list, second.model_list, strict=True):
        assert a["litellm_params"]["azure_ad_token_provider"] is b["litellm_params"]["azure_ad_token_provider"]
    assert registry.credential(IdentitySpec("managed_identity", east_id)) is credential
    assert token_server.fetches(east_id) == 1 and token_server.fetches(west_id) == 1
    assert {r.bearer for r in east.requests + west.requests} <= {f"tok-{east_id}-1", f"tok-{west_id}-1"}


async def test_workload_identity_per_deployment_token_file(
    registry: CredentialRegistry, dbx_cache: DatabricksTokenCache, token_server: FakeTokenServer,
    llm_servers: Callable[[str], FakeLLMServer], uid: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """AKS workload identity: each deployment exchanges its federated token (own file or the pod's) for its own client id."""
    east, west = llm_servers("east"), llm_servers("west")
    east_file, pod_file = tmp_path / "east.jwt", tmp_path / "pod.jwt"
    east_file.write_text(f"federated-east-{uid}")
    pod_file.write_text(f"federated-pod-{uid}")
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(pod_file))
    monkeypatch.setenv("AZURE_TENANT_ID", f"tenant-{uid}")
    east_id, west_id = f"wi-east-{uid}", f"wi-west-{uid}"
    model_list = seed_quick_start(east, west, east_id, west_id)
    model_list[0]["litellm_params"]["azure_federated_token_file"] = str(east_file)
    del model_list[1]["litellm_params"]["tenant_id"]  # falls back to AZURE_TENANT_ID

    bound = bind_identities(model_list, registry, dbx_cache)
    assert registry.prefetch() == {}
    router = make_router(bound)
    for _ in range(10):
        await ask(router)

    assert [i.kind for i in bound.identities] == ["workload_identity", "workload_identity"]
    assert {r.bearer for r in east.ok_requests()} <= {f"tok-{east_id}-1"}
    assert {r.bearer for r in west.ok_requests()} <= {f"tok-{west_id}-1"}
    assert len(east.ok_requests()) + len(west.ok_requests()) == 10
    (east_req,) = token_server.requests_for(east_id)
    assert (east_req.flow, east_req.assertion, east_req.tenant) == ("entra_assertion", f"federated-east-{uid}", "tenant-seed")
    (west_req,) = token_server.requests_for(west_id)
    assert (west_req.flow, west_req.assertion, west_req.tenant) == ("entra_assertion", f"federated-pod-{uid}", f"tenant-{uid}")


@pytest.mark.parametrize("where", ["deployment", "global"])
async def test_system_assigned_identity_when_no_client_id(
    registry: CredentialRegistry, dbx_cache: DatabricksTokenCache, token_server: FakeTokenServer,
    llm_servers: Callable[[str], FakeLLMServer], where: str,
) -> None:
    """Without client_id, the per-deployment or global enable_azure_ad_token_refresh flag means the host's own identity."""
    server = llm_servers("east")
    entry: dict[str, Any] = {
        "model_name": "gpt-4",
        "litellm_params": {"model": "azure/gpt-4-eastus", "api_base": server.base_url, "api_version": "2024-02-01"},
    }
    settings = None
    if where == "deployment":
        entry["litellm_settings"] = {"enable_azure_ad_token_refresh": True}
    else:
        settings = {"enable_azure_ad_token_refresh": True}
    before = token_server.fetches(SYSTEM_ASSIGNED)

    bound = bind_identities([entry], registry, dbx_cache, litellm_settings=settings)
    router = make_router(bound)
    for _ in range(3):
        await ask(router)

    assert bound.identities[0].kind == "system_assigned"
    assert bound.identities[0].client_id is None
    assert all(r.bearer and r.bearer.startswith(f"tok-{SYSTEM_ASSIGNED}-") for r in server.requests)
    assert token_server.fetches(SYSTEM_ASSIGNED) == before + 1


async def test_api_key_deployment_is_left_alone(
    registry: CredentialRegistry, dbx_cache: DatabricksTokenCache, token_server: FakeTokenServer,
    llm_servers: Callable[[str], FakeLLMServer], uid: str,
) -> None:
    """A deployment with api_key keeps it and sends it, even with the global identity flag on."""
    server = llm_servers("east")
    entry = {
        "model_name": "gpt-4",
        "litellm_params": {"model": "azure/gpt-4-eastus", "api_base": server.base_url, "api_version": "2024-02-01",
                           "api_key": f"key-{uid}"},
    }
    before = len(token_server.state.requests)

    bound = bind_identities([entry], registry, dbx_cache, litellm_settings={"enable_azure_ad_token_refresh": True})
    await ask(make_router(bound))

    assert bound.model_list == [entry]
    assert bound.identities[0].kind == "unchanged" and "api_key" in bound.identities[0].reason
    assert server.requests[-1].api_key == f"key-{uid}"
    assert server.requests[-1].authorization is None
    assert len(token_server.state.requests) == before
    assert bound.azure_specs == frozenset()


async def test_azure_ai_deployment_gets_its_identity_token(
    registry: CredentialRegistry, dbx_cache: DatabricksTokenCache, token_server: FakeTokenServer,
    llm_servers: Callable[[str], FakeLLMServer], uid: str,
) -> None:
    """azure_ai/ deployments (Azure AI Foundry) take the same per-deployment provider as azure/ ones."""
    server = llm_servers("foundry")
    client_id = f"foundry-{uid}"
    entry = {
        "model_name": "phi",
        "litellm_params": {"model": "azure_ai/phi-4", "api_base": server.base_url, "client_id": client_id},
    }

    bound = bind_identities([entry], registry, dbx_cache)
    await ask(make_router(bound), "phi")
    await ask(make_router(bound), "phi")

    assert bound.identities[0].kind == "managed_identity"
    assert [r.bearer for r in server.requests] == [f"tok-{client_id}-1"] * 2


def test_binding_never_mutates_its_input_and_strips_hints(
    registry: CredentialRegistry, dbx_cache: DatabricksTokenCache, uid: str,
) -> None:
    """bind_identities returns new entries without client_id/tenant_id/litellm_settings and leaves the input as it was."""
    model_list = [
        {
            "model_name": "gpt-4",
            "litellm_params": {"model": "azure/gpt-4-eastus", "api_base": "https://e.example", "client_id": f"c-{uid}",
                               "tenant_id": "t"},
            "litellm_settings": {"enable_azure_ad_token_refresh": True, "drop_params": True},
            "model_info": {"id": "east-1"},
        },
        {"model_name": "other", "litellm_params": {"model": "openai/gpt-4o", "api_key": "sk-x"}},
    ]
    snapshot = copy.deepcopy(model_list)

    bound = bind_identities(model_list, registry, dbx_cache)

    assert model_list == snapshot
    first = bound.model_list[0]
    assert "litellm_settings" not in first
    assert set(first["litellm_params"]) == {"model", "api_base", "azure_ad_token_provider"}
    assert first["model_info"] == {"id": "east-1"}
    assert bound.model_list[1] == model_list[1]
    assert any("drop_params" in w and "model_list[0] (gpt-4)" in w for w in bound.warnings)
    assert bound.identities[0].as_dict()["deployment"] == "model_list[0] (gpt-4)"


def test_no_flag_and_no_client_id_means_no_identity(registry: CredentialRegistry, dbx_cache: DatabricksTokenCache) -> None:
    """An Azure deployment that asks for no identity (or switches it off) is not given a token provider."""
    model_list = [
        {"model_name": "a", "litellm_params": {"model": "azure/a", "api_base": "https://a.example"}},
        {"model_name": "b", "litellm_params": {"model": "azure/b", "api_base": "https://b.example", "client_id": "x"},
         "litellm_settings": {"enable_azure_ad_token_refresh": False}},
    ]

    bound = bind_identities(model_list, registry, dbx_cache)

    assert [i.kind for i in bound.identities] == ["unchanged", "unchanged"]
    assert all("azure_ad_token_provider" not in e["litellm_params"] for e in bound.model_list)
    assert bound.model_list[1]["litellm_params"]["client_id"] == "x"


async def test_model_info_masking_never_reveals_the_cached_token(
    registry: CredentialRegistry, dbx_cache: DatabricksTokenCache, llm_servers: Callable[[str], FakeLLMServer], uid: str,
) -> None:
    """What the proxy's /model/info does to a deployment (LiteLLM's masker, then JSON) shows no bearer token."""
    from fastapi.encoders import jsonable_encoder
    from litellm.proxy.common_utils.openai_endpoint_utils import (
        remove_sensitive_info_from_deployment,
    )

    east, west = llm_servers("east"), llm_servers("west")
    router = make_router(bind_identities(seed_quick_start(east, west, f"e-{uid}", f"w-{uid}"), registry, dbx_cache))
    for _ in range(4):
        await ask(router)

    shown = [jsonable_encoder(remove_sensitive_info_from_deployment(copy.deepcopy(d))) for d in router.get_model_list()]

    assert len(shown) == 2
    assert "tok-" not in repr(shown)
    assert all(isinstance(d["litellm_params"]["azure_ad_token_provider"], str) for d in shown)
