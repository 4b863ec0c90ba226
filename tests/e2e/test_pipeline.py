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
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from azure.servicebus import ServiceBusClient, ServiceBusMessage
from azure.storage.blob import ContainerClient

from devstack.azurite import Azurite
from devstack.stack import DevStack
from gateway import protocol
from tests.support.azure_fixtures import blob_env
from tests.support.processes import GatewayProcess, wait_until

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


def azurite_for(stack: DevStack) -> Azurite:
    assert stack.azurite is not None
    return stack.azurite


def _health(stack: DevStack, url: str) -> dict:
    """The detailed /health/config body (it needs the master key)."""
    return httpx.get(f"{url}/health/config", headers={"Authorization": f"Bearer {stack.master_key}"}, timeout=5).json()


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
        healths = [_health(stack, r.url) for r in stack.running]
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
    after = [_health(stack, r.url) for r in stack.running]
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
    # Both replayed messages get settled (completed as stale/duplicate) without any apply, on every replica.
    emulator = stack.emulator
    wait_until(lambda: all(emulator.active_message_count("config-updates", r.name) == 0 for r in stack.running),
               timeout=15, what=f"settlement on {[r.name for r in stack.running]}")
    for replica in stack.running:
        health = _health(stack, replica.url)
        assert (health["version"], health["sha256"]) == (newer_health["version"], newer_health["sha256"])
        assert _reply(stack, replica.url, "gpt-4") == "newer"


def test_replayed_older_event_is_superseded(stack: DevStack, container: ContainerClient) -> None:
    """Event Grid redelivering an older upload's event after a newer upload changes nothing."""
    from devstack.eventgrid import invoke_function, load_function_app, to_functions_event

    first = _config(("gpt-4", "first"))
    container.upload_blob("config.yaml", first, overwrite=True)
    _all_applied(stack, first)
    old_event = dict(stack.deliverer.delivered[-1])
    second = _config(("gpt-4", "second"))
    container.upload_blob("config.yaml", second, overwrite=True)
    applied = _all_applied(stack, second)
    pointer_before = container.download_blob(protocol.CURRENT_BLOB).readall()
    assert stack.emulator is not None
    watch = f"replay-watch-{uuid.uuid4().hex[:8]}"
    stack.emulator.add_subscription("config-updates", watch)  # sees every message published from now on
    module, _functions = load_function_app()
    publisher = module.get_publisher()  # what the Function's trigger calls, with the Function's settings
    assert publisher.handle(to_functions_event(old_event)).result == "superseded"  # its eTag no longer matches
    invoke_function(old_event)  # and through the trigger itself: returns normally, so Event Grid stops retrying
    assert publisher.handle(to_functions_event(dict(stack.deliverer.delivered[-1]))).result == "duplicate"
    assert stack.emulator.active_message_count("config-updates", watch) == 0, "a replayed event was published"
    assert container.download_blob(protocol.CURRENT_BLOB).readall() == pointer_before
    assert [(_health(stack, r.url)["version"]) for r in stack.running] == [h["version"] for h in applied]
    assert _status(container, second).result == "accepted"


def test_az_cli_upload_reaches_every_replica(stack: DevStack, container: ContainerClient, tmp_path: Path) -> None:
    """The operator's own command, `az storage blob upload`, against Azurite reaches both replicas."""
    az = Path(__file__).resolve().parents[2] / ".venv-azcli" / "bin" / "az"
    assert az.exists(), "azure-cli missing: run scripts/install-test-deps.sh (.venv-azcli from requirements/azcli.txt)"
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


def _published_after(container: ContainerClient, data: bytes, after: str) -> protocol.PublishStatus:
    """The publisher's verdict on ``data`` under a version newer than ``after`` (an identical re-upload)."""
    blob = container.get_blob_client(protocol.status_blob_name("config.yaml"))
    digest = hashlib.sha256(data).hexdigest()

    def verdict() -> protocol.PublishStatus | None:
        status = protocol.PublishStatus.from_json(blob.download_blob().readall())
        return status if status.sha256 == digest and status.version != after else None

    return wait_until(verdict, timeout=20, what="the publisher's verdict on the re-upload")


