"""Live config apply: failures and latency under swaps, event-loop stall, cost against plain LiteLLM.

Three measurements, each printed next to its baseline from the same run:

1. ``genai-gateway serve --config`` under N concurrent clients, first with a
   steady config, then while the config flips every second between two
   versions: requests, failures, p50/p99.
2. The largest event-loop stall while one config of 10/100/300 deployments is
   applied: the gateway's applier (Router built in a thread) against LiteLLM's
   own ``Router.set_model_list`` on the loop.
3. Throughput and peak memory of the gateway against plain ``litellm --config``
   serving the same mock config.

Usage: .venv/bin/python benchmarks/bench_live_apply.py [--seconds 30] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import tempfile
import time
from pathlib import Path

import httpx
import yaml
from _load import HEADER, REPO, LoadResult, Server, run_load  # type: ignore[import-not-found]


def mock_config(reply: str, deployments: int = 2) -> bytes:
    models = [
        {"model_name": "gpt-4", "litellm_params": {"model": f"openai/gpt-4-{i}", "mock_response": reply}}
        for i in range(deployments)
    ]
    return yaml.safe_dump({"model_list": models}).encode()


async def flip_configs(path: Path, base_url: str, seconds: float) -> int:
    """Rewrite the config every second, alternating two versions; return how many applied."""
    applied = 0
    deadline = time.monotonic() + seconds
    i = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        while time.monotonic() < deadline:
            data = mock_config("A" if i % 2 else "B")
            await asyncio.to_thread(path.write_bytes, data)
            digest = hashlib.sha256(data).hexdigest()
            for _ in range(40):
                await asyncio.sleep(0.025)
                if (await http.get("/health/config")).json().get("sha256") == digest:
                    applied += 1
                    break
            i += 1
            await asyncio.sleep(max(0.0, 1.0 - 0.025))
    return applied


async def swaps_benchmark(seconds: float, concurrency: int, workdir: Path) -> None:
    config = workdir / "flip.yaml"
    config.write_bytes(mock_config("A"))
    server = Server(
        [str(REPO / ".venv/bin/genai-gateway"), "serve", "--config", str(config), "--port", "{port}", "--host", "127.0.0.1"],
        {"GATEWAY_FILE_POLL_INTERVAL": "0.05", "LITELLM_YAML_STORAGE_PATH": str(workdir / "applied.yaml"), "GATEWAY_LOG_LEVEL": "WARNING"},
        workdir / "gateway-swaps.log",
    )
    try:
        server.wait_ready("/health/readiness")
        await run_load(server.base_url, seconds=3, concurrency=concurrency)  # warm-up
        steady = await run_load(server.base_url, seconds=seconds, concurrency=concurrency)
        load = asyncio.create_task(run_load(server.base_url, seconds=seconds, concurrency=concurrency))
        applied = await flip_configs(config, server.base_url, seconds)
        swapping = await load
    finally:
        server.stop()
    print(f"\n## 1. Requests while the config flips every second ({concurrency} clients, {seconds:.0f} s each)\n")
    print(HEADER)
    print(steady.row("steady config"))
    print(swapping.row(f"config flipping ({applied} applies)"))
    if steady.errors or swapping.errors:
        print("errors:", steady.errors, swapping.errors)


async def stall_benchmark(sizes: list[int]) -> None:
    """Measure the event loop's worst lag while one config is applied, in this process."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm
    from litellm.proxy import proxy_server as ps

    from gateway.apply.litellm_proxy import ProxyApplier
    from gateway.release import Release

    async def worst_lag(action) -> float:  # type: ignore[no-untyped-def]
        lags: list[float] = []
        stop = asyncio.Event()

        async def ticker() -> None:
            while not stop.is_set():
                t = time.perf_counter()
                await asyncio.sleep(0.001)
                lags.append((time.perf_counter() - t - 0.001) * 1000)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0.05)
        await action()
        await asyncio.sleep(0.05)
        stop.set()
        await task
        return max(lags)

    applier = ProxyApplier(env={})
    rows = []
    for n in sizes:
        data = mock_config("x", n)
        config = yaml.safe_load(data)
        release = Release.from_bytes(data, origin="bench")
        await applier.apply(release, config)  # warm: first apply imports lazily
        ours = []
        theirs = []
        for _ in range(3):
            ours.append(await worst_lag(lambda: applier.apply(Release.from_bytes(data + b"#", origin="bench"), config)))  # noqa: B023 - awaited in this iteration

            async def litellm_path() -> None:
                assert ps.llm_router is not None
                ps.llm_router.set_model_list(config["model_list"])  # noqa: B023 - awaited in this iteration

            theirs.append(await worst_lag(litellm_path))
        rows.append((n, min(ours), max(ours), min(theirs), max(theirs)))
    print("\n## 2. Largest event-loop stall during one apply (ms; best/worst of 3)\n")
    print(f"{'deployments':>11} {'gateway apply':>18} {'litellm set_model_list':>24}")
    for n, o_lo, o_hi, t_lo, t_hi in rows:
        print(f"{n:>11} {o_lo:>8.1f} / {o_hi:<7.1f} {t_lo:>12.1f} / {t_hi:<9.1f}")
    del litellm


