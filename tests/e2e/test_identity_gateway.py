"""The seed's multi-region config through a real gateway: each region's deployment uses its own identity.

The real azure-identity code fetches tokens from a fake managed-identity
endpoint on loopback (TLS, App Service protocol); fake Azure OpenAI endpoints
record which bearer token each deployment sent.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import httpx

from tests.fakes.fake_llm_server import FakeLLMServer
from tests.fakes.token_server import FakeTokenServer
from tests.support.processes import MASTER_KEY, GatewayProcess

REPO = Path(__file__).resolve().parents[2]


def test_each_region_authenticates_as_its_own_managed_identity(tmp_path: Path) -> None:
    """East sends only the east identity's token, west only west's, and each identity is fetched once."""
    east_id, west_id, tenant = (str(uuid.uuid4()) for _ in range(3))
    (tmp_path / "idp").mkdir()
    with FakeTokenServer(tmp_path / "idp") as idp, FakeLLMServer("east") as east, FakeLLMServer("west") as west:
        seed = (REPO / "config.yaml.example").read_text()
        config = seed.replace("https://eastus-openai.openai.azure.com/", east.base_url + "/").replace(
            "https://westus-openai.openai.azure.com/", west.base_url + "/"
        )
        config = config[: config.index("  # Databricks")] + config[config.index("router_settings:") :]
        path = tmp_path / "config.yaml"
        path.write_text(config)
        assert idp.ca_file is not None
        gw = GatewayProcess(
            args=["serve", "--config", str(path)],
            env={
                "LITELLM_MASTER_KEY": MASTER_KEY,
                "LITELLM_YAML_STORAGE_PATH": str(tmp_path / "applied" / "config.yaml"),
                "EASTUS_MI_CLIENT_ID": east_id,
                "WESTUS_MI_CLIENT_ID": west_id,
                "AZURE_TENANT_ID": tenant,
                "IDENTITY_ENDPOINT": idp.app_service_endpoint,
                "IDENTITY_HEADER": idp.identity_header,
                "REQUESTS_CA_BUNDLE": str(idp.ca_file),
                "OPENAI_API_KEY": "sk-must-never-be-sent",
                # Process-wide provider settings a cluster that once used keys still has (item 3): LiteLLM
                # alone would add the key to every identity-bound request and fail it ("mutually exclusive").
                "AZURE_API_KEY": "sk-process-wide-azure-key",
                "AZURE_OPENAI_API_KEY": "sk-process-wide-azure-key",
                "AZURE_API_BASE": "http://127.0.0.1:9/",
                "AZURE_OPENAI_ENDPOINT": "http://127.0.0.1:9/",
            },
            log_path=tmp_path / "gateway.log",
        ).start()
        try:
            for _ in range(12):
                response = httpx.post(
                    f"{gw.base_url}/v1/chat/completions",
                    json={"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]},
                    headers={"Authorization": f"Bearer {MASTER_KEY}"},
                    timeout=30,
                )
                assert response.status_code == 200, response.text
            described = gw.health()["identities"]
            identities = {i["client_id"]: i["identity"] for i in described}
        finally:
            gw.stop()
        east_tokens = {r.bearer for r in east.requests}
        west_tokens = {r.bearer for r in west.requests}
        assert east.requests and west.requests, "simple-shuffle should have used both regions in 12 requests"
        assert east_tokens == {f"tok-{east_id}-1"}
        assert west_tokens == {f"tok-{west_id}-1"}
        assert (idp.fetches(east_id), idp.fetches(west_id)) == (1, 1)
        assert identities == {east_id: "managed_identity", west_id: "managed_identity"}
        assert {i["credential"] for i in described} == {"azure_ad_token_provider (managed_identity)"}
        assert {i["state"]["status"] for i in described} == {"ok"}
        assert all(r.api_key is None for r in east.requests + west.requests)
        log = (tmp_path / "gateway.log").read_text()
        assert "sk-must-never-be-sent" not in log and "sk-process-wide-azure-key" not in log


def test_missing_identity_variable_is_rejected_naming_it() -> None:
    """Without EASTUS_MI_CLIENT_ID the replica refuses the seed config and says which variable and deployment."""
    result = subprocess.run(
        [str(REPO / ".venv/bin/genai-gateway"), "validate", str(REPO / "config.yaml.example"), "--json"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "WESTUS_MI_CLIENT_ID": str(uuid.uuid4()), "AZURE_TENANT_ID": str(uuid.uuid4())},
        timeout=120,
    )
    assert result.returncode == 1
    assert "environment variable EASTUS_MI_CLIENT_ID is not set on this replica (used by deployment model_list[0] (gpt-4))" in result.stdout
