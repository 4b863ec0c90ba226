"""A replica never lets a config send its secrets where it should not (GATEWAY_ALLOWED_HOSTS, reserved variables).

One real gateway with ``GATEWAY_ALLOWED_HOSTS=localhost`` and a fake Databricks workspace
(the token server, TLS on 127.0.0.1 with a certificate for both ``localhost`` and
``127.0.0.1``). The same workspace is reachable under an allowed name and a refused one,
so the test shows both that an allowed config does POST the service principal's secret at
apply time and that a refused one never does.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import yaml

from tests.fakes.token_server import FakeTokenServer
from tests.support.processes import MASTER_KEY, GatewayProcess, wait_until


def _databricks(api_base: str) -> bytes:
    return yaml.safe_dump(
        {
            "model_list": [
                {"model_name": "mock", "litellm_params": {"model": "openai/mock", "mock_response": "hi"}},
                {
                    "model_name": "llama",
                    "litellm_params": {
                        "model": "databricks/llama",
                        "api_base": f"{api_base}/serving-endpoints",
                        "client_id": "os.environ/DATABRICKS_CLIENT_ID",
                        "client_secret": "os.environ/DATABRICKS_CLIENT_SECRET",
                    },
                },
            ],
            "litellm_settings": {"cache": False},
        }
    ).encode()


def _rejected(gw: GatewayProcess, data: bytes) -> list[dict]:
    digest = hashlib.sha256(data).hexdigest()
    health = wait_until(lambda: (h := gw.health())["last_rejected"] and h["last_rejected"]["sha256"] == digest and h,
                        timeout=30, what=f"rejection of {digest[:12]}")
    return health["last_rejected"]["errors"]


def test_config_cannot_send_credentials_outside_the_allowed_hosts_or_read_gateway_variables(tmp_path: Path) -> None:
    """A Databricks api_base off GATEWAY_ALLOWED_HOSTS is refused before its token POST; os.environ/ and oidc/env/ of the gateway's own variables are refused."""
    client_id, secret = str(uuid.uuid4()), "dbx-spn-secret-" + uuid.uuid4().hex
    (tmp_path / "idp").mkdir()
    with FakeTokenServer(tmp_path / "idp") as idp:
        idp.register_secret(client_id, secret)
        port = idp.base_url.rsplit(":", 1)[1]
        allowed, refused = f"https://localhost:{port}", f"https://127.0.0.1:{port}"
        config = tmp_path / "config.yaml"
        config.write_bytes(_databricks(allowed))
        assert idp.ca_file is not None
        gw = GatewayProcess(
            args=["serve", "--config", str(config)],
            env={
                "LITELLM_MASTER_KEY": MASTER_KEY,
                "LITELLM_YAML_STORAGE_PATH": str(tmp_path / "applied" / "config.yaml"),
                "GATEWAY_FILE_POLL_INTERVAL": "0.1",
                "GATEWAY_ALLOWED_HOSTS": "localhost,*.azuredatabricks.net",
                "DATABRICKS_CLIENT_ID": client_id,
                "DATABRICKS_CLIENT_SECRET": secret,
                "SSL_CERT_FILE": str(idp.ca_file),
                "REQUESTS_CA_BUNDLE": str(idp.ca_file),
            },
            log_path=tmp_path / "gateway.log",
        ).start()
        try:
            # Control: on an allowed host the apply itself fetches the service principal's token.
            wait_until(lambda: idp.fetches(client_id) >= 1, timeout=30, what="the token fetch of the allowed config")
            fetched = len(idp.requests_for(client_id))

            off_list = _databricks(refused)
            config.write_bytes(off_list)
            [error] = _rejected(gw, off_list)
            assert error["path"] == "model_list[1].litellm_params.api_base"
            assert "127.0.0.1 is not in GATEWAY_ALLOWED_HOSTS" in error["message"]
            assert len(idp.requests_for(client_id)) == fetched, "the secret was sent to a host off the allow-list"

            for reference in ("os.environ/LITELLM_MASTER_KEY", "oidc/env/DATABRICKS_CLIENT_SECRET_OF_GATEWAY",
                              "os.environ/BLOB_CONNECTION_STRING", "oidc/env/SERVICEBUS_CONNECTION_STRING"):
                data = yaml.safe_dump({"model_list": [{"model_name": "x", "litellm_params": {
                    "model": "openai/x", "api_base": f"{allowed}/v1", "api_key": reference}}]}).encode()
                config.write_bytes(data)
                errors = _rejected(gw, data)
                assert [e["path"] for e in errors] == ["model_list[0].litellm_params.api_key"], errors
                name = reference.rsplit("/", 1)[1]
                expected = "one of the gateway's own" if not name.startswith("DATABRICKS") else "is not set on this replica"
                assert f"environment variable {name}" in errors[0]["message"] and expected in errors[0]["message"], errors
        finally:
            gw.stop()
    assert secret not in (tmp_path / "gateway.log").read_text()
