"""Memory soak: RSS every 100 live applies of a 50-deployment config, beside LiteLLM's own path.

Both paths get the same sequence of configs (50 deployments, ``mock_response``
changes on every apply, so every apply builds 50 new deployment ids: the worst
case for anything keyed by deployment), one chat request after each apply, and
each runs in a fresh process of its own that prints its RSS
(``/proc/self/statm``) after the first config (apply 0) and every ``--every``
applies:

* gateway: the whole replica pipeline in process, as ``genai-gateway serve
  --config FILE`` wires it (``GatewayRuntime`` + ``GatewayApp``: local file
  source, judge, file watcher, validation with its throw-away Router, the
  applier and its retire step), driven through the ASGI app with
  ``httpx.ASGITransport``: write the config file, wait until
  ``/health/config`` reports its sha256, POST ``/v1/chat/completions``. Only
  uvicorn and the socket are left out, so it does not depend on HTTP polling
  of another process: on the shared 2 cores the real server once needed 881 s
  for 300 applies; in process 1,000 applies took 1,310 s (2026-11-29).
  ``--server`` soaks the real ``genai-gateway serve`` process instead, the
  same sequence over HTTP (200 applies took 188 s in a quieter moment);
* LiteLLM: one ``litellm.Router`` and ``Router.set_model_list(new_list)`` per
  config (LiteLLM's own way to change a running Router), in a process that
  imported the LiteLLM proxy, with the same chat request through
  ``Router.acompletion``.

``--without-release`` turns the gateway's retire step (``gateway.apply.retire``)
into a no-op, to measure the behaviour before the fix. The summary gives the
growth from apply 0 and from apply 100 (warm) to the last sample.

Usage: cd benchmarks && ../.venv/bin/python bench_soak.py [--applies 1000] [--deployments 50] [--server]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from _load import MASTER_KEY, REPO  # type: ignore[import-not-found]

from tests.support.processes import GatewayProcess, wait_until

PAGE = os.sysconf("SC_PAGE_SIZE")
UPSTREAM_KEY = "bench-upstream-key-0001"
Samples = list[tuple[int, float]]


def config(i: int, deployments: int) -> dict[str, Any]:
    """Apply ``i``'s config: every deployment's parameters change with ``i``, so its id does too."""
    models = [
        {
            "model_name": f"m{j % 10}",
            "litellm_params": {
                "model": f"openai/m{j}",
                "mock_response": f"v{i}",
                "api_base": f"https://h{j}.example/v1",
                "api_key": "os.environ/BENCH_KEY",
            },
        }
        for j in range(deployments)
    ]
    return {"model_list": models, "litellm_settings": {"cache": False}}


def rss_mb(pid: int | None = None) -> float:
    with open(f"/proc/{pid or 'self'}/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def _applied(health: dict[str, Any], digest: str) -> bool:
    """The file with ``digest`` is live (local files are versioned ``sha-<first 12 hex digits>``)."""
    return health.get("sha256") == digest or health.get("version") == f"sha-{digest[:12]}"


def _emit(n: int, rss: float) -> None:
    print(json.dumps([n, round(rss, 1)]), flush=True)


# -- workers: each runs in its own process and prints [apply, rss_mb] lines -------------------------


def _gateway_env(workdir: Path) -> dict[str, str]:
    return {
        "LITELLM_MASTER_KEY": MASTER_KEY,
        "BENCH_KEY": UPSTREAM_KEY,
        "GATEWAY_FILE_POLL_INTERVAL": "0.05",
        "LITELLM_YAML_STORAGE_PATH": str(workdir / "applied" / "config.yaml"),
        "GATEWAY_LOG_LEVEL": "WARNING",
    }


async def _gateway_worker(applies: int, deployments: int, every: int, without_release: bool) -> None:
    """The replica pipeline of ``genai-gateway serve --config FILE``, in this process, through its ASGI app."""
    import logging

    from gateway.runtime import GatewayRuntime
    from gateway.server import GatewayApp
    from gateway.settings import Settings

    if without_release:
        from gateway.apply import retire

        async def keep_everything(self: Any, router: Any) -> None:
            return None

        retire.RetiredRouters.retire = keep_everything  # type: ignore[method-assign,assignment]
    logging.getLogger().setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        workdir = Path(tmp)
        path = workdir / "config.yaml"
        path.write_bytes(yaml.safe_dump(config(-1, deployments)).encode())
        env = {**os.environ, **_gateway_env(workdir)}
        os.environ.update(_gateway_env(workdir))
        app = GatewayApp(GatewayRuntime(Settings.from_env(env, local_config=path), role="all", env=env))
        await app.runtime.start()
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        headers = {"Authorization": f"Bearer {MASTER_KEY}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway", headers=headers, timeout=60) as http:

            async def wait_applied(data: bytes) -> None:
                digest = hashlib.sha256(data).hexdigest()
                deadline = time.monotonic() + 60
                while not _applied((await http.get("/health/config")).json(), digest):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"config {digest[:12]} not applied after 60 s")
                    await asyncio.sleep(0.01)

            async def chat() -> None:
                body = {"model": "m1", "messages": [{"role": "user", "content": "x"}]}
                response = await http.post("/v1/chat/completions", json=body)
                response.raise_for_status()

            await wait_applied(path.read_bytes())
            await chat()
            _emit(0, rss_mb())
            for i in range(applies):
                data = yaml.safe_dump(config(i, deployments)).encode()
                path.write_bytes(data)
                await wait_applied(data)
                await chat()
                if (i + 1) % every == 0:
                    _emit(i + 1, rss_mb())
        await app.runtime.stop()


async def _litellm_worker(applies: int, deployments: int, every: int) -> None:
    """LiteLLM's own path: one Router, ``set_model_list`` per config, in a process with the proxy imported."""
    import litellm
    from litellm.proxy import proxy_server  # noqa: F401 - the proxy's imports, as in a running proxy

    def resolved(c: dict[str, Any]) -> list[dict[str, Any]]:
        for entry in c["model_list"]:
            entry["litellm_params"]["api_key"] = UPSTREAM_KEY
        return c["model_list"]

    router = litellm.Router(model_list=resolved(config(-1, deployments)))
    messages = [{"role": "user", "content": "x"}]
    await router.acompletion(model="m1", messages=messages)
    _emit(0, rss_mb())
    for i in range(applies):
        router.set_model_list(resolved(config(i, deployments)))
        await router.acompletion(model="m1", messages=messages)
        if (i + 1) % every == 0:
            _emit(i + 1, rss_mb())


