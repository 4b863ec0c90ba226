"""Throughput with wrk on pinned cores: the gateway against plain ``litellm --config``, same mock config.

A Python load generator on these 2 cores saturates before the proxy does (FACTS.md), so the load comes
from ``wrk`` (Debian: ``apt-get install -y wrk``): the server runs on core 0 (``taskset -c 0``), wrk on
core 1, 16 connections, POST /v1/chat/completions with the master key. Runs go in L G G L order
(repeated ``--rounds`` times) so drift hits both sides equally; each server gets a warm-up run first
(``--warmup`` seconds: both servers speed up over their first ~20 s, lazy imports and caches).
Prints every run (req/s, p50, p99, non-2xx, and the server's own CPU milliseconds per request, read
from /proc: the figure least disturbed by anything else on the machine) and the mean ratios.

Usage: .venv/bin/python benchmarks/bench_throughput.py [--seconds 20] [--rounds 3] [--connections 16]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from _load import MASTER_KEY, REPO, Server  # type: ignore[import-not-found]

LUA = """
wrk.method = "POST"
wrk.body = '{"model":"gpt-4","messages":[{"role":"user","content":"hello"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
"""


@dataclass(frozen=True)
class WrkRun:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    cpu_ms: float = float("nan")  # server CPU (user + system) per completed request, filled in by main()


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse_wrk(output: str) -> WrkRun:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return WrkRun(rps, p50, p99, requests, int(non_2xx.group(1)) if non_2xx else 0,
                  sum(int(g) for g in errors.groups()) if errors else 0)


def wrk(url: str, script: Path, *, seconds: float, connections: int, core: str) -> WrkRun:
    result = subprocess.run(
        ["taskset", "-c", core, "wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--latency", "-s", str(script),
         f"{url}/v1/chat/completions"],
        capture_output=True, text=True, timeout=seconds + 60, check=True,
    )
    return parse_wrk(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--server-core", default="0")
    parser.add_argument("--wrk-core", default="1")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    print(f"# bench_throughput  ({time.strftime('%Y-%m-%d %H:%M:%S')}; server on core {args.server_core}, "
          f"wrk on core {args.wrk_core}, {args.connections} connections, {args.seconds:.0f} s per run)")
    with tempfile.TemporaryDirectory(prefix="throughput-") as tmp:
        workdir = Path(tmp)
        config = workdir / "same.yaml"
        config.write_text(yaml.safe_dump({"model_list": [
            {"model_name": "gpt-4", "litellm_params": {"model": f"openai/gpt-4-{i}", "mock_response": "same answer"}}
            for i in range(2)
        ]}))
        script = workdir / "chat.lua"
        script.write_text(LUA % MASTER_KEY)
        pin = ["taskset", "-c", args.server_core]
        servers = {
            "L": ("plain litellm --config",
                  [*pin, str(REPO / ".venv/bin/litellm"), "--config", str(config), "--port", "{port}", "--host", "127.0.0.1",
                   "--num_workers", "1"], {}),
            "G": ("genai-gateway serve --config",
                  [*pin, str(REPO / ".venv/bin/genai-gateway"), "serve", "--config", str(config), "--port", "{port}",
                   "--host", "127.0.0.1"],
                  {"LITELLM_YAML_STORAGE_PATH": str(workdir / "applied.yaml")}),
        }
        runs: dict[str, list[WrkRun]] = {"L": [], "G": []}
        print(f"\n{'server':<30} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} {'non-2xx':>8} {'sock err':>8} {'cpu ms/req':>10}")
        for i, key in enumerate("LGGL" * args.rounds):
            label, command, env = servers[key]
            server = Server(command, env, workdir / f"run-{i}.log")
            try:
                server.wait_ready("/health/readiness")
                wrk(server.base_url, script, seconds=args.warmup, connections=args.connections, core=args.wrk_core)
                cpu_before = server.cpu_seconds()
                run = wrk(server.base_url, script, seconds=args.seconds, connections=args.connections, core=args.wrk_core)
                run = dataclasses.replace(run, cpu_ms=(server.cpu_seconds() - cpu_before) * 1000 / max(run.requests, 1))
            finally:
                server.stop()
            runs[key].append(run)
            print(f"{label:<30} {run.rps:>8.1f} {run.p50_ms:>8.1f} {run.p99_ms:>8.1f} {run.requests:>9} {run.non_2xx:>8} "
                  f"{run.socket_errors:>8} {run.cpu_ms:>10.2f}", flush=True)
            if key == "G":
                lines = len((workdir / f"run-{i}.log").read_text(errors="replace").splitlines())
                print(f"{'':<30} (gateway log: {lines} lines for {run.requests} requests + warm-up)")
    mean = {k: sum(r.rps for r in v) / len(v) for k, v in runs.items()}
    cpu = {k: sum(r.cpu_ms for r in v) / len(v) for k, v in runs.items()}
    p99 = {k: sorted(r.p99_ms for r in v)[len(v) // 2] for k, v in runs.items()}
    print(f"\nthroughput ratio gateway/litellm (mean of {len(runs['G'])} runs each): {mean['G'] / mean['L']:.3f}"
          f"  (goal >= 1.0, aim 1.25)")
    print(f"server CPU per request (mean): gateway {cpu['G']:.2f} ms, litellm {cpu['L']:.2f} ms "
          f"(ratio litellm/gateway {cpu['L'] / cpu['G']:.3f}: above 1 means the gateway does less work per request)")
    print(f"median p99: gateway {p99['G']:.1f} ms, litellm {p99['L']:.1f} ms")


if __name__ == "__main__":
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    main()
