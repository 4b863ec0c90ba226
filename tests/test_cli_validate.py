"""`genai-gateway validate`: exit codes, human output and the --json contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "validate", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_valid_file_exits_zero(tmp_path: Path) -> None:
    """A valid config exits 0 and says so."""
    result = _run(str(REPO / "examples" / "config.yaml"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("valid")


def test_invalid_file_json_names_paths(tmp_path: Path) -> None:
    """An invalid config exits 1 and --json lists each error's path and message."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_list:\n  - model_name: x\n    litellm_params: {model: openai/x, rpm: -1}\nrouter_settings: {bogus: 1}\n")
    result = _run(str(bad), "--json")
    assert result.returncode == 1
    body = json.loads(result.stdout)
    assert body["valid"] is False
    assert {"path": "model_list[0].litellm_params.rpm", "message": "expected a non-negative number, got -1"} in body["errors"]


def test_publisher_mode_does_not_need_replica_env() -> None:
    """Publisher mode accepts the seed config without its env; replica mode names what is missing."""
    example = str(REPO / "config.yaml.example")
    assert _run(example, "--mode", "publisher").returncode == 0
    replica = _run(example, "--mode", "replica", "--json")
    assert replica.returncode == 1
    assert any("EASTUS_MI_CLIENT_ID" in e["message"] for e in json.loads(replica.stdout)["errors"])


def test_unreadable_file_exits_two(tmp_path: Path) -> None:
    """A missing file is a usage error (exit 2) naming the file."""
    result = _run(str(tmp_path / "nope.yaml"))
    assert result.returncode == 2 and "nope.yaml" in result.stderr