# -- the real server (slow; to confirm the in-process figures) ----------------------------------------


def soak_server(applies: int, deployments: int, every: int) -> Samples:
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        workdir = Path(tmp)
        path = workdir / "config.yaml"
        path.write_bytes(yaml.safe_dump(config(-1, deployments)).encode())
        gw = GatewayProcess(args=["serve", "--config", str(path)], env=_gateway_env(workdir), log_path=workdir / "gateway.log")
        gw.start(timeout=120)
        assert gw.proc is not None
        samples: Samples = []
        body = {"model": "m1", "messages": [{"role": "user", "content": "x"}]}
        try:
            with httpx.Client(base_url=gw.base_url, timeout=60, headers={"Authorization": f"Bearer {MASTER_KEY}"}) as http:
                wait_until(lambda: http.get("/health/config").json().get("version"), timeout=60, what="first apply")
                http.post("/v1/chat/completions", json=body).raise_for_status()
                samples.append((0, rss_mb(gw.proc.pid)))
                _report("gateway (server)", *samples[-1])
                for i in range(applies):
                    data = yaml.safe_dump(config(i, deployments)).encode()
                    path.write_bytes(data)
                    digest = hashlib.sha256(data).hexdigest()
                    wait_until(lambda d=digest: _applied(http.get("/health/config").json(), d), timeout=60, interval=0.02, what=f"apply {i}")
                    http.post("/v1/chat/completions", json=body).raise_for_status()
                    if (i + 1) % every == 0:
                        samples.append((i + 1, rss_mb(gw.proc.pid)))
                        _report("gateway (server)", *samples[-1])
        finally:
            gw.stop()
    return samples


# -- the driver ------------------------------------------------------------------------------------


def run_worker(name: str, label: str, args: argparse.Namespace) -> Samples:
    """Run one worker in a fresh process; collect its samples as it prints them."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        name,
        "--applies",
        str(args.applies),
        "--deployments",
        str(args.deployments),
        "--every",
        str(args.every),
    ]
    if args.without_release:
        command.append("--without-release")
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO, env=env)
    samples: Samples = []
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("["):
            n, rss = json.loads(line)
            samples.append((n, rss))
            _report(label, n, rss)
    if proc.wait() != 0:
        raise SystemExit(f"{label} worker failed (exit {proc.returncode}); rerun with --worker {name} to see why")
    return samples


def _report(label: str, n: int, rss: float) -> None:
    print(f"  {label:<28} apply {n:5d}: RSS {rss:7.1f} MB", flush=True)


def growth(samples: Samples, start: int) -> str:
    base = next((rss for n, rss in samples if n == start), None)
    if base is None or len(samples) < 2:
        return "n/a"
    return f"{samples[-1][1] - base:+.1f} MB from apply {start} to {samples[-1][0]}"


def table(gateway: Samples, baseline: Samples, gateway_label: str) -> str:
    rows = sorted({n for n, _ in gateway} | {n for n, _ in baseline})
    g, b = dict(gateway), dict(baseline)
    lines = [f"| applies | {gateway_label} RSS MB | LiteLLM set_model_list RSS MB |", "|---:|---:|---:|"]
    for n in rows:
        lines.append(f"| {n} | {g.get(n, float('nan')):.1f} | {b.get(n, float('nan')):.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--applies", type=int, default=1000)
    parser.add_argument("--deployments", type=int, default=50)
    parser.add_argument("--every", type=int, default=100, help="print RSS every N applies")
    parser.add_argument("--server", action="store_true", help="soak a real genai-gateway serve process (~3 s per apply)")
    parser.add_argument("--without-release", action="store_true", help="skip the gateway's retire step (the unfixed behaviour)")
    parser.add_argument("--worker", choices=("gateway", "litellm"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "gateway":
        return asyncio.run(_gateway_worker(args.applies, args.deployments, args.every, args.without_release))
    if args.worker == "litellm":
        return asyncio.run(_litellm_worker(args.applies, args.deployments, args.every))

    mode = "real server" if args.server else "in process"
    print(
        f"soak: {args.applies} applies of a {args.deployments}-deployment config, one chat request per apply; gateway {mode}"
        + (", retire step OFF" if args.without_release else ""),
        flush=True,
    )
    started = time.monotonic()
    label = "gateway (server)" if args.server else "gateway (in process)"
    gateway = soak_server(args.applies, args.deployments, args.every) if args.server else run_worker("gateway", label, args)
    print(f"  ({time.monotonic() - started:.0f} s)", flush=True)
    started = time.monotonic()
    baseline = run_worker("litellm", "LiteLLM set_model_list", args)
    print(f"  ({time.monotonic() - started:.0f} s)", flush=True)
    print(table(gateway, baseline, label))
    for name, samples in ((label, gateway), ("LiteLLM set_model_list", baseline)):
        print(f"RSS growth  {name}: {growth(samples, 0)}; {growth(samples, args.every)}")


if __name__ == "__main__":
    main()