def test_identical_reupload_moves_every_replica_to_the_new_version(stack: DevStack, container: ContainerClient) -> None:
    """The same bytes uploaded again (``--overwrite`` in CI) are announced under a newer version:
    every replica reports that version, without re-applying the router (applied_at unchanged)."""
    data = _config(("gpt-4", "uploaded twice"))
    container.upload_blob("config.yaml", data, overwrite=True)
    before = _all_applied(stack, data)
    first = _status(container, data).version
    assert {h["version"] for h in before} == {first}
    container.upload_blob("config.yaml", data, overwrite=True)
    second = _published_after(container, data, first).version
    assert second > first

    def relabelled() -> list[dict] | None:
        healths = [_health(stack, r.url) for r in stack.running]
        return healths if all(h["version"] == second for h in healths) else None

    after = wait_until(relabelled, timeout=15, what=f"every replica reporting {second}")
    assert [h["applied_at"] for h in after] == [h["applied_at"] for h in before], "relabel must not re-apply"
    assert [h["sha256"] for h in after] == [h["sha256"] for h in before]


def test_replica_started_while_the_release_blob_is_unreadable_becomes_ready(
    stack: DevStack, container: ContainerClient, tmp_path: Path
) -> None:
    """A poll-only replica that starts while the current release blob is missing keeps retrying the
    pointer (it remembers what it applied, not what it saw) and becomes ready once the blob is back."""
    data = _config(("gpt-4", "blob briefly missing"))
    container.upload_blob("config.yaml", data, overwrite=True)
    _all_applied(stack, data)
    pointer = protocol.CurrentPointer.from_json(container.download_blob(protocol.CURRENT_BLOB).readall())
    release = container.download_blob(pointer.blob).readall()
    container.delete_blob(pointer.blob)
    assert stack.azurite is not None
    replica = GatewayProcess(
        ["serve"],
        {
            **blob_env(azurite_for(stack), stack.container, tmp_path / "late" / "config.yaml", interval=REFRESH_INTERVAL),
            "LITELLM_MASTER_KEY": stack.master_key,
        },
        tmp_path / "late.log",
    ).start(wait_ready=False)
    try:
        wait_until(lambda: "cannot" in replica.log_tail() or "failed" in replica.log_tail(), timeout=90, what="a failed startup read")
        assert httpx.get(f"{replica.base_url}/health/readiness", timeout=5).status_code == 503
        container.upload_blob(pointer.blob, release, overwrite=True)
        replica.wait_ready(timeout=REFRESH_INTERVAL * 2 + 10)
        assert replica.health()["version"] == pointer.version
    finally:
        replica.stop()


def test_storage_outage_during_a_push_is_retried_not_dead_lettered(stack: DevStack, container: ContainerClient) -> None:
    """A by-reference release pushed while Blob Storage is down for ~5 s is applied once storage is back:
    the replicas retry in-process with backoff instead of burning the message's deliveries."""
    assert stack.azurite is not None and stack.emulator is not None
    baseline = _config(("gpt-4", "before the outage"))
    container.upload_blob("config.yaml", baseline, overwrite=True)
    current = _all_applied(stack, baseline)[0]["version"]
    data = _config(("gpt-4", "after the outage")) + b"".join(b"# pad %06d " % i + b"y" * 100 + b"\n" for i in range(2200))
    assert len(data) > protocol.INLINE_BODY_LIMIT
    version = f"{int(current, 16) + 1:0{len(current)}x}"
    blob_name = protocol.release_blob_name(version)
    container.upload_blob(blob_name, data)  # what the publisher writes before it announces
    notice = protocol.ReleaseNotice(version, hashlib.sha256(data).hexdigest(), blob_name, "", None)
    stack.azurite.stop()
    try:
        with ServiceBusClient.from_connection_string(stack.emulator.connection_string) as client:
            with client.get_topic_sender("config-updates") as sender:
                sender.send_messages(
                    ServiceBusMessage(b"", application_properties=notice.application_properties(), message_id=f"outage-{version}")
                )
        wait_until(
            lambda: all("not written" in r.log_path.read_text(errors="replace") or "retrying in" in r.log_path.read_text(errors="replace") for r in stack.running),
            timeout=30,
            what="each replica hitting the outage",
        )
        time.sleep(5)  # the outage lasts a few seconds
    finally:
        stack.azurite.start()
    healths = _all_applied(stack, data, timeout=40)
    assert {h["version"] for h in healths} == {version}
    emulator = stack.emulator
    for subscription in ("replica-1", "replica-2"):
        # Applied can show on /health/config a moment before the message is settled: wait for the settlement.
        wait_until(lambda s=subscription: emulator.active_message_count("config-updates", s) == 0, timeout=30, what=f"{subscription} settled")
        assert emulator.dead_letter_messages("config-updates", subscription) == []


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
