"""The Function entry point, run as the Python worker would (azure.functions objects), with no Core Tools."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from devstack.azurite import Azurite
from devstack.eventgrid import BlobEventDeliverer, invoke_function, load_function_app, to_cloudevent
from devstack.servicebus_emulator import ServiceBusEmulator
from gateway import protocol
from gateway.errors import SettingsError
from tests.publisher.stack import BAD, GOOD, GOOD_2, TOPIC, Harness, body

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = ROOT / "function_app"
PUBLISHER_VARS = (
    "BLOB_ACCOUNT_URL", "BLOB_CONNECTION_STRING", "BLOB_DOC_CONTAINER", "BLOB_CONFIG_NAME",
    "SERVICEBUS_FULLY_QUALIFIED_NAMESPACE", "SERVICEBUS_CONNECTION_STRING", "SERVICEBUS_TOPIC", "AZURE_CLIENT_ID",
    "GATEWAY_ALLOWED_ENV", "GATEWAY_ALLOWED_HOSTS", "GATEWAY_ALLOW_LITERAL_SECRETS", "GATEWAY_CONFIG_MAX_BYTES",
)  # fmt: skip


@pytest.fixture(scope="module")
def app_module() -> Iterator[ModuleType]:
    module, _functions = load_function_app()
    yield module
    if module._cached is not None:
        module._cached[1].close()


@pytest.fixture
def app_env(harness: Harness, azurite: Azurite, emulator: ServiceBusEmulator, monkeypatch: pytest.MonkeyPatch, app_module: ModuleType) -> Harness:
    for name in PUBLISHER_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BLOB_CONNECTION_STRING", azurite.connection_string)
    monkeypatch.setenv("SERVICEBUS_CONNECTION_STRING", emulator.connection_string)
    monkeypatch.setenv("BLOB_DOC_CONTAINER", harness.container.container_name)
    monkeypatch.setenv("SERVICEBUS_TOPIC", TOPIC)
    return harness


def test_app_indexes_one_event_grid_function(app_module: ModuleType) -> None:
    """function_app.py defines on_config_blob_created with an eventGridTrigger binding named 'event'."""
    _module, functions = load_function_app()
    assert list(functions) == ["on_config_blob_created"]
    bindings = json.loads(functions["on_config_blob_created"].get_function_json())["bindings"]
    assert bindings == [{"direction": "IN", "type": "eventGridTrigger", "name": "event"}]


def test_upload_through_deliverer_and_function_publishes(app_env: Harness) -> None:
    """Upload -> local Event Grid (background thread) -> the Function via func.EventGridEvent -> one message."""
    with BlobEventDeliverer(app_env.container, invoke_function, interval=0.05) as deliverer:
        app_env.container.upload_blob("config.yaml", GOOD, overwrite=True)
        _wait(lambda: len(deliverer.delivered) == 1)
    [event] = deliverer.delivered
    assert deliverer.dropped == []
    assert app_env.status().result == "accepted"
    assert app_env.current().version == event["data"]["sequencer"]
    [message] = app_env.receive()
    assert body(message) == GOOD


def test_cloudevents_payload_is_handled_too(app_env: Harness) -> None:
    """A CloudEvents 1.0 payload (decoded by azure.functions into func.CloudEvent) is published the same way."""
    event = to_cloudevent(app_env.upload(GOOD))
    assert "specversion" in event and "eventType" not in event

    invoke_function(event)

    assert app_env.current().version == event["data"]["sequencer"]
    [message] = app_env.receive()
    assert message.message_id == protocol.message_id(event["data"]["sequencer"], app_env.current().sha256)


def test_rejected_config_through_the_function(app_env: Harness) -> None:
    """A bad upload through the Function leaves a rejected status and no message; the function does not raise."""
    invoke_function(app_env.upload(BAD))
    assert app_env.status().result == "rejected" and app_env.status().errors
    assert app_env.current() is None
    assert app_env.receive() == []


def test_irrelevant_and_malformed_events_are_dropped_without_error(app_env: Harness) -> None:
    """Events for other blobs, and a BlobCreated without sequencer, return normally and write nothing."""
    event = app_env.upload(GOOD)
    other = {**event, "subject": event["subject"].replace("config.yaml", "notes.txt")}
    malformed = {**event, "data": {k: v for k, v in event["data"].items() if k != "sequencer"}}
    invoke_function(other)
    invoke_function(malformed)
    assert app_env.status() is None and app_env.current() is None
    assert app_env.receive() == []


def test_transient_failure_raises_so_event_grid_retries(app_env: Harness, azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> None:
    """Blob Storage unreachable: the invocation fails (so Event Grid redelivers) having written and sent nothing;
    the redelivery, with storage back, publishes exactly once."""
    from tests.support.processes import free_port

    event = app_env.upload(GOOD)
    reachable = azurite.connection_string
    unreachable = re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{free_port()}", reachable)
    assert unreachable != reachable
    monkeypatch.setenv("BLOB_CONNECTION_STRING", unreachable)
    with pytest.raises(Exception) as info:  # whatever the SDK raises for a refused connection: it must escape
        invoke_function(event)
    assert "refused" in str(info.value).lower() or "connect" in str(info.value).lower(), repr(info.value)
    assert app_env.status() is None and app_env.current() is None
    assert app_env.receive() == []

    monkeypatch.setenv("BLOB_CONNECTION_STRING", reachable)
    invoke_function(event)  # Event Grid's redelivery
    assert app_env.status().result == "accepted"
    [message] = app_env.receive()
    assert body(message) == GOOD


def test_redelivered_event_through_the_function_is_a_no_op(app_env: Harness) -> None:
    """Event Grid redelivering the same event to the Function sends no second message."""
    event = app_env.upload(GOOD)
    invoke_function(event)
    invoke_function(event)
    assert len(app_env.receive()) == 1


def test_publisher_is_cached_and_rebuilt_when_settings_change(app_env: Harness, app_module: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients are built once per process and reused; changed app settings build a new publisher."""
    first = app_module.get_publisher()
    assert app_module.get_publisher() is first
    monkeypatch.setenv("GATEWAY_ALLOW_LITERAL_SECRETS", "true")
    second = app_module.get_publisher()
    assert second is not first and second.options.allow_literal_secrets is True


