"""Item 5: LiteLLM's GET /health probes a deployment with the same identity hooks as its traffic."""

from __future__ import annotations

from collections.abc import Callable

from litellm.proxy.health_check import perform_health_check

from gateway.apply import health_auth
from gateway.identity import CredentialRegistry, DatabricksTokenCache, bind_identities
from gateway.identity.hook import DatabricksAuthHook
from tests.fakes.fake_llm_server import FakeLLMServer
from tests.fakes.token_server import FakeTokenServer
from tests.identity._support import make_router
from tests.identity.test_identity_databricks import seed_databricks


async def test_databricks_service_principal_is_healthy_with_its_own_token(
    registry: CredentialRegistry, dbx_cache: DatabricksTokenCache, dbx_hook: DatabricksAuthHook,
    token_server: FakeTokenServer, llm_servers: Callable[[str], FakeLLMServer], uid: str,
) -> None:
    """Without the gateway's hooks the probe fails (no key); with them it is healthy and sends the SP's token."""
    workspace = llm_servers("workspace")
    client_id = f"dbx-health-{uid}"
    bound = bind_identities([seed_databricks(workspace, "llama", client_id, "s", None)], registry, dbx_cache)
    model_list = make_router(bound).get_model_list()

    health_auth.install(tuple)  # LiteLLM's own probe: no gateway hook
    healthy, unhealthy, *_ = await perform_health_check(model_list)
    assert (len(healthy), len(unhealthy)) == (0, 1)

    health_auth.install(lambda: (dbx_hook,))
    try:
        healthy, unhealthy, *_ = await perform_health_check(model_list)
    finally:
        health_auth.install(tuple)
    assert (len(healthy), len(unhealthy)) == (1, 0), unhealthy
    assert workspace.requests[-1].bearer == f"tok-{client_id}-1"


async def test_failing_identity_is_unhealthy_without_its_client_id(
    registry: CredentialRegistry, dbx_cache: DatabricksTokenCache, dbx_hook: DatabricksAuthHook,
    token_server: FakeTokenServer, llm_servers: Callable[[str], FakeLLMServer], uid: str,
) -> None:
    """A service principal whose token cannot be fetched is reported unhealthy, as its requests would fail."""
    workspace = llm_servers("workspace")
    client_id = f"dbx-health-bad-{uid}"
    token_server.register_secret(client_id, "right")
    bound = bind_identities([seed_databricks(workspace, "llama", client_id, "wrong", None)], registry, dbx_cache)
    health_auth.install(lambda: (dbx_hook,))
    try:
        healthy, unhealthy, *_ = await perform_health_check(make_router(bound).get_model_list())
    finally:
        health_auth.install(tuple)
    assert (len(healthy), len(unhealthy)) == (0, 1)
    assert client_id not in str(unhealthy)
    assert workspace.requests == []
