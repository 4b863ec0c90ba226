"""Property: a replica that applied configs A, B, ..., Z live behaves like a replica started fresh on Z (issue 13, item 1).

Configs are drawn from pools that cover every section (``model_list`` with its
per-deployment blocks, ``router_settings``, ``litellm_settings``, ``general_settings``),
each pool including "absent". One live replica applies random sequences; for each
sequence a new replica is started on the last config, and both answer the same probes.
The seed is fixed so a failure replays; ``GATEWAY_PROPERTY_SEED`` picks another.
"""

from __future__ import annotations

import hashlib
import os
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.processes import MASTER_KEY, GatewayProcess, wait_until

SEED = int(os.environ.get("GATEWAY_PROPERTY_SEED", "1313"))
SEQUENCES = 3
LENGTH = 4
AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}


def _mock(name: str, reply: str, **params: Any) -> dict[str, Any]:
    return {"model_name": name, "litellm_params": {"model": f"openai/{name}", "mock_response": reply, **params}}


MODEL_LISTS = [
    [_mock("gpt-4", "a")],
    [_mock("gpt-4", "b"), _mock("llama", "l")],
    [_mock("gpt-4", "c", max_parallel_requests=5), _mock("gpt-4", "c")],
]
ROUTER = [None, {"model_group_alias": {"gpt-4o": "gpt-4"}}, {"num_retries": 1}]
LITELLM = [None, {"cache": True}, {"cache": False, "drop_params": True}]
GENERAL = [None, {"enforce_user_param": True}, {"max_request_size_mb": 1}, {"enforce_user_param": True, "max_request_size_mb": 2}]


def draw(rng: random.Random) -> bytes:
    body: dict[str, Any] = {"model_list": rng.choice(MODEL_LISTS)}
    for key, pool in (("router_settings", ROUTER), ("litellm_settings", LITELLM), ("general_settings", GENERAL)):
        value = rng.choice(pool)
        if value is not None:
            body[key] = value
    return yaml.safe_dump(body, sort_keys=True).encode()


def _start(work: Path, name: str, data: bytes) -> GatewayProcess:
    (work / name).mkdir(exist_ok=True)
    (work / name / "config.yaml").write_bytes(data)
    return GatewayProcess(
        args=["serve", "--config", str(work / name / "config.yaml")],
        env={
            "LITELLM_MASTER_KEY": MASTER_KEY,
            "LITELLM_YAML_STORAGE_PATH": str(work / name / "applied" / "config.yaml"),
            "GATEWAY_FILE_POLL_INTERVAL": "0.1",
        },
        log_path=work / name / "gateway.log",
    ).start(timeout=240)


def _apply(proc: GatewayProcess, path: Path, data: bytes) -> None:
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    wait_until(lambda: proc.health()["sha256"] == digest, timeout=60, what=f"apply of {digest[:12]}")


def _outcome(response: httpx.Response) -> tuple[Any, ...]:
    if response.status_code == 200:
        return (200, response.json()["choices"][0]["message"]["content"])
    return (response.status_code, response.json().get("error", {}).get("code"))


def observe(proc: GatewayProcess) -> dict[str, Any]:
    """What a client can see of the config in force; request texts are fresh so no earlier cache answers."""
    base = f"{proc.base_url}/v1"
    nonce = uuid.uuid4().hex

    def chat(model: str, text: str, **extra: Any) -> httpx.Response:
        body = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
        return httpx.post(f"{base}/chat/completions", json=body, headers=AUTH, timeout=30)

    cached = [chat("gpt-4", f"cache {nonce}", user="u") for _ in range(2)]
    return {
        "no user": _outcome(chat("gpt-4", f"a {nonce}")),
        "with user": _outcome(chat("gpt-4", f"b {nonce}", user="u")),
        "alias": _outcome(chat("gpt-4o", f"c {nonce}", user="u")),
        "llama": _outcome(chat("llama", f"d {nonce}", user="u")),
        "1.5 MB body": _outcome(chat("gpt-4", "x" * 1_500_000 + nonce, user="u")),
        "3 MB body": _outcome(chat("gpt-4", "x" * 3_000_000 + nonce, user="u")),
        "second identical answer cached": "x-litellm-cache-key" in cached[1].headers and cached[1].status_code == 200,
        "models": sorted(m["id"] for m in httpx.get(f"{base}/models", headers=AUTH, timeout=30).json()["data"]),
    }


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fresh")


@pytest.fixture(scope="module")
def live(work: Path) -> Iterator[GatewayProcess]:
    proc = _start(work, "live", draw(random.Random(SEED - 1)))
    try:
        yield proc
    finally:
        proc.stop()


@pytest.mark.parametrize("sequence", range(SEQUENCES))
def test_live_applies_end_where_a_fresh_start_begins(live: GatewayProcess, work: Path, sequence: int) -> None:
    """After a random sequence of live applies, every probe answers as a replica started fresh on the last config."""
    rng = random.Random(SEED + sequence)
    configs = [draw(rng) for _ in range(LENGTH)]
    for data in configs:
        _apply(live, work / "live" / "config.yaml", data)
    seen_live = observe(live)
    fresh = _start(work, f"fresh-{sequence}", configs[-1])
    try:
        seen_fresh = observe(fresh)
    finally:
        fresh.stop()
    last = yaml.safe_load(configs[-1])
    assert seen_live == seen_fresh, f"seed {SEED + sequence}, last config {last}"
