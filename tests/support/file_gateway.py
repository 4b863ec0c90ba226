"""One ``genai-gateway serve --config FILE`` in front of fake Azure regions, shared by the e2e suites.

The client-contract and failover suites both run a module-scoped gateway on a local
file, with deployments pointing at ``FakeLLMServer`` regions, and apply configs by
rewriting the file and waiting for ``/health/config`` to report its sha256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.fakes.fake_llm_server import FakeLLMServer
from tests.support.processes import MASTER_KEY, GatewayProcess, wait_until

#: The key every fake deployment references (``os.environ/FAKE_AZURE_KEY``); long enough for the secret rules.
FAKE_AZURE_KEY = "fake-azure-key-" + "0" * 16


def azure_deployment(base_url: str, name: str, group: str = "gpt-4") -> dict[str, Any]:
    """A ``model_list`` entry: Azure deployment ``name`` served at ``base_url`` in model group ``group``."""
    return {
        "model_name": group,
        "litellm_params": {"model": f"azure/{name}", "api_base": base_url, "api_key": "os.environ/FAKE_AZURE_KEY",
                           "api_version": "2024-06-01"},
    }


@contextmanager
def file_gateway(work: Path) -> Iterator[GatewayProcess]:
    """A gateway serving ``work/config.yaml`` (not started: write the first config, then ``start``); stopped on exit."""
    proc = GatewayProcess(
        args=["serve", "--config", str(work / "config.yaml")],
        env={
            "LITELLM_MASTER_KEY": MASTER_KEY,
            "FAKE_AZURE_KEY": FAKE_AZURE_KEY,
            "LITELLM_YAML_STORAGE_PATH": str(work / "applied" / "config.yaml"),
            "GATEWAY_FILE_POLL_INTERVAL": "0.1",
        },
        log_path=work / "gateway.log",
    )
    try:
        yield proc
    finally:
        proc.stop()


def apply_config(gateway: GatewayProcess, config: Path, data: bytes, fakes: Iterable[FakeLLMServer]) -> None:
    """Write ``data`` to ``config``, wait until the gateway applied it, and forget the fakes' earlier calls."""
    config.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    wait_until(lambda: gateway.health()["sha256"] == digest, timeout=60, what=f"apply of {digest[:12]}")
    for fake in fakes:
        fake.reset()
