"""The whole local pipeline: upload -> Event Grid deliverer -> Function -> Service Bus -> replicas.

One DevStack (Azurite, the deliverer feeding the Function's code, the Service
Bus emulator, two `genai-gateway serve` replicas) is shared by the module. The
test that stops the emulator runs last.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from azure.servicebus import ServiceBusClient, ServiceBusMessage
from azure.storage.blob import ContainerClient

from gateway import protocol
from gateway.devstack.stack import DevStack
from tests.support.processes import wait_until

REFRESH_INTERVAL = 3.0


def _config(*models: tuple[str, str]) -> bytes:
    return yaml.safe_dump(
        {
            "model_list": [
                {"model_name": name, "litellm_params": {"model": f"openai/{name}", "mock_response": reply}}
                for name, reply in models
            ]
        }
    ).encode()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    dev = DevStack(
        state_dir=tmp_path_factory.mktemp("stack"),
        replicas=2,
        refresh_interval=REFRESH_INTERVAL,
        redis=False,
        base_port=0,
    ).start()
    try:
        yield dev
    finally:
        dev.stop()


@pytest.fixture(scope="module")
def container(stack: DevStack) -> ContainerClient:
    assert stack.azurite is not None
    return ContainerClient.from_connection_string(stack.azurite.connection_string, stack.container)


def _health(url: str) -> dict:
    return httpx.get(f"{url}/health/config", timeout=5).json()


def _reply(stack: DevStack, url: str, model: str) -> str:
    response = httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {stack.master_key}"},
        timeout=20,
    )
    response.raise_for_status()
    return response.json()["choices"][0]["message"]["content"]


def _all_applied(stack: DevStack, data: bytes, timeout: float = 20) -> list[dict]:
    digest = hashlib.sha256(data).hexdigest()

    def applied() -> list[dict] | None:
        healths = [_health(r.url) for r in stack.running]
        return healths if all(h["sha256"] == digest for h in healths) else None

    return wait_until(applied, timeout=timeout, what=f"all replicas on {digest[:12]}")


def _status(container: ContainerClient, data: bytes) -> protocol.PublishStatus:
    """The publisher's verdict on ``data`` (it writes the status blob last, after publishing)."""
    digest = hashlib.sha256(data).hexdigest()
    blob = container.get_blob_client(protocol.status_blob_name("config.yaml"))

    def verdict() -> protocol.PublishStatus | None:
        if not blob.exists():
            return None
        status = protocol.PublishStatus.from_json(blob.download_blob().readall())
        return status if status.sha256 == digest else None

    return wait_until(verdict, timeout=20, what=f"status blob for {digest[:12]}")


def test_upload_reaches_every_replica(stack: DevStack, container: ContainerClient) -> None:
    """An upload through azure-storage-blob is served by both replicas, under the version the Function chose."""
    data = _config(("gpt-4", "pushed v1"), ("brand-new-model", "I am new"))
    container.upload_blob("config.yaml", data, overwrite=True)
    healths = _all_applied(stack, data)
    status = _status(container, data)
    assert status.result == "accepted"
    assert {h["version"] for h in healths} == {status.version}
    assert all(h["source"].startswith("servicebus:") for h in healths)
    for replica in stack.running:
        assert _reply(stack, replica.url, "brand-new-model") == "I am new"
    pointer = protocol.CurrentPointer.from_json(container.download_blob(protocol.CURRENT_BLOB).readall())
    assert (pointer.version, pointer.sha256) == (status.version, hashlib.sha256(data).hexdigest())


def test_rejected_upload_leaves_replicas_unchanged(stack: DevStack, container: ContainerClient) -> None:
    """A bad upload gets a status blob naming the errors; no replica changes."""
    good = _config(("gpt-4", "good one"))
    container.upload_blob("config.yaml", good, overwrite=True)
    before = _all_applied(stack, good)
    bad = b"model_list:\n  - model_name: broken\n    litellm_params: {model: openai/x, rpm: -1}\n"
    container.upload_blob("config.yaml", bad, overwrite=True)
    status = _status(container, bad)
    assert status.result == "rejected"
    assert [e.path for e in status.errors] == ["model_list[0].litellm_params.rpm"]
    after = [_health(r.url) for r in stack.running]
    assert [h["version"] for h in after] == [h["version"] for h in before]
    assert _reply(stack, stack.running[0].url, "gpt-4") == "good one"


