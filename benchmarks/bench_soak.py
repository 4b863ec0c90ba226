"""Memory soak: RSS every 100 live applies of a 50-deployment config, beside LiteLLM's own path.

Two processes get the same sequence of configs (50 deployments, every apply
changes every deployment, so every apply builds a new set of deployments):

* the gateway: ``genai-gateway serve --config FILE``; each config is written to
  FILE and the benchmark waits until ``/health/config`` reports its sha256
  (validation + apply, the path every replica takes). One chat request per
  apply keeps the request path (clients, callbacks) in the loop;
* LiteLLM's own way to change a running Router: one ``Router`` and
  ``Router.set_model_list(new_list)`` per config, in a process that imported
  the LiteLLM proxy, with the same chat request.

Both print RSS (``/proc/<pid>/statm``) every 100 applies; the summary line is
the growth from apply 100 (warm) to the last.

Usage: .venv/bin/python benchmarks/bench_soak.py [--applies 1000] [--deployments 50]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml
from _load import MASTER_KEY, REPO  # type: ignore[import-not-found]

from tests.support.processes import GatewayProcess, wait_until

PAGE = os.sysconf("SC_PAGE_SIZE")


def config(i: int, deployments: int) -> dict:
    models = [
        {"model_name": f"m{j % 10}", "litellm_params": {"model": f"openai/m{j}", "mock_response": f"v{i}",
                                                      "api_base": f"https://h{j}.example/v1", "api_key": "os.environ/BENCH_KEY"}}
        for j in range(deployments)
    ]
    return {"model_list": models, "litellm_settings": {"cache": False}}


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def soak_gateway(applies: int, deployments: int, workdir: Path) -> list[tuple[int, float]]:
    path = workdir / "config.yaml"
    path.write_bytes(yaml.safe_dump(config(-1, deployments)).encode())
    gw = GatewayProcess(
        args=["serve", "--config", str(path)],
        env={"LITELLM_MASTER_KEY": MASTER_KEY, "BENCH_KEY": "bench-upstream-key-0001", "GATEWAY_FILE_POLL_INTERVAL": "0.05",
             "LITELLM_YAML_STORAGE_PATH": str(workdir / "applied" / "config.yaml"), "GATEWAY_LOG_LEVEL": "WARNING"},
        log_path=workdir / "gateway.log",
    ).start(timeout=120)
    samples = []
    assert gw.proc is not None
    try:
        with httpx.Client(base_url=gw.base_url, timeout=30, headers={"Authorization": f"Bearer {MASTER_KEY}"}) as http:
            for i in range(applies):
                data = yaml.safe_dump(config(i, deployments)).encode()
                path.write_bytes(data)
                digest = hashlib.sha256(data).hexdigest()
                wait_until(lambda d=digest: _applied(http.get("/health/config").json(), d), timeout=60, interval=0.02,
                           what=f"apply {i}")
                http.post("/v1/chat/completions", json={"model": "m1", "messages": [{"role": "user", "content": "x"}]})
                if (i + 1) % 100 == 0:
                    samples.append((i + 1, rss_mb(gw.proc.pid)))
                    print(f"  gateway   apply {i + 1:5d}: RSS {samples[-1][1]:7.1f} MB", flush=True)
    finally:
        gw.stop()
    return samples


def _applied(health: dict, digest: str) -> bool:
    """The file with ``digest`` is live (local files are versioned ``sha-<first 12 hex digits>``)."""
    return health.get("sha256") == digest or health.get("version") == f"sha-{digest[:12]}"


_BASELINE = r"""
import json, os, sys, asyncio
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
import litellm
from litellm.proxy import proxy_server  # the proxy's imports, as in a running proxy
sys.path.insert(0, sys.argv[3])
from bench_soak import config, rss_mb
applies, deployments = int(sys.argv[1]), int(sys.argv[2])
def resolved(c):
    for e in c["model_list"]:
        e["litellm_params"]["api_key"] = "k"
    return c["model_list"]
router = litellm.Router(model_list=resolved(config(-1, deployments)))
async def main():
    for i in range(applies):
        router.set_model_list(resolved(config(i, deployments)))
        await router.acompletion(model="m1", messages=[{"role": "user", "content": "x"}])
        if (i + 1) % 100 == 0:
            print(json.dumps([i + 1, rss_mb(os.getpid())]), flush=True)
asyncio.run(main())
"""


def soak_litellm(applies: int, deployments: int) -> list[tuple[int, float]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _BASELINE, str(applies), str(deployments), str(REPO / "benchmarks")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO,
    )
    samples = []
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("["):
            n, rss = json.loads(line)
            samples.append((n, rss))
            print(f"  set_model_list apply {n:5d}: RSS {rss:7.1f} MB", flush=True)
    proc.wait(timeout=60)
    return samples


def growth(samples: list[tuple[int, float]]) -> str:
    if len(samples) < 2:
        return "n/a"
    return f"{samples[-1][1] - samples[0][1]:+.1f} MB from apply {samples[0][0]} to {samples[-1][0]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--applies", type=int, default=1000)
    parser.add_argument("--deployments", type=int, default=50)
    args = parser.parse_args()
    print(f"soak: {args.applies} applies of a {args.deployments}-deployment config, one chat request per apply")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        gateway = soak_gateway(args.applies, args.deployments, Path(tmp))
    print(f"  ({time.monotonic() - started:.0f} s)")
    baseline = soak_litellm(args.applies, args.deployments)
    print(f"RSS growth  gateway (validate + apply): {growth(gateway)}")
    print(f"RSS growth  LiteLLM Router.set_model_list: {growth(baseline)}")


if __name__ == "__main__":
    main()
