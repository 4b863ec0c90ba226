"""Databricks service principals per deployment, through a real LiteLLM Router and the DatabricksAuthHook."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from gateway.identity import (
    AZURE_DATABRICKS_SCOPE,
    CredentialRegistry,
    DatabricksTokenCache,
    IdentityBindingError,
    bind_identities,
)
from gateway.identity.hook import DatabricksAuthHook
from tests.fakes.fake_llm_server import FakeLLMServer
from tests.fakes.token_server import FakeTokenServer
from tests.identity._support import ask, make_router

MODEL = "databricks/databricks-meta-llama-3-1-70b-instruct"


def seed_databricks(workspace: FakeLLMServer, model_name: str, client_id: str, secret: str,
                    tenant_id: str | None) -> dict[str, Any]:
    """The seed README's Databricks entry, os.environ/ references resolved, api_base on loopback."""
    params: dict[str, Any] = {
        "model": MODEL,
        "api_base": f"{workspace.base_url}/serving-endpoints",
        "client_id": client_id,
        "client_secret": secret,
    }
    if tenant_id is not None:
        params["tenant_id"] = tenant_id
    return {"model_name": model_name, "litellm_params": params}


async def test_entra_and_m2m_service_principals_each_send_their_own_token(
    registry: CredentialRegistry, dbx_cache: DatabricksTokenCache, dbx_hook: DatabricksAuthHook,
    token_server: FakeTokenServer, llm_servers: Callable[[str], FakeLLMServer], uid: str,
) -> None:
    """An Entra SP (tenant_id) and a Databricks OAuth SP (no tenant_id) each authenticate their own deployment."""
    workspace = llm_servers("workspace")
    entra_id, m2m_id = f"dbx-entra-{uid}", f"dbx-m2m-{uid}"
    token_server.register_secret(entra_id, "entra-secret")
    token_server.register_secret(m2m_id, "m2m-secret")
    model_list = [
        seed_databricks(workspace, "llama-entra", entra_id, "entra-secret", f"tenant-{uid}"),
        seed_databricks(workspace, "llama-m2m", m2m_id, "m2m-secret", None),
        {"model_name": "llama-pat", "litellm_params": {"model": MODEL, "api_base": f"{workspace.base_url}/serving-endpoints",
                                                        "api_key": f"dapi-{uid}"}},
    ]

    bound = bind_identities(model_list, registry, dbx_cache)
    router = make_router(bound)
    for _ in range(4):
        await ask(router, "llama-entra")
        await ask(router, "llama-m2m")
    await asyncio.gather(*(ask(router, name) for name in ("llama-entra", "llama-m2m") * 4))
    await ask(router, "llama-pat")

    bearers = [r.bearer for r in workspace.requests]
    assert bearers.count(f"tok-{entra_id}-1") == 8
    assert bearers.count(f"tok-{m2m_id}-1") == 8
    assert bearers[-1] == f"dapi-{uid}"
    assert all(r.path == "/serving-endpoints/chat/completions" for r in workspace.requests)
    assert token_server.fetches(entra_id) == 1 and token_server.fetches(m2m_id) == 1
    (entra_req,) = token_server.requests_for(entra_id)
    assert (entra_req.flow, entra_req.scope, entra_req.tenant) == ("entra_secret", AZURE_DATABRICKS_SCOPE, f"tenant-{uid}")
    (m2m_req,) = token_server.requests_for(m2m_id)
    assert (m2m_req.flow, m2m_req.scope) == ("databricks_m2m", "all-apis")
    assert [i.kind for i in bound.identities] == ["databricks_entra", "databricks_m2m", "unchanged"]
    for entry in bound.model_list[:2]:
        assert not {"client_id", "client_secret", "tenant_id"} & set(entry["litellm_params"])
    assert "entra-secret" not in repr(bound) and "m2m-secret" not in repr(bound)


async def test_databricks_token_survives_a_second_apply(
    registry: CredentialRegistry, dbx_cache: DatabricksTokenCache, dbx_hook: DatabricksAuthHook,
    token_server: FakeTokenServer, llm_servers: Callable[[str], FakeLLMServer], uid: str,
) -> None:
    """Re-binding an unchanged config keeps the cached Databricks token; a rotated secret gets a new one."""
    workspace = llm_servers("workspace")
    client_id = f"dbx-{uid}"
    model_list = [seed_databricks(workspace, "llama", client_id, "s1", None)]

    first = bind_identities(model_list, registry, dbx_cache)
    await ask(make_router(first), "llama")
    second = bind_identities(model_list, registry, dbx_cache)
    await ask(make_router(second), "llama")
    assert token_server.fetches(client_id) == 1
    assert first.databricks_keys == second.databricks_keys

    rotated = [seed_databricks(workspace, "llama", client_id, "s2", None)]
    third = bind_identities(rotated, registry, dbx_cache)
    dbx_cache.prune(third.databricks_keys)
    await ask(make_router(third), "llama")

    assert token_server.fetches(client_id) == 2
    assert workspace.requests[-1].bearer == f"tok-{client_id}-2"
    assert dbx_cache.keys() == third.databricks_keys


