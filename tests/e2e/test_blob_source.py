"""A replica fed only by Blob Storage (no Function, no Service Bus): startup fetch and the poll."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from devstack.azurite import Azurite
from gateway import protocol
from tests.support.azure_fixtures import azurite, blob_env, fresh_container  # noqa: F401 - fixture
from tests.support.processes import MASTER_KEY, GatewayProcess, free_port, wait_until

#: Publisher versions (Event Grid sequencers: 32 hex digits).
V1, V2 = f"{1:032x}", f"{2:032x}"


def _config(reply: str) -> bytes:
    return yaml.safe_dump(
        {"model_list": [{"model_name": "gpt-4", "litellm_params": {"model": "openai/gpt-4", "mock_response": reply}}]}
    ).encode()


def _reply(base_url: str) -> str:
    response = httpx.post(
        f"{base_url}/v1/chat/completions",
        json={"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
        timeout=20,
    )
    response.raise_for_status()
    return response.json()["choices"][0]["message"]["content"]


@pytest.fixture
def gateway_factory(tmp_path: Path) -> Iterator:
    started: list[GatewayProcess] = []

    def start(env: dict[str, str], *, wait_ready: bool = True) -> GatewayProcess:
        proc = GatewayProcess(
            args=["serve"], env={"LITELLM_MASTER_KEY": MASTER_KEY, **env}, log_path=tmp_path / f"gw{len(started)}.log"
        )
        started.append(proc)
        return proc.start(wait_ready=wait_ready)

    yield start
    for proc in started:
        proc.stop()


def test_raw_config_is_served_and_polled(azurite: Azurite, gateway_factory, tmp_path: Path) -> None:  # noqa: F811
    """With no releases/current.json, the replica serves the raw config.yaml and picks up a new upload by polling."""
    container = fresh_container(azurite, "raw")
    container.upload_blob("config.yaml", _config("raw v1"))
    gw = gateway_factory(blob_env(azurite, "raw", tmp_path / "applied.yaml", interval=1))
    assert _reply(gw.base_url) == "raw v1"
    container.upload_blob("config.yaml", _config("raw v2"), overwrite=True)
    wait_until(lambda: _reply(gw.base_url) == "raw v2", timeout=15, what="poll to apply raw v2")
    assert gw.health()["source"] == "blob:raw/config.yaml"


def test_release_pointer_is_followed_and_integrity_checked(azurite: Azurite, gateway_factory, tmp_path: Path) -> None:  # noqa: F811
    """The replica follows releases/current.json, and refuses a release whose sha256 does not match."""
    container = fresh_container(azurite, "pointer")
    v1 = _config("release one")
    container.upload_blob("config.yaml", _config("raw, ignored once a release exists"))
    container.upload_blob(protocol.release_blob_name(V1), v1)
    pointer = protocol.CurrentPointer(V1, hashlib.sha256(v1).hexdigest(), protocol.release_blob_name(V1), "etag1", "now")
    container.upload_blob(protocol.CURRENT_BLOB, pointer.to_json())
    gw = gateway_factory(blob_env(azurite, "pointer", tmp_path / "applied.yaml", interval=1))
    assert _reply(gw.base_url) == "release one"
    assert gw.health()["version"] == V1

    tampered = _config("tampered")
    container.upload_blob(protocol.release_blob_name(V2), tampered)
    wrong = protocol.CurrentPointer(V2, "0" * 64, protocol.release_blob_name(V2), "etag2", "now")
    container.upload_blob(protocol.CURRENT_BLOB, wrong.to_json(), overwrite=True)
    health = wait_until(
        lambda: (h := gw.health())["last_rejected"] and h["last_rejected"]["version"] == V2 and h,
        timeout=15,
        what="integrity rejection",
    )
    assert "sha256 mismatch" in health["last_rejected"]["errors"][0]["message"]
    assert _reply(gw.base_url) == "release one"


def test_startup_blocks_until_blob_store_is_reachable(gateway_factory, tmp_path: Path) -> None:
    """With Azurite down, the replica is alive but not ready and logs why; once Azurite is up it starts serving."""
    port = free_port()
    store = Azurite(tmp_path / "late-azurite", port=port)
    env = blob_env(store, "late", tmp_path / "applied.yaml", interval=1)
    gw = gateway_factory(env, wait_ready=False)
    try:
        wait_until(lambda: httpx.get(f"{gw.base_url}/health/liveliness").status_code == 200, timeout=90, what="liveness")
        wait_until(lambda: gw.log_tail(200).count("startup: cannot get a valid config") >= 2, timeout=30, what="startup error logs")
        assert httpx.get(f"{gw.base_url}/health/readiness").status_code == 503
        assert httpx.get(f"{gw.base_url}/v1/models").status_code == 503
        store.start()
        fresh_container(store, "late").upload_blob("config.yaml", _config("finally"))
        gw.wait_ready(timeout=60)
        assert _reply(gw.base_url) == "finally"
    finally:
        store.stop()
