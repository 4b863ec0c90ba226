"""The operator commands against the real local pipeline (Azurite, Event Grid deliverer + Function,
Service Bus emulator, two `genai-gateway serve` replicas), run as a user would: the console script
in a checkout whose `.dev/stack.json` names the running pipeline, with no BLOB_* in its environment.

Replica 1 has ONLY_ON_R1 set, replica 2 does not, so a config referencing it is accepted by the
publisher (it cannot see replica environments) and NACKed by replica 2 alone. The tests share one
stack and run in file order; the replica-kill test runs last.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from devstack.stack import DevStack
from tests.support.processes import REPO, wait_until

pytestmark = pytest.mark.e2e
REPORT_INTERVAL = 2.0


class OneEnvStack(DevStack):
    """Replica 1 has ONLY_ON_R1; replica 2 does not (the drift a NACK reports)."""

    def replica_env(self, index: int, port: int) -> dict[str, str]:
        env = super().replica_env(index, port)
        if index == 1:
            env["ONLY_ON_R1"] = "https://only-on-replica-1.example.com/v1"
        return env

    def wait_replica_ready(self, replica, timeout: float = 300) -> None:  # type: ignore[no-untyped-def]
        """A longer bound than make run's: these 2 cores are shared with other test runs."""
        super().wait_replica_ready(replica, timeout=timeout)


def config(*models: tuple[str, str], extra: dict | None = None) -> bytes:
    body = {
        "model_list": [
            {"model_name": name, "litellm_params": {"model": f"openai/{name}", "mock_response": reply}} for name, reply in models
        ],
        **(extra or {}),
    }
    return yaml.safe_dump(body, sort_keys=False).encode()


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory standing in for a checkout: the stack writes its manifest to <checkout>/.dev/stack.json."""
    return tmp_path_factory.mktemp("checkout")


@pytest.fixture(scope="module")
def stack(checkout: Path) -> Iterator[DevStack]:
    dev = OneEnvStack(
        state_dir=checkout / ".dev",
        replicas=2,
        refresh_interval=3.0,
        redis=False,
        base_port=0,
        extra_env={"GATEWAY_REPORT_INTERVAL": str(REPORT_INTERVAL)},
    ).start()
    try:
        yield dev
    finally:
        dev.stop()


def cli(checkout: Path, *args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``genai-gateway ARGS`` in the checkout, with no BLOB_*/SERVICEBUS_* (the stack sets them in this process)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BLOB_", "SERVICEBUS_", "GATEWAY_"))}
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=checkout,
        env={**clean, "PYTHONPATH": str(REPO), "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write(checkout: Path, name: str, data: bytes) -> Path:
    path = checkout / name
    path.write_bytes(data)
    return path


def health(url: str) -> dict:
    return httpx.get(f"{url}/health/config", timeout=5).json()


def shas(stack: DevStack) -> set[str]:
    return {health(r.url)["sha256"] for r in stack.running}


def status_json(checkout: Path) -> dict:
    result = cli(checkout, "status", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_push_wait_accepted_exits_0_and_every_replica_serves_it(stack: DevStack, checkout: Path) -> None:
    """push --wait: local validation, diff, upload, the publisher's version, then both replicas ACK; exit 0."""
    data = config(("gpt-4", "release A"), ("brand-new-model", "new"))
    result = cli(checkout, "push", str(write(checkout, "a.yaml", data)), "--wait", "--timeout", "90")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid in publisher mode" in result.stdout
    assert "+ brand-new-model" in result.stdout  # the diff, shown before the upload
    assert "live replica(s) ACKed" in result.stdout and "2/2" in result.stdout
    assert shas(stack) == {hashlib.sha256(data).hexdigest()}


def test_push_invalid_locally_exits_1_and_uploads_nothing(stack: DevStack, checkout: Path) -> None:
    """A file the publisher would reject is caught before upload, with its YAML path; exit 1."""
    before = status_json(checkout)["current"]["version"]
    bad = b"model_list:\n  - model_name: broken\n    litellm_params: {model: openai/x, rpm: -1}\n"
    result = cli(checkout, "push", str(write(checkout, "bad.yaml", bad)), "--wait")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "model_list[0].litellm_params.rpm" in result.stdout and "not uploaded" in result.stdout
    assert status_json(checkout)["current"]["version"] == before


def test_push_wait_rejected_by_the_publisher_exits_3(stack: DevStack, checkout: Path) -> None:
    """An operator whose local env allows literal secrets pushes one; the Function refuses it: exit 3, path shown."""
    served = shas(stack)
    data = config(("gpt-4", "with a literal key"))
    data = data.replace(b"mock_response", b"api_key: sk-literal-abcdefghijklmnop0123\n    mock_response")
    result = cli(checkout, "push", str(write(checkout, "literal.yaml", data)), "--wait", "--timeout", "60", env={"GATEWAY_ALLOW_LITERAL_SECRETS": "true"})
    assert result.returncode == 3, result.stdout + result.stderr
    assert "REJECTED by the publisher" in result.stdout
    assert "model_list[0].litellm_params.api_key" in result.stdout
    assert "sk-literal-abcdefghijklmnop0123" not in result.stdout + result.stderr
    assert shas(stack) == served


