"""`make run` alone on a fresh clone: its install step is enough for the whole local pipeline.

The test clones this repository (plus the working tree's changes, so it checks what will be
committed), runs `make install` there — the exact target `make run` depends on (asserted in
tests/supply_chain/test_install_paths.py) — then `python -m devstack` from the clone, uploads a
changed config with `python -m devstack upload`, sees the replica apply it, and stops the stack
with SIGTERM. Package downloads come from the machine's uv/npm caches, so it takes minutes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT = 900  # s; measured ~1 min (Python, warm uv cache) + 2-3 min (npm ci) on 2 loaded cores
READY_TIMEOUT = 240  # s; Azurite + the Function's LiteLLM import + one replica
APPLY_TIMEOUT = 60  # s; an upload reaches the replica through Event Grid -> Function -> Service Bus
STOP_TIMEOUT = 60  # s
REMOVE_TIMEOUT = 300  # s


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=120).stdout


def _clone_with_working_tree(target: Path) -> None:
    """A clean clone of HEAD with the working tree's tracked and untracked (not ignored) changes laid over it."""
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(target)],
        check=True,
        timeout=300,
    )
    for name in _git("ls-files", "-co", "--exclude-standard", "-z", cwd=REPO).split("\0"):
        source = REPO / name
        if name and source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    for name in _git("ls-files", "-d", "-z", cwd=REPO).split("\0"):
        if name:
            (target / name).unlink(missing_ok=True)


def _user_env() -> dict[str, str]:
    """The environment a developer's shell would have: none of this test run's venv or LiteLLM settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "LITELLM_", "GATEWAY_"))}
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):
        env.pop(name, None)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if "/.venv" not in p)
    return env


def _processes_under(root: Path) -> list[str]:
    """Command lines of live processes that run from, or name, ``root`` (the stack's Python, replicas, Azurite)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(root) in cmdline:
            found.append(f"{proc.name}: {cmdline[:200]}")
    return found


def _listening(url: str) -> bool:
    parsed = urlparse(url)
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((parsed.hostname or "127.0.0.1", parsed.port or 0)) == 0


def _ports(manifest: dict[str, object]) -> list[str]:
    """Every endpoint the stack wrote to stack.json, as URLs with a host and port."""
    urls = [str(u) for u in manifest["replicas"]]  # type: ignore[attr-defined]  # a list in the JSON
    blob = dict(part.split("=", 1) for part in str(manifest["blob_connection_string"]).split(";") if "=" in part)
    urls.append(blob["BlobEndpoint"])
    if manifest.get("servicebus_connection_string"):
        bus = dict(p.split("=", 1) for p in str(manifest["servicebus_connection_string"]).split(";") if "=" in p)
        urls.append(bus["Endpoint"].replace("sb://", "http://"))
    if manifest.get("redis"):
        urls.append(str(manifest["redis"]))
    return urls


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh clone after `make install`; removed afterwards (its venv and node_modules are ~1 GB)."""
    root = tmp_path_factory.mktemp("fresh-clone") / "genai-gateway"
    _clone_with_working_tree(root)
    assert not (root / ".venv").exists() and not (root / "node_modules").exists()
    try:
        started = time.monotonic()
        proc = subprocess.run(
            ["make", "install"],
            cwd=root,
            env=_user_env(),
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
        assert proc.returncode == 0, f"make install failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        print(f"make install on a fresh clone: {time.monotonic() - started:.0f} s")
        yield root
    finally:  # `rm -rf` is several times faster than shutil.rmtree on node_modules' ~55,000 files
        subprocess.run(["rm", "-rf", str(root)], check=False, timeout=REMOVE_TIMEOUT)


@pytest.mark.timeout(INSTALL_TIMEOUT + READY_TIMEOUT + APPLY_TIMEOUT + STOP_TIMEOUT + REMOVE_TIMEOUT)
def test_make_install_alone_runs_the_local_pipeline(clone: Path) -> None:
    """After only `make install`, `python -m devstack` starts, applies an uploaded config, and stops on SIGTERM."""
    env = {**_user_env(), "LITELLM_PORT": "0"}  # 0: the replica takes a free port
    stack = subprocess.Popen(
        [str(clone / ".venv" / "bin" / "python"), "-m", "devstack", "--replicas", "1"],
        cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    output: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert stack.stdout is not None
        for line in stack.stdout:
            output.append(line)
            if "local pipeline ready" in line:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    started = time.monotonic()
    try:
        if not ready.wait(READY_TIMEOUT):
            pytest.fail(f"no 'local pipeline ready' within {READY_TIMEOUT}s:\n{''.join(output)[-4000:]}")
        print(f"python -m devstack ready after {time.monotonic() - started:.0f} s")
        manifest = json.loads((clone / ".dev" / "stack.json").read_text())
        replica = manifest["replicas"][0]
        auth = {"Authorization": f"Bearer {manifest['master_key']}"}  # deployments and last_rejected are details
        first = httpx.get(f"{replica}/health/config", headers=auth, timeout=10).json()
        assert first["ready"] is True and first["deployments"] == 3, first

        changed = clone / "changed.yaml"
        changed.write_text(
            (clone / "examples" / "config.yaml").read_text().replace(
                "model_list:\n",
                'model_list:\n  - model_name: fresh-clone\n    litellm_params:\n      model: openai/fresh\n'
                '      mock_response: "uploaded from a fresh clone"\n',
                1,
            )
        )  # fmt: skip
        upload = subprocess.run(
            [str(clone / ".venv" / "bin" / "python"), "-m", "devstack", "upload", str(changed)],
            cwd=clone, env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert upload.returncode == 0, upload.stdout + upload.stderr
        deadline = time.monotonic() + APPLY_TIMEOUT
        status = first
        while time.monotonic() < deadline:
            status = httpx.get(f"{replica}/health/config", headers=auth, timeout=10).json()
            if status["version"] != first["version"]:
                break
            time.sleep(0.5)
        assert status["version"] != first["version"], f"upload not applied within {APPLY_TIMEOUT}s: {status}"
        print(f"upload applied {APPLY_TIMEOUT - (deadline - time.monotonic()):.1f} s after `devstack upload` returned")
        assert status["deployments"] == 4 and status["last_rejected"] is None, status

        endpoints = _ports(manifest)
        assert all(_listening(url) for url in endpoints), endpoints
        assert len(_processes_under(clone)) >= 3  # the stack, Azurite, the replica
    finally:
        if stack.poll() is None:
            os.kill(stack.pid, signal.SIGTERM)
        try:
            code = stack.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
            stack.wait(timeout=10)
            pytest.fail(f"the stack did not stop within {STOP_TIMEOUT}s of SIGTERM:\n{''.join(output)[-4000:]}")
        reader.join(timeout=10)
    assert code == 0, "".join(output)[-4000:]
    deadline = time.monotonic() + 20
    while _processes_under(clone) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _processes_under(clone), _processes_under(clone)
    still = [url for url in endpoints if _listening(url)]
    assert not still, f"still listening after SIGTERM: {still}"