def test_missing_settings_fail_the_invocation_naming_the_variable(app_env: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without storage settings the handler raises SettingsError naming BLOB_ACCOUNT_URL (retried once fixed)."""
    event = app_env.upload(GOOD_2)
    monkeypatch.delenv("BLOB_CONNECTION_STRING")
    with pytest.raises(SettingsError, match="BLOB_ACCOUNT_URL"):
        invoke_function(event)


def test_vendored_gateway_is_importable_on_its_own(tmp_path: Path) -> None:
    """vendor_gateway.py copies a gateway package the Function can import without the repository."""
    sys.path.insert(0, str(APP_DIR))
    try:
        import vendor_gateway
    finally:
        sys.path.remove(str(APP_DIR))
    target = vendor_gateway.vendor(tmp_path)
    assert (target / "publisher" / "pipeline.py").exists() and (target / "protocol.py").exists()
    assert not (target / "devstack").exists() and not (target / "servicebus_emulator").exists()
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); sys.path = [p for p in sys.path if p not in ('', sys.argv[2])];"
        "import gateway.publisher, gateway.validation.semantics, gateway;"
        "assert gateway.__file__.startswith(sys.argv[1]), gateway.__file__;"
        "bad = [m for m in sys.modules if m.startswith(('devstack', 'devstack.servicebus_emulator', 'proton'))];"
        "assert not bad, bad"
    )
    env = {**os.environ, "PYTHONPATH": ""}
    result = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path), str(ROOT)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    vendor_gateway.clean(tmp_path)
    assert not target.exists()


def test_function_requirements_pin_the_gateways_litellm() -> None:
    """requirements.txt pins the same litellm and azure-servicebus as pyproject.toml, and host.json is v2 with a bundle."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {line.split("==")[0].split("[")[0]: line.split("==")[1] for line in pyproject if "==" in line}
    # A hash lock: "name==version \" lines, each followed by its --hash lines.
    requirements = [
        line.strip().rstrip("\\").strip()
        for line in (APP_DIR / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "--hash"))
    ]
    assert f"litellm=={pins['litellm']}" in requirements
    assert f"azure-servicebus=={pins['azure-servicebus']}" in requirements
    for name in ("azure-functions", "azure-storage-blob", "azure-identity", "pyyaml"):
        assert any(r.startswith(name) for r in requirements), name
    host = json.loads((APP_DIR / "host.json").read_text())
    assert host["version"] == "2.0" and host["extensionBundle"]["id"] == "Microsoft.Azure.Functions.ExtensionBundle"
    for example in APP_DIR.glob("local.settings*.json.example"):
        values = json.loads(example.read_text())["Values"]
        assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"


def _wait(condition, timeout: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