async def test_m2m_token_failure_fails_over_and_names_the_identity(
    registry: CredentialRegistry, dbx_cache: DatabricksTokenCache, dbx_hook: DatabricksAuthHook,
    token_server: FakeTokenServer, llm_servers: Callable[[str], FakeLLMServer], uid: str,
) -> None:
    """A service principal whose secret is refused fails its own deployment only; the group's other one serves."""
    workspace = llm_servers("workspace")
    bad_id, good_id = f"dbx-bad-{uid}", f"dbx-good-{uid}"
    token_server.register_secret(bad_id, "the-real-secret")
    model_list = [
        seed_databricks(workspace, "llama", bad_id, "wrong-secret", None),
        seed_databricks(workspace, "llama", good_id, "fine", None),
    ]
    bound = bind_identities(model_list, registry, dbx_cache)

    failures = dbx_cache.prefetch(bound.databricks_keys)
    router = make_router(bound)
    for _ in range(6):
        assert (await ask(router, "llama")).startswith("workspace:")

    assert list(failures) == [f"databricks_m2m client_id={bad_id} workspace={workspace.base_url}"]
    assert "HTTP 401 (invalid_client)" in failures[list(failures)[0]]
    assert "wrong-secret" not in str(failures)
    assert {r.bearer for r in workspace.requests} == {f"tok-{good_id}-1"}


def test_incomplete_service_principal_is_rejected_naming_the_deployment(
    registry: CredentialRegistry, dbx_cache: DatabricksTokenCache,
) -> None:
    """A client_id without a secret (unset env var) and an empty Azure client_id are errors naming each deployment."""
    model_list = [
        {"model_name": "gpt-4", "litellm_params": {"model": "azure/gpt-4", "api_base": "https://e.example",
                                                   "client_id": "ok"}},
        {"model_name": "gpt-4", "litellm_params": {"model": "azure/gpt-4", "api_base": "https://w.example",
                                                   "client_id": None}},
        {"model_name": "llama", "litellm_params": {"model": MODEL, "api_base": "https://adb.example/serving-endpoints",
                                                   "client_id": "sp", "client_secret": None}},
        {"model_name": "llama2", "litellm_params": {"model": MODEL, "client_id": "sp", "client_secret": "hunter2"}},
    ]

    with pytest.raises(IdentityBindingError) as caught:
        bind_identities(model_list, registry, dbx_cache)

    messages = [issue.message for issue in caught.value.issues]
    assert [issue.path for issue in caught.value.issues] == [
        "model_list[1].litellm_params.client_id",
        "model_list[2].litellm_params.client_secret",
        "model_list[3].litellm_params.api_base",
    ]
    assert messages[0].startswith("model_list[1] (gpt-4): ")
    assert messages[1].startswith("model_list[2] (llama): ")
    assert messages[2].startswith("model_list[3] (llama2): ")
    assert "hunter2" not in str(caught.value)
    assert dbx_cache.keys() == frozenset()


async def test_process_env_sp_makes_litellm_fetch_per_request_so_binding_warns(
    registry: CredentialRegistry, dbx_cache: DatabricksTokenCache, dbx_hook: DatabricksAuthHook,
    token_server: FakeTokenServer, llm_servers: Callable[[str], FakeLLMServer], uid: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With DATABRICKS_CLIENT_ID/SECRET in the env LiteLLM fetches an M2M token per request; the deployment's token still wins and binding warns."""
    workspace = llm_servers("workspace")
    env_id, dep_id = f"env-sp-{uid}", f"dep-sp-{uid}"
    monkeypatch.setenv("DATABRICKS_CLIENT_ID", env_id)
    monkeypatch.setenv("DATABRICKS_CLIENT_SECRET", "env-secret")
    bound = bind_identities([seed_databricks(workspace, "llama", dep_id, "s", None)], registry, dbx_cache)
    router = make_router(bound)

    for _ in range(3):
        await ask(router, "llama")

    assert any("DATABRICKS_CLIENT_ID" in w for w in bound.warnings)
    assert {r.bearer for r in workspace.requests} == {f"tok-{dep_id}-1"}
    assert token_server.fetches(dep_id) == 1
    assert token_server.fetches(env_id) == 3  # LiteLLM's own per-request fetch (FACTS.md), wasted


async def test_unfetchable_token_is_a_503_naming_no_service_principal(
    registry: CredentialRegistry, dbx_cache: DatabricksTokenCache, dbx_hook: DatabricksAuthHook,
    token_server: FakeTokenServer, llm_servers: Callable[[str], FakeLLMServer], uid: str,
) -> None:
    """A service principal whose token cannot be fetched: the caller gets a 503 upstream-credential error, no client id."""
    import litellm

    workspace = llm_servers("workspace")
    client_id = f"dbx-secret-sp-{uid}"
    token_server.register_secret(client_id, "the-real-secret")
    bound = bind_identities([seed_databricks(workspace, "llama", client_id, "wrong", None)], registry, dbx_cache)
    router = make_router(bound, num_retries=0)

    with pytest.raises(litellm.ServiceUnavailableError) as caught:
        await ask(router, "llama")

    assert caught.value.status_code == 503
    assert client_id not in str(caught.value) and workspace.base_url not in str(caught.value)
    assert workspace.requests == []
    [stats] = dbx_cache.stats.values()
    assert stats.failing_since is not None and "HTTP 401" in (stats.last_error or "")
