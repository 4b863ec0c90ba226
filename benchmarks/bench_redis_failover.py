#!/usr/bin/env python
"""Redis failure behaviour of the response cache: gateway FailoverCache vs plain LiteLLM Cache(type="redis").

Same scenario for both, through litellm.acompletion(mock_response=..., caching=True):
  1. startup with Redis down: build the cache (on the event loop, as the proxy does) + first request;
  2. concurrent requests; Redis SIGKILLed mid-run and restarted on the same port after --outage s;
     reports failures, p50/p99/max latency before / during / after the outage, time to fall back,
     and time until responses land in the restarted Redis again (shared cache resumed; waits at most
     --resume-cap s).

Needs a real redis-server on PATH (apt-get install -y redis-server). Bounded to about 60-90 s.
Run: LITELLM_LOCAL_MODEL_COST_MAP=True .venv/bin/python benchmarks/bench_redis_failover.py
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import litellm
from litellm.caching.caching import Cache

from gateway.cache import RedisConnection, build_response_cache, cache_status, start_response_cache, stop_response_cache
from tests.cache.redis_server_support import RedisServer, free_port, redis_server_binary

logging.basicConfig(level=logging.ERROR)
# asyncio: litellm's RedisCache leaves its startup ping task's ConnectionError unretrieved
for noisy in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm", "gateway.cache", "asyncio"):
    logging.getLogger(noisy).setLevel(logging.CRITICAL)
litellm.suppress_debug_info = True


# --------------------------------------------------------------------------- redis-server process
class RedisProc(RedisServer):
    """The tests' redis-server runner, plus what this benchmark asks of it."""

    def unpause(self) -> None:
        self.resume()
        self.cli("FLUSHALL")  # empty, like a restarted node: the next key proves new writes land

    def dbsize(self) -> int:
        try:
            return int(self.cli("DBSIZE"))
        except Exception:  # noqa: BLE001 - down or paused: nothing written
            return 0


# --------------------------------------------------------------------------- the two variants
@dataclass
class Variant:
    name: str
    build: object  # (port) -> Cache, called on the event loop
    state: object  # (cache) -> "redis" | "memory"/"open"/...


def failover_variant() -> Variant:
    return Variant(
        "gateway FailoverCache",
        lambda port: build_response_cache(RedisConnection("127.0.0.1", port), {}),
        lambda cache: cache_status(cache)["backend"],
    )


def plain_variant() -> Variant:
    def state(cache: Cache) -> str:
        breaker = getattr(cache.cache, "_circuit_breaker", None)
        return "redis" if breaker is None or breaker.state == "closed" else f"breaker {breaker.state}"

    return Variant(
        "litellm Cache(type=redis)",
        lambda port: Cache(type="redis", host="127.0.0.1", port=str(port)),
        state,
    )


# --------------------------------------------------------------------------- measurement
async def ask(cache: Cache, prompt: str, answer: str, timeout: float) -> float:
    litellm.cache = cache
    t0 = time.perf_counter()
    await asyncio.wait_for(
        litellm.acompletion(
            model="openai/x", messages=[{"role": "user", "content": prompt}], mock_response=answer, caching=True
        ),
        timeout,
    )
    return time.perf_counter() - t0


@dataclass
class Result:
    startup_s: float = 0.0
    startup_build_s: float = 0.0
    phases: dict = field(default_factory=lambda: {"normal": [], "outage": [], "after": []})
    failures: int = 0
    requests: int = 0
    fallback_s: float | None = None
    resume_s: float | None = None


async def startup_with_redis_down(variant: Variant, result: Result) -> None:
    port = free_port()  # nothing listens here
    t0 = time.perf_counter()
    cache = variant.build(port)
    result.startup_build_s = time.perf_counter() - t0
    await start_response_cache(cache)
    try:
        await ask(cache, "startup", "hello", timeout=60)
    except Exception:  # noqa: BLE001
        result.failures += 1
    result.startup_s = time.perf_counter() - t0
    await stop_response_cache(cache)
    await _disconnect(cache)


async def _disconnect(cache: Cache) -> None:
    try:
        await asyncio.wait_for(cache.disconnect(), 2)
    except Exception:  # noqa: BLE001
        pass