async def versus_litellm(seconds: float, concurrency: int, workdir: Path, rounds: int = 1) -> None:
    """Plain LiteLLM and the gateway on the same mock config, in A B B A order (repeated) to cancel drift."""
    config = workdir / "same.yaml"
    config.write_bytes(mock_config("same answer"))
    servers = {
        "plain litellm --config": (
            [str(REPO / ".venv/bin/litellm"), "--config", str(config), "--port", "{port}", "--host", "127.0.0.1", "--num_workers", "1"],
            {},
        ),
        "genai-gateway serve --config": (
            [str(REPO / ".venv/bin/genai-gateway"), "serve", "--config", str(config), "--port", "{port}", "--host", "127.0.0.1"],
            {"LITELLM_YAML_STORAGE_PATH": str(workdir / "applied-same.yaml"), "GATEWAY_LOG_LEVEL": "WARNING"},
        ),
    }
    order = ["plain litellm --config", "genai-gateway serve --config", "genai-gateway serve --config", "plain litellm --config"] * rounds
    runs: dict[str, list[tuple[LoadResult, float, float]]] = {name: [] for name in servers}
    for i, label in enumerate(order):
        args, env = servers[label]
        server = Server(args, env, workdir / f"versus-{i}.log")
        try:
            startup = server.wait_ready("/health/readiness")
            await run_load(server.base_url, seconds=3, concurrency=concurrency)
            result = await run_load(server.base_url, seconds=seconds, concurrency=concurrency)
            runs[label].append((result, server.peak_rss_mb(), startup))
        finally:
            server.stop()
    print(f"\n## 3. Same mock config, {concurrency} clients, {seconds:.0f} s per run, runs in A B B A order\n")
    print(f"{HEADER} {'peak RSS MB':>12} {'ready s':>8}")
    for label, results in runs.items():
        for result, rss, startup in results:
            print(f"{result.row(label)} {rss:>12.1f} {startup:>8.1f}")
    base, ours = runs["plain litellm --config"], runs["genai-gateway serve --config"]
    base_rps = sum(r.rps for r, _, _ in base) / len(base)
    our_rps = sum(r.rps for r, _, _ in ours) / len(ours)
    base_rss = max(rss for _, rss, _ in base)
    our_rss = max(rss for _, rss, _ in ours)
    print(f"\nthroughput ratio gateway/litellm (mean of {len(ours)} runs each): {our_rps / base_rps:.3f}  (goal >= 0.95)")
    print(f"extra peak memory (max of runs): {our_rss - base_rss:+.1f} MB  (goal <= +30 MB)")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--sizes", default="10,100,300")
    parser.add_argument("--only", choices=("swaps", "stall", "versus"), default=None)
    parser.add_argument("--rounds", type=int, default=1, help="versus: repeat the A B B A sequence")
    args = parser.parse_args()
    print(f"# bench_live_apply  ({time.strftime('%Y-%m-%d %H:%M:%S')}, {os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if args.only in (None, "swaps"):
            await swaps_benchmark(args.seconds, args.concurrency, workdir)
        if args.only in (None, "versus"):
            await versus_litellm(args.seconds, args.concurrency, workdir, args.rounds)
        if args.only in (None, "stall"):
            await stall_benchmark([int(s) for s in args.sizes.split(",")])


if __name__ == "__main__":
    asyncio.run(main())
