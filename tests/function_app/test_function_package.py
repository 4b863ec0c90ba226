"""The Function's deployment package, tested as the artefact deploy.sh publishes.

Builds the zip with the packaging command (``function_app/package.py``, what
``infra/deploy.sh`` runs), installs ``function_app/requirements.txt`` into a clean virtualenv
(standing in for the Flex remote build), unpacks the zip, imports ``function_app`` from it in a
separate process with that venv's Python and the unpacked folder as its only code (no
repository on ``sys.path``), and runs its Event Grid handler on real BlobCreated events against
Azurite and the Service Bus emulator, the way the Functions Python worker would.

It also measures what a cold start costs (venv size, import time, first validation) against
Event Grid's 30 s delivery timeout and the Flex Consumption 30 s start-up limit; run with ``-s``
to see the figures (docs/benchmarks.md, "Function package").
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devstack.azurite import Azurite
from devstack.servicebus_emulator import ServiceBusEmulator
from tests.infra.helpers import bicep, body, only, resources_of_type
from tests.publisher.stack import BAD, GOOD, GOOD_2, TOPIC, Harness
from tests.publisher.stack import body as message_body

REPO = Path(__file__).resolve().parents[2]
REQUIREMENTS = REPO / "function_app" / "requirements.txt"
PACKAGE_COMMAND = REPO / "function_app" / "package.py"
#: Event Grid waits this long for the Function to answer; Flex gives a host this long to start.
EVENT_GRID_DELIVERY_TIMEOUT_S = 30
FLEX_STARTUP_LIMIT_S = 30

#: Runs inside the venv, in the unpacked package: what the Python worker does, one event per stdin line.
DRIVER = r'''
import json, os, sys, time

app_root = os.getcwd()
sys.path.insert(0, app_root)  # the Functions Python worker puts the app root on sys.path

started = time.perf_counter()
import function_app
import_seconds = time.perf_counter() - started

import gateway
from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter

functions = {fn.get_function_name(): fn for fn in function_app.app.get_functions()}
print(json.dumps({
    "import_seconds": import_seconds,
    "function_app": function_app.__file__,
    "gateway": gateway.__file__,
    "sys_path": sys.path,
    "functions": sorted(functions),
    "python": "%d.%d" % sys.version_info[:2],
    "devstack_loaded": sorted(m for m in sys.modules if m.split(".")[0] in ("devstack", "tests", "proton")),
}), flush=True)

fn = functions["on_config_blob_created"]
trigger = next(b for b in fn.get_bindings() if b.type == "eventGridTrigger")
handler = fn.get_user_function()
for line in sys.stdin:
    event = EventGridEventInConverter.decode(meta.Datum(line, "json"), trigger_metadata={})
    started = time.perf_counter()
    try:
        handler(**{trigger.name: event})
        result = {"ok": True}
    except Exception as exc:
        result = {"ok": False, "error": "%s: %s" % (type(exc).__name__, exc)}
    result["seconds"] = time.perf_counter() - started
    print(json.dumps(result), flush=True)
'''


@dataclass
class FunctionVenv:
    python: Path
    install_seconds: float
    size_bytes: int


def _tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def _function_python() -> str:
    """An interpreter of the Python version the Function App runs (functionAppConfig.runtime in the bicep)."""
    app = body(only(resources_of_type(bicep("modules/functionapp.bicep"), "Microsoft.Web/sites")))
    version = app["properties"]["functionAppConfig"]["runtime"]["version"]
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        return sys.executable
    found = shutil.which(f"python{version}")
    assert found, f"the Function runs Python {version}; install python{version} to test its package"
    return found


@pytest.fixture(scope="session")
def function_venv(tmp_path_factory: pytest.TempPathFactory) -> FunctionVenv:
    """A clean venv with function_app/requirements.txt installed by plain pip (built once per session)."""
    root = tmp_path_factory.mktemp("function-venv") / "venv"
    subprocess.run([_function_python(), "-m", "venv", str(root)], check=True, timeout=120)
    python = root / "bin" / "python"
    started = time.perf_counter()
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "--require-hashes", "-r", str(REQUIREMENTS)],
        check=False, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return FunctionVenv(python, time.perf_counter() - started, _tree_size(root))


@pytest.fixture(scope="session")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The deployment zip, built by the packaging command deploy.sh runs."""
    output = tmp_path_factory.mktemp("function-package") / "function_app.zip"
    subprocess.run([sys.executable, str(PACKAGE_COMMAND), "--output", str(output)], check=True, capture_output=True, timeout=120)
    return output


@pytest.fixture
def app_root(package: Path, tmp_path: Path) -> Path:
    """The zip unpacked, as the Flex host lays it out."""
    root = tmp_path / "wwwroot"
    with zipfile.ZipFile(package) as archive:
        archive.extractall(root)
    return root