async def outage_run(variant: Variant, result: Result, args: argparse.Namespace, workdir: str) -> None:
    server = RedisProc(redis_server_binary() or "redis-server", workdir=Path(workdir), port=free_port())
    server.start()
    cache = variant.build(server.port)
    await start_response_cache(cache)
    for _ in range(100):  # let the failover probe connect (instant for litellm)
        if variant.state(cache) == "redis":
            break
        await asyncio.sleep(0.02)

    phase = "normal"
    stop = asyncio.Event()
    counter = 0

    async def worker(w: int) -> None:
        nonlocal counter
        while not stop.is_set():
            counter += 1
            i = counter % args.distinct  # the first `distinct` prompts are misses (Redis GET + SET), then hits
            current = phase
            try:
                took = await ask(cache, f"prompt {i}", f"answer {i}", timeout=args.request_timeout)
                result.phases[current].append(took)
            except Exception:  # noqa: BLE001
                result.failures += 1
            result.requests += 1
            await asyncio.sleep(args.pause)

    workers = [asyncio.create_task(worker(w)) for w in range(args.concurrency)]
    await asyncio.sleep(args.before)

    server.pause() if args.scenario == "hang" else server.kill()
    phase = "outage"
    killed_at = time.monotonic()

    async def watch_fallback() -> None:
        while time.monotonic() - killed_at < args.outage:
            if variant.state(cache) != "redis":
                result.fallback_s = time.monotonic() - killed_at
                return
            await asyncio.sleep(0.005)

    await asyncio.gather(watch_fallback(), asyncio.sleep(args.outage))

    server.unpause() if args.scenario == "hang" else server.start()
    phase = "after"
    restarted_at = time.monotonic()
    n = 0
    while time.monotonic() - restarted_at < args.resume_cap:
        n += 1
        try:  # a fresh prompt: its response is written to the cache; Redis restarted empty
            await ask(cache, f"resume check {n}", "x", timeout=args.request_timeout)
        except Exception:  # noqa: BLE001
            result.failures += 1
        await asyncio.sleep(0.05)
        if await asyncio.to_thread(server.dbsize) > 0:  # a response written after the restart landed in Redis
            result.resume_s = time.monotonic() - restarted_at
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.gather(*workers, return_exceptions=True)
    await stop_response_cache(cache)
    await _disconnect(cache)
    server.stop()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def fmt_lat(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{pct(values, 0.5) * 1000:.1f} / {pct(values, 0.99) * 1000:.0f} / {max(values) * 1000:.0f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--pause", type=float, default=0.02, help="seconds each worker waits between requests")
    parser.add_argument("--distinct", type=int, default=600, help="distinct prompts (misses before hits)")
    parser.add_argument("--before", type=float, default=3.0, help="seconds of normal traffic before the kill")
    parser.add_argument("--outage", type=float, default=4.0, help="seconds Redis stays down")
    parser.add_argument("--resume-cap", type=float, default=30.0, help="max seconds to wait for the shared cache")
    parser.add_argument("--request-timeout", type=float, default=30.0)
    parser.add_argument(
        "--scenario",
        choices=("kill", "hang"),
        default="kill",
        help="kill: SIGKILL then restart on the same port; hang: SIGSTOP then SIGCONT (+FLUSHALL)",
    )
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        sys.exit("redis-server not found: apt-get update && apt-get install -y redis-server")

    # pay litellm's one-off first-request cost outside the measurements
    warm = Cache(type="local")
    for _ in range(2):
        await ask(warm, "warm-up", "warm", timeout=30)
        await asyncio.sleep(0.05)

    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    results: dict[str, Result] = {}
    t_all = time.monotonic()
    for variant in (failover_variant(), plain_variant()):
        res = Result()
        print(f"running: {variant.name} ...", flush=True)
        t_v = time.monotonic()
        await startup_with_redis_down(variant, res)
        print(f"  startup scenario done ({time.monotonic() - t_v:.1f} s)", flush=True)
        t_v = time.monotonic()
        await outage_run(variant, res, args, workdir)
        print(f"  outage scenario done ({time.monotonic() - t_v:.1f} s)", flush=True)
        results[variant.name] = res
    litellm.cache = None

    names = list(results)
    rows = [
        ("startup, Redis down: build cache", [f"{r.startup_build_s:.3f} s" for r in results.values()]),
        ("startup, Redis down: build + 1st request", [f"{r.startup_s:.3f} s" for r in results.values()]),
        (f"requests, whole run ({args.concurrency} workers)", [str(r.requests) for r in results.values()]),
        ("failed requests", [str(r.failures) for r in results.values()]),
        ("latency normal  p50/p99/max", [fmt_lat(r.phases["normal"]) for r in results.values()]),
        (f"latency outage ({args.outage:.0f}s) p50/p99/max", [fmt_lat(r.phases["outage"]) for r in results.values()]),
        ("latency after restart p50/p99/max", [fmt_lat(r.phases["after"]) for r in results.values()]),
        ("requests during outage", [str(len(r.phases["outage"])) for r in results.values()]),
        (
            f"time to fall back after {'SIGSTOP' if args.scenario == 'hang' else 'SIGKILL'}",
            [
                f"{r.fallback_s:.3f} s" if r.fallback_s is not None else f"> {args.outage:.0f} s"
                for r in results.values()
            ],
        ),
        (
            f"time to resume shared cache after {'SIGCONT' if args.scenario == 'hang' else 'restart'}",
            [
                f"{r.resume_s:.2f} s" if r.resume_s is not None else f"> {args.resume_cap:.0f} s (not resumed)"
                for r in results.values()
            ],
        ),
    ]
    width = max(len(r[0]) for r in rows) + 2
    colw = [max(len(n), *(len(r[1][i]) for r in rows)) + 2 for i, n in enumerate(names)]
    print()
    print("metric".ljust(width) + "".join(n.ljust(colw[i]) for i, n in enumerate(names)))
    print("-" * (width + sum(colw)))
    for label, values in rows:
        print(label.ljust(width) + "".join(v.ljust(colw[i]) for i, v in enumerate(values)))
    from importlib.metadata import version

    print(
        f"\n(scenario {args.scenario}; total {time.monotonic() - t_all:.0f} s; litellm {version('litellm')}, redis-py {version('redis')})"
    )
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
