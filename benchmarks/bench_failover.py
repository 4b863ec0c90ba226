#!/usr/bin/env python
"""Multi-region failover (issue 8, item 10): gateway FailoverRouter vs plain LiteLLM Router, same scenario.

Two fake Azure OpenAI regions on loopback (tests/fakes/fake_llm_server.py) serve one model group
with the seed's router_settings (simple-shuffle, num_retries: 2). East keeps failing in one way
per scenario while west is healthy; --requests chat requests (--concurrency at a time) go through
a fresh router of each kind. Printed per scenario and variant: client-visible failures, p50/p99
latency, then east recovers and the seconds until east serves a request again (traffic resumes).

Scenarios: 429 with Retry-After: 0, 429 without Retry-After, 429 with Retry-After: 1, 500, 503,
timeout (east holds the answer 2 s, router timeout 0.5 s) and connection refused (east's port closed).

Run: .venv/bin/python benchmarks/bench_failover.py [--requests 100] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import logging
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import litellm

from gateway.apply.failover import FailoverRouter
from tests.fakes.fake_llm_server import FakeLLMServer, Fault

logging.basicConfig(level=logging.CRITICAL)
for noisy in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm", "asyncio"):
    logging.getLogger(noisy).setLevel(logging.CRITICAL)
litellm.suppress_debug_info = True

SEED_ROUTER_SETTINGS: dict[str, Any] = {"routing_strategy": "simple-shuffle", "num_retries": 2}


@dataclass(frozen=True)
class Scenario:
    name: str
    fault: Fault | None  # None: east's port is closed
    timeout: float = 30.0


SCENARIOS = (
    Scenario("429 Retry-After: 0", Fault(status=429, headers=(("retry-after", "0"),))),
    Scenario("429 (no Retry-After)", Fault(status=429)),
    Scenario("429 Retry-After: 1", Fault(status=429, headers=(("retry-after", "1"),))),
    Scenario("500", Fault(status=500)),
    Scenario("503", Fault(status=503)),
    Scenario("timeout", Fault(delay_s=2.0), timeout=0.5),
    Scenario("connection refused", None),
)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def model_list(east_url: str, west_url: str) -> list[dict[str, Any]]:
    def entry(region: str, url: str) -> dict[str, Any]:
        return {
            "model_name": "gpt-4",
            "litellm_params": {"model": f"azure/gpt-4-{region}", "api_base": url, "api_key": "fake-key",
                               "api_version": "2024-06-01"},
        }

    return [entry("eastus", east_url), entry("westus", west_url)]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def one(router: Any) -> tuple[bool, float, str]:
    started = time.perf_counter()
    try:
        response = await router.acompletion(model="gpt-4", messages=[{"role": "user", "content": "hi"}])
        return True, time.perf_counter() - started, str(response.choices[0].message.content)
    except Exception:  # noqa: BLE001 - a client-visible failure is what is counted
        return False, time.perf_counter() - started, ""


async def run(router: Any, requests: int, concurrency: int) -> list[tuple[bool, float, str]]:
    gate = asyncio.Semaphore(concurrency)

    async def guarded() -> tuple[bool, float, str]:
        async with gate:
            return await one(router)

    return list(await asyncio.gather(*(guarded() for _ in range(requests))))


async def recovery_s(router: Any, cap: float = 15.0) -> float:
    """Seconds after east is healthy again until a request is answered by east."""
    started = time.monotonic()
    while time.monotonic() - started < cap:
        answers = await asyncio.gather(*(one(router) for _ in range(4)))
        if any(text.startswith("east:") for _, _, text in answers):
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    return float("inf")


async def scenario_row(scenario: Scenario, variant: str, requests: int, concurrency: int) -> str:
    with FakeLLMServer("east", max_delay_s=5) as east, FakeLLMServer("west") as west:
        east_url = closed_port_url() if scenario.fault is None else east.base_url
        router_cls = FailoverRouter if variant == "gateway" else litellm.Router
        router = router_cls(model_list=model_list(east_url, west.base_url), timeout=scenario.timeout,
                            **SEED_ROUTER_SETTINGS)
        if scenario.fault is not None:
            east.enqueue(*([scenario.fault] * 100_000))
        results = await run(router, requests, concurrency)
        # east recovers: the faults stop (the closed port comes back as a listening east on a new router
        # would not be the same deployment, so for "connection refused" the route is re-pointed instead)
        with east._lock:
            east._faults.clear()
        if scenario.fault is None:
            router.discard()
            router = router_cls(model_list=model_list(east.base_url, west.base_url), timeout=scenario.timeout,
                                **SEED_ROUTER_SETTINGS)
        back = await recovery_s(router)
        router.discard()
    failures = sum(1 for ok, _, _ in results if not ok)
    latencies = [t for _, t, _ in results]
    return (f"| {scenario.name:<22} | {variant:<14} | {failures:>3}/{requests:<4} | "
            f"{pct(latencies, 0.5) * 1000:>8.1f} | {pct(latencies, 0.99) * 1000:>8.1f} | {back:>6.2f} |")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--only", default="", help="run only scenarios whose name contains this")
    args = parser.parse_args()
    print(f"litellm {importlib.metadata.version('litellm')}; router_settings {SEED_ROUTER_SETTINGS}; east failing, west healthy; "
          f"{args.requests} requests, concurrency {args.concurrency}")
    print("| east outage            | variant        | failures | p50 ms   | p99 ms   | east back after s |")
    print("|------------------------|----------------|----------|----------|----------|-------------------|")
    for scenario in SCENARIOS:
        if args.only and args.only not in scenario.name:
            continue
        for variant in ("plain LiteLLM", "gateway"):
            print(await scenario_row(scenario, variant, args.requests, args.concurrency), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
