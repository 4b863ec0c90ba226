"""Fixtures for the identity tests: a fake IdP (TLS), fake LLM endpoints, clean Azure env per test.

Only the environment variables the real azure-identity / MSAL code reads are
set, per test (monkeypatch), so other test packages in the same run see none of it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm
import pytest

from gateway.identity import CredentialRegistry, DatabricksTokenCache
from gateway.identity.hook import DatabricksAuthHook, register_hook, unregister_hook
from tests.fakes.fake_llm_server import FakeLLMServer
from tests.fakes.token_server import FakeTokenServer
from tests.identity._support import Regions

# Test-only: the fake authority is not a Microsoft host, so MSAL must not ask
# login.microsoftonline.com to validate it (no internet here, and none wanted).
ENTRA_TEST_KWARGS = {"disable_instance_discovery": True}

_CLEARED = (
    "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE",
    "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "MSI_ENDPOINT", "MSI_SECRET",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST", "AZURE_API_KEY", "AZURE_OPENAI_API_KEY", "OPENAI_API_KEY",
    "DATABRICKS_CLIENT_ID", "DATABRICKS_CLIENT_SECRET", "DATABRICKS_API_KEY", "DATABRICKS_API_BASE",
    "AZURE_AD_TOKEN",
)


@pytest.fixture(scope="session")
def token_server() -> Iterator[FakeTokenServer]:
    with FakeTokenServer() as server:
        yield server


@pytest.fixture(autouse=True)
def identity_env(monkeypatch: pytest.MonkeyPatch, token_server: FakeTokenServer) -> None:
    """App Service managed identity endpoint + Entra authority both point at the fake IdP."""
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", token_server.app_service_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", token_server.identity_header)
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", token_server.base_url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(token_server.ca_file))
    monkeypatch.setattr(litellm, "enable_azure_ad_token_refresh", False)


@pytest.fixture
def uid() -> str:
    """A fresh prefix so client ids (and the IdP's per-client counters) never collide between tests."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
def registry() -> Iterator[CredentialRegistry]:
    reg = CredentialRegistry(entra_kwargs=ENTRA_TEST_KWARGS)
    yield reg
    reg.close()


@pytest.fixture
def dbx_cache() -> Iterator[DatabricksTokenCache]:
    cache = DatabricksTokenCache(entra_kwargs=ENTRA_TEST_KWARGS)
    yield cache
    cache.close()


@pytest.fixture
def dbx_hook(dbx_cache: DatabricksTokenCache) -> Iterator[DatabricksAuthHook]:
    hook = DatabricksAuthHook(dbx_cache)
    register_hook(hook)
    yield hook
    unregister_hook(hook)


@pytest.fixture
def llm_servers(token_server: FakeTokenServer) -> Iterator[Callable[[str], FakeLLMServer]]:
    started: list[FakeLLMServer] = []

    def start(name: str) -> FakeLLMServer:
        server = FakeLLMServer(name, token_server=token_server).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def regions(llm_servers: Callable[[str], FakeLLMServer], uid: str) -> Regions:
    """East and west endpoints with their own identity client ids (fresh per test)."""
    return Regions(llm_servers("east"), llm_servers("west"), f"east-{uid}", f"west-{uid}")