class Driver:
    """The unpacked Function in its own process: send events, read the handler's results."""

    def __init__(self, venv: FunctionVenv, root: Path, env: dict[str, str], stderr: Path) -> None:
        script = root.parent / "driver.py"
        script.write_text(DRIVER)
        self._stderr = stderr.open("w")
        # -I: no PYTHONPATH, no user site, no script folder on sys.path; only the venv and the app root.
        self.proc = subprocess.Popen(
            [str(venv.python), "-I", str(script)], cwd=root, env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
        )  # fmt: skip
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.stderr_path = stderr

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)

    def read(self, timeout: float = 120) -> dict[str, Any]:
        try:
            return json.loads(self._lines.get(timeout=timeout))
        except queue.Empty:
            raise AssertionError(f"the Function process said nothing for {timeout}s: {self.stderr_path.read_text()[-3000:]}") from None

    def deliver(self, event: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(event) + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._stderr.close()


@pytest.fixture
def driver(function_venv: FunctionVenv, app_root: Path, harness: Harness, azurite: Azurite, emulator: ServiceBusEmulator, tmp_path: Path) -> Iterator[Driver]:
    """The unpacked package running with the Function's app settings pointed at Azurite and the emulator."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "BLOB_CONNECTION_STRING": azurite.connection_string,
        "BLOB_DOC_CONTAINER": harness.container.container_name,
        "SERVICEBUS_CONNECTION_STRING": emulator.connection_string,
        "SERVICEBUS_TOPIC": TOPIC,
    }
    running = Driver(function_venv, app_root, env, tmp_path / "function.stderr")
    try:
        yield running
    finally:
        running.close()


def test_package_holds_the_app_and_the_vendored_gateway_only(package: Path):
    """The zip has host.json at its root, the app files and gateway/, and no dev tooling, tests, settings or bytecode."""
    with zipfile.ZipFile(package) as archive:
        names = archive.namelist()
        sources = {n: archive.read(n).decode() for n in names if n.endswith(".py")}
    assert {"host.json", "function_app.py", "requirements.txt", "gateway/publisher/__init__.py"} <= set(names)
    assert {n.split("/")[0] for n in names} == {"host.json", "function_app.py", "requirements.txt", "gateway"}
    assert not [n for n in names if n.endswith((".pyc", ".pyo")) or "__pycache__" in n]
    assert not [n for n, text in sources.items() if "import devstack" in text or "from devstack" in text]
    assert zipfile.ZipFile(package).read("requirements.txt") == REQUIREMENTS.read_bytes()


def test_unpacked_package_handles_blob_created_events(driver: Driver, harness: Harness, function_venv: FunctionVenv, app_root: Path):
    """The unpacked zip, on a clean venv, imports on its own and publishes a good upload, rejects a bad one, within the time limits."""
    loaded = driver.read()
    assert loaded["functions"] == ["on_config_blob_created"]
    assert Path(loaded["function_app"]).parent == app_root
    assert Path(loaded["gateway"]).is_relative_to(app_root / "gateway")
    assert not [p for p in loaded["sys_path"] if p and Path(p).resolve().is_relative_to(REPO)], loaded["sys_path"]
    assert loaded["devstack_loaded"] == []

    event = harness.upload(GOOD)
    first = driver.deliver(event)
    assert first["ok"], first
    assert harness.status().result == "accepted"
    assert harness.current().version == event["data"]["sequencer"]
    [message] = harness.receive()
    assert message_body(message) == GOOD

    rejected = driver.deliver(harness.upload(BAD))
    assert rejected["ok"], rejected  # a rejected config is a normal outcome, not a retry
    assert harness.status().result == "rejected" and harness.status().errors
    assert harness.receive() == []

    warm = driver.deliver(harness.upload(GOOD_2))
    assert warm["ok"], warm
    [message] = harness.receive()
    assert message_body(message) == GOOD_2

    # Cold start budget: a first delivery must be answered before Event Grid gives up on it.
    assert loaded["import_seconds"] < FLEX_STARTUP_LIMIT_S
    assert loaded["import_seconds"] + first["seconds"] < EVENT_GRID_DELIVERY_TIMEOUT_S
    print(
        f"\nfunction package: Python {loaded['python']}, zip {_size(app_root)} unpacked; "
        f"venv {function_venv.size_bytes / 1e6:.0f} MB installed in {function_venv.install_seconds:.0f} s; "
        f"cold import of function_app {loaded['import_seconds']:.2f} s; "
        f"first event (first validation, end to end) {first['seconds']:.2f} s; "
        f"rejected {rejected['seconds']:.2f} s; warm event {warm['seconds']:.2f} s"
    )


def _size(root: Path) -> str:
    return f"{_tree_size(root) / 1e3:.0f} kB"
