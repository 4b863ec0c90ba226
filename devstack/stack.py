"""`make run` (`python -m devstack`): the whole pipeline on one machine, with no Azure and no Docker.

Azurite (Blob Storage) -> a local Event Grid deliverer -> the Function's code
(invoked in-process, as Core Tools would) -> the Service Bus emulator -> N
gateway replicas (real ``genai-gateway serve`` processes), plus a redis-server
when the machine has one. Everything it starts is written to
``.dev/stack.json`` and stopped on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from devstack.azurite import Azurite

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "examples" / "config.yaml"


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Replica:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class DevStack:
    """The local pipeline. ``start()`` returns once every replica is ready; ``stop()`` is bounded."""

    state_dir: Path
    replicas: int = 2
    container: str = "litellm-config"
    config_blob: str = "config.yaml"
    refresh_interval: float = 60.0
    servicebus: bool = True
    redis: bool = True
    base_port: int = 8000
    initial_config: Path = DEFAULT_CONFIG
    master_key: str = field(default_factory=lambda: "sk-dev-" + secrets.token_hex(20))
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.state_dir = self.state_dir.resolve()
        self.azurite: Azurite | None = None
        self.emulator: Any = None
        self.deliverer: Any = None
        self.redis_proc: subprocess.Popen[bytes] | None = None
        self.redis_port: int | None = None
        self.running: list[Replica] = []
        self._saved_env: dict[str, str | None] = {}

    # -- lifecycle ---------------------------------------------------------------

    def start(self, *, wait_ready: bool = True) -> DevStack:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.start_blob()
            if self.servicebus:
                self.start_servicebus()
            self.start_function()
            if self.redis:
                self.start_redis()
            for index in range(1, self.replicas + 1):
                self.start_replica(index)
            if wait_ready:
                for replica in self.running:
                    self.wait_replica_ready(replica)
            self.write_manifest()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for replica in self.running:
            _terminate(replica.proc)
        self.running.clear()
        if self.deliverer is not None:
            self.deliverer.stop()
            self.deliverer = None
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None
        if self.redis_proc is not None:
            _terminate(self.redis_proc)
            self.redis_proc = None
        if self.azurite is not None:
            self.azurite.stop()
            self.azurite = None
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()

    # -- pieces --------------------------------------------------------------------

    def start_blob(self) -> None:
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.blob import BlobServiceClient

        self.azurite = Azurite(self.state_dir / "azurite").start()
        service = BlobServiceClient.from_connection_string(self.azurite.connection_string)
        try:
            service.create_container(self.container)
        except ResourceExistsError:
            pass
        blob = service.get_blob_client(self.container, self.config_blob)
        if not blob.exists():
            blob.upload_blob(self.initial_config.read_bytes(), overwrite=True)

    def start_servicebus(self) -> None:
        from devstack.servicebus_emulator import ServiceBusEmulator

        subscriptions = [
            {"Name": f"replica-{i}", "Properties": {"LockDuration": "PT30S", "MaxDeliveryCount": 10}}
            for i in range(1, self.replicas + 1)
        ]
        config = {
            "UserConfig": {
                "Namespaces": [
                    {"Name": "sbemulatorns", "Queues": [], "Topics": [{"Name": "config-updates", "Subscriptions": subscriptions}]}
                ],
                "Logging": {"Type": "Console"},
            }
        }
        self.emulator = ServiceBusEmulator(config, host="127.0.0.1", port=0).start()

    def stop_servicebus(self) -> None:
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None

    def _azure_env(self) -> dict[str, str]:
        """What both the Function and the replicas need to reach the local Blob Storage and bus."""
        assert self.azurite is not None
        env = {
            "BLOB_AUTH_TYPE": "CONNECTION_STRING",
            "BLOB_CONNECTION_STRING": self.azurite.connection_string,
            "BLOB_DOC_CONTAINER": self.container,
            "BLOB_CONFIG_NAME": self.config_blob,
            "SERVICEBUS_TOPIC": "config-updates",
        }
        if self.emulator is not None:
            env["SERVICEBUS_CONNECTION_STRING"] = self.emulator.connection_string
        return env

    def function_env(self) -> dict[str, str]:
        return self._azure_env()

    def start_function(self) -> None:
        """The Function's code, fed by the local Event Grid deliverer, in this process."""
        from azure.storage.blob import ContainerClient

        from devstack.eventgrid import BlobEventDeliverer, invoke_function

        for name, value in self.function_env().items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value
        assert self.azurite is not None
        container = ContainerClient.from_connection_string(self.azurite.connection_string, self.container)
        self.deliverer = BlobEventDeliverer(container, invoke_function, blob_name=self.config_blob)
        self.deliverer.start()
        # Import the Function now, while the replicas boot, as a Functions worker does at start;
        # its warm-up (LiteLLM import, first Router build) runs then, not on the first upload.
        threading.Thread(target=_warm_function, name="warm-function", daemon=True).start()

    def start_redis(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            log.warning("redis-server not found: replicas use the in-memory cache (apt-get install redis-server)")
            return
        self.redis_port = _free_port()
        self.redis_proc = subprocess.Popen(
            [binary, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def replica_env(self, index: int, port: int) -> dict[str, str]:
        env = {
            **self._azure_env(),
            "LITELLM_YAML_REFRESH_INTERVAL": str(self.refresh_interval),
            "LITELLM_YAML_STORAGE_PATH": str(self.state_dir / f"replica-{index}" / "config.yaml"),
            "LITELLM_PORT": str(port),
            "LITELLM_HOST": "127.0.0.1",
            "LITELLM_MASTER_KEY": self.master_key,
            "GATEWAY_CONFIG_SOURCE": "blob",
            # Replica reports (status/replicas/<id>.json): both replicas share one host name here.
            "GATEWAY_REPLICA_ID": f"replica-{index}",
        }
        if self.emulator is not None:
            env["SERVICEBUS_SUBSCRIPTION"] = f"replica-{index}"
        if self.redis_port is not None:
            env.update({"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(self.redis_port), "REDIS_AUTH_TYPE": "NONE"})
        return {**env, **self.extra_env}

    def start_replica(self, index: int) -> Replica:
        port = self.base_port + index - 1
        if not port or not _port_free(port):
            port = _free_port()
        log_path = self.state_dir / f"replica-{index}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SERVICEBUS_", "BLOB_", "REDIS_"))}
        env.update(self.replica_env(index, port))
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve"],
            env=env,
            stdout=open(log_path, "ab"),
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        replica = Replica(f"replica-{index}", port, proc, log_path)
        self.running.append(replica)
        return replica

    def wait_replica_ready(self, replica: Replica, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if replica.proc.poll() is not None:
                raise RuntimeError(f"{replica.name} exited with {replica.proc.returncode}; see {replica.log_path}")
            try:
                if httpx.get(f"{replica.url}/health/readiness", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{replica.name} not ready after {timeout}s; see {replica.log_path}")

    # -- reporting -----------------------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        assert self.azurite is not None
        return {
            "blob_connection_string": self.azurite.connection_string,
            "container": self.container,
            "config_blob": self.config_blob,
            "replicas": [r.url for r in self.running],
            "master_key": self.master_key,
            "servicebus_connection_string": self.emulator.connection_string if self.emulator else None,
            "servicebus_topic": "config-updates",
            "redis": f"redis://127.0.0.1:{self.redis_port}" if self.redis_port else None,
            "status_blob": f"status/{self.config_blob}.json",
            "logs": [str(r.log_path) for r in self.running],
        }

    def write_manifest(self) -> Path:
        path = self.state_dir / "stack.json"
        path.write_text(json.dumps(self.manifest(), indent=2))
        os.chmod(path, 0o600)  # it holds the local master key
        return path


def _warm_function() -> None:
    from devstack.eventgrid import load_function_app

    load_function_app()  # importing function_app starts its own warm-up thread


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def run_dev(*, state_dir: Path, replicas: int) -> int:
    """Start the stack, print how to use it, and run until Ctrl-C or SIGTERM."""
    stack = DevStack(state_dir=state_dir, replicas=replicas, base_port=int(os.environ.get("LITELLM_PORT", "8000")))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print("starting the local pipeline (Azurite, Event Grid deliverer + Function, Service Bus emulator, replicas)...", flush=True)
    stack.start()
    info = stack.manifest()
    replica_url = info["replicas"][0]
    print(
        f"""
local pipeline ready; endpoints in {state_dir / 'stack.json'}

  replicas:      {', '.join(info['replicas'])}
  master key:    {info['master_key']}
  service bus:   {'emulator, topic config-updates' if info['servicebus_connection_string'] else 'off'}
  redis:         {info['redis'] or 'not installed: in-memory cache'}

upload a new config (nothing else to install):

  .venv/bin/python -m devstack upload my-config.yaml

or with the az CLI, as against a real storage account:

  az storage blob upload --overwrite \\
    --connection-string "$(jq -r .blob_connection_string {state_dir}/stack.json)" \\
    --container-name {info['container']} --name {info['config_blob']} --file my-config.yaml

  then: curl -s {replica_url}/health/config      # ready, version, sha256, last_release_rejected
        curl -s -H "Authorization: Bearer $(jq -r .master_key {state_dir}/stack.json)" {replica_url}/health/config   # + errors
  rejected uploads: the status blob {info['status_blob']} says why

call the replicas with the OpenAI SDK:

  from openai import OpenAI
  client = OpenAI(base_url="{replica_url}/v1", api_key="{info['master_key']}")
  client.chat.completions.create(model="gpt-4", messages=[{{"role": "user", "content": "Hello!"}}])

Ctrl-C stops everything.
""",
        flush=True,
    )
    try:
        while not stop.is_set():
            for replica in stack.running:
                if replica.proc.poll() is not None:
                    print(f"{replica.name} exited ({replica.proc.returncode}); see {replica.log_path}", file=sys.stderr)
                    stop.set()
            stop.wait(1.0)
    finally:
        print("stopping...", flush=True)
        stack.stop()
    return 0
