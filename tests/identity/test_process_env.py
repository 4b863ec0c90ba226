"""Item 3: process-wide provider settings never reach an identity-bound deployment (the whole kind)."""

from __future__ import annotations

import re
from pathlib import Path

import litellm
import pytest
import yaml

from gateway.identity import (
    CredentialRegistry,
    DatabricksTokenCache,
    IdentityBindingError,
    bind_identities,
    process_env,
)
from gateway.validation import ValidationOptions, validate
from tests.identity._support import Regions, ask, make_router

#: Names LiteLLM reads that are not a deployment's key/endpoint/version fallback: azure-identity's own
#: variables (the gateway's Blob/Service Bus credentials need them) and unrelated integrations.
NOT_DEPLOYMENT_FALLBACKS = re.compile(
    r"^AZURE_(CLIENT_ID|CLIENT_SECRET|TENANT_ID|FEDERATED_TOKEN_FILE|AUTHORITY_HOST|USERNAME|PASSWORD|CERTIFICATE_\w+"
    r"|CREDENTIAL|SCOPE|KEY_VAULT_URI|SENTINEL_\w+|STORAGE_\w+|SPEECH_\w+|DOCUMENT_INTELLIGENCE_\w+"
    r"|DEFAULT_RESPONSES_API_VERSION)$|^DATABRICKS_USER_AGENT$|^OPENAI_CHATGPT_API_BASE$"
)


def test_every_fallback_litellm_reads_is_hidden() -> None:
    """Scan LiteLLM's source: each AZURE_/OPENAI_/DATABRICKS_ variable it reads is hidden or known not to be a fallback."""
    root = Path(litellm.__file__).parent
    pattern = re.compile(r"""(?:get_secret_str|get_secret|os\.getenv|os\.environ\.get)\(\s*["']((?:AZURE|OPENAI|DATABRICKS)_[A-Z0-9_]+)["']""")
    read = {m for path in root.rglob("*.py") for m in pattern.findall(path.read_text(errors="replace"))}
    assert len(read) > 20  # the scan really found LiteLLM's reads
    unaccounted = sorted(n for n in read if n not in process_env.ALL_FALLBACKS and not NOT_DEPLOYMENT_FALLBACKS.match(n))
    assert unaccounted == []


def test_hide_removes_fallbacks_and_keeps_identity_variables() -> None:
    """hide() drops AZURE_API_KEY & co. and leaves what azure-identity reads (AZURE_CLIENT_ID, token file...)."""
    env = {"AZURE_API_KEY": "k", "OPENAI_API_KEY": "k", "DATABRICKS_CLIENT_SECRET": "s", "AZURE_OPENAI_ENDPOINT": "https://x",
           "AZURE_CLIENT_ID": "id", "AZURE_FEDERATED_TOKEN_FILE": "/t", "AZURE_TENANT_ID": "t", "PATH": "/bin"}
    assert process_env.hide(env) == ("AZURE_API_KEY", "AZURE_OPENAI_ENDPOINT", "DATABRICKS_CLIENT_SECRET", "OPENAI_API_KEY")
    assert env == {"AZURE_CLIENT_ID": "id", "AZURE_FEDERATED_TOKEN_FILE": "/t", "AZURE_TENANT_ID": "t", "PATH": "/bin"}


@pytest.mark.parametrize("variable", ["AZURE_API_KEY", "AZURE_OPENAI_API_KEY"])
async def test_managed_identity_deployments_serve_with_a_process_wide_key_set(
    registry: CredentialRegistry, dbx_cache: DatabricksTokenCache, regions: Regions,
    monkeypatch: pytest.MonkeyPatch, variable: str,
) -> None:
    """With AZURE_API_KEY (or a sibling) in the pod, LiteLLM alone fails every request; after hide() they are served."""
    monkeypatch.setenv(variable, "sk-process-wide-key")
    bound = bind_identities(regions.model_list(), registry, dbx_cache)
    router = make_router(bound, num_retries=0)
    with pytest.raises(Exception, match="mutually exclusive|api_key"):
        await ask(router)  # the failure the issue reports, shown on the unmodified path

    assert process_env.hide() == (variable,)
    router = make_router(bind_identities(regions.model_list(), registry, dbx_cache), num_retries=0)
    for _ in range(4):
        assert (await ask(router)).startswith(("east:", "west:"))
    sent = {r.bearer for r in regions.east.requests + regions.west.requests if r.status == 200}
    assert sent <= {f"tok-{regions.east_id}-1", f"tok-{regions.west_id}-1"}
    assert all(r.api_key is None for r in regions.east.requests + regions.west.requests)