def test_out_of_order_and_duplicate_messages_never_roll_back(stack: DevStack, container: ContainerClient) -> None:
    """An older release re-sent on the bus, and a duplicate of the current one, leave every replica where it is."""
    older = _config(("gpt-4", "older"))
    container.upload_blob("config.yaml", older, overwrite=True)
    older_health = _all_applied(stack, older)[0]
    newer = _config(("gpt-4", "newer"))
    container.upload_blob("config.yaml", newer, overwrite=True)
    newer_health = _all_applied(stack, newer)[0]

    notices = [
        protocol.ReleaseNotice(older_health["version"], older_health["sha256"], protocol.release_blob_name(older_health["version"]), "", older),
        protocol.ReleaseNotice(newer_health["version"], newer_health["sha256"], protocol.release_blob_name(newer_health["version"]), "", newer),
    ]
    assert stack.emulator is not None
    with ServiceBusClient.from_connection_string(stack.emulator.connection_string) as client:
        with client.get_topic_sender("config-updates") as sender:
            for notice in notices:
                sender.send_messages(
                    ServiceBusMessage(
                        notice.body,
                        application_properties=notice.application_properties(),
                        message_id=protocol.message_id(notice.version, notice.sha256) + "-replayed",
                    )
                )
    # Both replayed messages get settled (completed as stale/duplicate) without any apply.
    wait_until(lambda: stack.emulator.active_message_count("config-updates", "replica-1") == 0, timeout=15, what="settlement")
    for replica in stack.running:
        health = _health(replica.url)
        assert (health["version"], health["sha256"]) == (newer_health["version"], newer_health["sha256"])
        assert _reply(stack, replica.url, "gpt-4") == "newer"


def test_replayed_older_event_is_superseded(stack: DevStack, container: ContainerClient) -> None:
    """Event Grid redelivering an older upload's event after a newer upload changes nothing."""
    from gateway.devstack.eventgrid import invoke_function

    first = _config(("gpt-4", "first"))
    container.upload_blob("config.yaml", first, overwrite=True)
    _all_applied(stack, first)
    old_event = dict(stack.deliverer.delivered[-1])
    second = _config(("gpt-4", "second"))
    container.upload_blob("config.yaml", second, overwrite=True)
    applied = _all_applied(stack, second)
    invoke_function(old_event)  # its eTag no longer matches: superseded, nothing published
    invoke_function(dict(stack.deliverer.delivered[-1]))  # a plain duplicate of the newest event
    assert [(_health(r.url)["version"]) for r in stack.running] == [h["version"] for h in applied]
    assert _status(container, second).result == "accepted"


def test_az_cli_upload_reaches_every_replica(stack: DevStack, container: ContainerClient, tmp_path: Path) -> None:
    """The operator's own command, `az storage blob upload`, against Azurite reaches both replicas."""
    az = Path(__file__).resolve().parents[2] / ".venv-azcli" / "bin" / "az"
    assert az.exists(), "azure-cli missing: run scripts/install-test-deps.sh (python3 -m venv .venv-azcli && .venv-azcli/bin/pip install azure-cli)"
    assert stack.azurite is not None
    data = _config(("gpt-4", "uploaded with az"))
    upload = tmp_path / "config.yaml"
    upload.write_bytes(data)
    subprocess.run(
        [
            str(az), "storage", "blob", "upload", "--only-show-errors", "--overwrite",
            "--connection-string", stack.azurite.connection_string,
            "--container-name", stack.container, "--name", "config.yaml", "--file", str(upload),
        ],
        check=True,
        capture_output=True,
        timeout=180,
        env={**os.environ, "AZURE_CORE_COLLECT_TELEMETRY": "false", "AZURE_CONFIG_DIR": str(tmp_path / "az")},
    )
    healths = _all_applied(stack, data, timeout=30)
    assert {h["version"] for h in healths} == {_status(container, data).version}
    assert _reply(stack, stack.running[1].url, "gpt-4") == "uploaded with az"


def test_poll_converges_with_service_bus_down(stack: DevStack, container: ContainerClient) -> None:
    """With the emulator stopped, replicas still converge within the refresh interval through releases/current.json."""
    stack.stop_servicebus()
    data = _config(("gpt-4", "via the poll"))
    container.upload_blob("config.yaml", data, overwrite=True)
    wait_until(
        lambda: protocol.CurrentPointer.from_json(container.download_blob(protocol.CURRENT_BLOB).readall()).sha256
        == hashlib.sha256(data).hexdigest(),
        timeout=20,
        what="current.json advanced by the Function",
    )
    healths = _all_applied(stack, data, timeout=REFRESH_INTERVAL * 2 + 5)
    assert all(h["source"].startswith("blob:") for h in healths)
    manifest = json.loads((stack.state_dir / "stack.json").read_text())
    assert set(manifest) >= {"blob_connection_string", "container", "config_blob", "replicas", "master_key", "servicebus_connection_string"}