def test_push_wait_nack_from_one_replica_exits_4_and_status_shows_it(stack: DevStack, checkout: Path) -> None:
    """A config needing ONLY_ON_R1: replica 1 ACKs, replica 2 NACKs naming the variable; status --json agrees."""
    data = config(("gpt-4", "needs ONLY_ON_R1"))
    data = data.replace(b"mock_response", b"api_base: os.environ/ONLY_ON_R1\n    mock_response")
    result = cli(checkout, "push", str(write(checkout, "needs-env.yaml", data)), "--wait", "--timeout", "90")
    assert result.returncode == 4, result.stdout + result.stderr
    assert "NACK" in result.stdout and "ONLY_ON_R1" in result.stdout
    snap = status_json(checkout)
    by_id = {r["replica_id"]: r for r in snap["replicas"]}
    assert by_id["replica-1"]["state"] == "ack" and by_id["replica-1"]["version"] == snap["current"]["version"]
    r2 = by_id["replica-2"]
    assert r2["state"] == "nack" and r2["lagging"] and not r2["stale"]
    assert r2["rejected"]["version"] == snap["current"]["version"]
    assert any("ONLY_ON_R1" in e["message"] and e["path"] == "model_list[0].litellm_params.api_base" for e in r2["rejected"]["errors"])
    assert r2["source"] in ("push", "poll") and r2["heartbeat_at"]
    human = cli(checkout, "status")
    assert "NACK" in human.stdout and "LAGGING" in human.stdout


def test_diff_shows_a_real_change_against_the_current_release(stack: DevStack, checkout: Path) -> None:
    """diff FILE: the group added and the changed deployment field, secrets masked, nothing uploaded."""
    data = config(("gpt-4", "changed reply"), ("extra-group", "x"), extra={"router_settings": {"num_retries": 4}})
    result = cli(checkout, "diff", str(write(checkout, "d.yaml", data)))
    assert result.returncode == 0, result.stderr
    assert "+ extra-group" in result.stdout
    assert "- litellm_params.api_base: os.environ/ONLY_ON_R1" in result.stdout
    assert "+ num_retries: 4" in result.stdout
    as_json = json.loads(cli(checkout, "diff", str(checkout / "d.yaml"), "--json").stdout)
    assert as_json["model_groups"]["added"] == ["extra-group"]


def test_rollback_restores_the_previous_release_then_a_new_push_wins(stack: DevStack, checkout: Path) -> None:
    """rollback --wait re-releases release A under a new, newest version on every replica; a later push wins over it."""
    before = status_json(checkout)["current"]
    release_a = hashlib.sha256((checkout / "a.yaml").read_bytes()).hexdigest()
    result = cli(checkout, "rollback", "--wait", "--timeout", "90")
    assert result.returncode == 0, result.stdout + result.stderr
    after = status_json(checkout)["current"]
    assert after["sha256"] == release_a and after["version"] > before["version"]
    assert shas(stack) == {release_a}
    history = json.loads(cli(checkout, "history", "--json").stdout)
    rollback_row = next(row for row in history if row["version"] == after["version"])
    assert rollback_row["current"] and rollback_row["rollback_of"] and rollback_row["uploaded_by"]
    assert any(row["verdict"] == "accepted" and row["sha256"] == release_a and row["version"] < after["version"] for row in history)

    newer = config(("gpt-4", "after the rollback"))
    pushed = cli(checkout, "push", str(write(checkout, "newer.yaml", newer)), "--wait", "--timeout", "90")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert status_json(checkout)["current"]["version"] > after["version"]
    assert shas(stack) == {hashlib.sha256(newer).hexdigest()}
    human = cli(checkout, "history")
    assert "rollback of" in human.stdout and "(current)" in human.stdout


def test_metrics_parse_with_prometheus_client(stack: DevStack, checkout: Path) -> None:
    """/metrics without a key: config info matches /health/config; applies, apply duration, propagation, source, bus state."""
    url = stack.running[0].url
    response = httpx.get(f"{url}/metrics", timeout=5)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    info = families["gateway_config_info"].samples[0].labels
    assert (info["version"], info["sha256"]) == (health(url)["version"], health(url)["sha256"])
    applies = {s.labels["result"]: s.value for s in families["gateway_config_applies"].samples if s.name.endswith("_total")}
    assert applies["applied"] >= 3
    count = {s.name: s.value for s in families["gateway_config_apply_duration_seconds"].samples}
    assert count["gateway_config_apply_duration_seconds_count"] >= 3
    propagation = {s.name: s.value for s in families["gateway_config_propagation_seconds"].samples}
    assert propagation["gateway_config_propagation_seconds_count"] >= 1
    by_source = {s.labels["source"]: s.value for s in families["gateway_config_applies_by_source"].samples if s.name.endswith("_total")}
    assert sum(by_source.values()) >= 3 and set(by_source) <= {"push", "poll", "file"}
    assert families["gateway_servicebus_connected"].samples[0].value == 1
    assert families["gateway_cache_backend"].samples[0].labels["backend"] == "none"  # these configs turn no cache on
    assert stack.master_key not in response.text


def test_a_killed_replica_shows_as_stale(stack: DevStack, checkout: Path) -> None:
    """SIGKILL leaves no "stopped" report: the heartbeat ages and status flags the replica stale."""
    victim = stack.running[1]
    os.kill(victim.proc.pid, signal.SIGKILL)
    victim.proc.wait(timeout=10)
    timeout = 3 * REPORT_INTERVAL + 5 + 15

    def stale() -> dict | None:
        rows = {r["replica_id"]: r for r in status_json(checkout)["replicas"]}
        return rows if rows["replica-2"]["stale"] and not rows["replica-1"]["stale"] else None

    rows = wait_until(stale, timeout=timeout, interval=1.0, what="replica-2 flagged stale")
    assert rows["replica-2"]["state"] != "stopped"
    assert "STALE" in cli(checkout, "status").stdout