def test_credential_source_and_fallback_warning_per_deployment(registry: CredentialRegistry, dbx_cache: DatabricksTokenCache) -> None:
    """Each deployment names its credential source; one with none says which process-wide variable it does not get."""
    model_list = [
        {"model_name": "mi", "litellm_params": {"model": "azure/a", "api_base": "https://a.example", "client_id": "c1"}},
        {"model_name": "key", "litellm_params": {"model": "azure/b", "api_base": "https://b.example", "api_key": "k"}},
        {"model_name": "bare", "litellm_params": {"model": "azure/c", "api_base": "https://c.example"}},
    ]
    bound = bind_identities(model_list, registry, dbx_cache, environ={"AZURE_API_KEY": "k"})
    assert [i.credential for i in bound.identities] == ["azure_ad_token_provider (managed_identity)", "api_key", "none"]
    assert "AZURE_API_KEY" in bound.identities[2].warning and "os.environ/AZURE_API_KEY" in bound.identities[2].warning
    assert bound.identities[0].warning == "" and bound.identities[1].warning == ""


def test_identity_bound_deployment_needs_its_own_endpoint(registry: CredentialRegistry, dbx_cache: DatabricksTokenCache) -> None:
    """Without api_base an identity-bound deployment would go to AZURE_API_BASE: refused, naming the path."""
    model_list = [{"model_name": "mi", "litellm_params": {"model": "azure/a", "client_id": "c1"}}]
    with pytest.raises(IdentityBindingError) as caught:
        bind_identities(model_list, registry, dbx_cache, environ={"AZURE_API_BASE": "https://elsewhere.example"})
    assert [i.path for i in caught.value.issues] == ["model_list[0].litellm_params.api_base"]


@pytest.mark.parametrize("mode", ["replica", "publisher"])
@pytest.mark.parametrize("setting", ["api_key", "azure_key", "api_base"])
def test_process_wide_litellm_setting_with_identity_deployment_is_rejected(mode: str, setting: str) -> None:
    """litellm_settings.api_key (& co.) would reach identity-bound deployments: both modes refuse it with its path."""
    config = {
        "model_list": [{"model_name": "gpt-4", "litellm_params": {"model": "azure/a", "api_base": "https://a.example",
                                                                 "client_id": "os.environ/EAST_MI"}}],
        "litellm_settings": {setting: "os.environ/SOME_VALUE"},
    }
    env = {"LITELLM_MASTER_KEY": "sk-" + "x" * 40, "EAST_MI": "c1", "SOME_VALUE": "v"}
    report = validate(yaml.safe_dump(config).encode(), ValidationOptions(mode=mode, env=env))  # type: ignore[arg-type]
    assert [(e.path, "model_list[0] (gpt-4)" in e.message) for e in report.errors] == [(f"litellm_settings.{setting}", True)]


def test_process_wide_setting_without_identity_deployments_is_left_alone() -> None:
    """A key-only config may keep litellm_settings.api_key: no identity is at stake."""
    config = {"model_list": [{"model_name": "m", "litellm_params": {"model": "openai/m", "mock_response": "x"}}],
              "litellm_settings": {"api_key": "os.environ/SOME_VALUE"}}
    env = {"LITELLM_MASTER_KEY": "sk-" + "x" * 40, "SOME_VALUE": "v"}
    assert validate(yaml.safe_dump(config).encode(), ValidationOptions(mode="replica", env=env)).valid



