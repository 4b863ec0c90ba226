"""Helpers for the response-cache tests: requests through litellm with mock responses, polling."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import litellm

MODEL = "openai/x"


async def ask(cache, prompt: str, answer: str):
    """One litellm.acompletion through `cache` (litellm.cache) with a mock answer; returns (response, seconds)."""
    litellm.cache = cache
    t0 = time.perf_counter()
    response = await litellm.acompletion(
        model=MODEL,
        messages=[{"role": "user", "content": prompt}],
        mock_response=answer,
        caching=True,
    )
    return response, time.perf_counter() - t0


def content(response) -> str:
    return response.choices[0].message.content


def cache_hit(response) -> bool:
    return bool(response._hidden_params.get("cache_hit"))


async def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.02) -> float:
    """Poll until predicate() is truthy; returns the seconds it took; AssertionError on timeout."""
    t0 = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def wait_backend(cache, backend: str, timeout: float = 3.0) -> float:
    return await wait_for(lambda: cache.cache.status()["backend"] == backend, timeout)


def warm_up_litellm() -> None:
    """litellm's first request and first cache hit block the event loop ~0.5 s (lazy imports);
    pay that once per process, outside any measured test."""
    import threading

    from litellm.caching.caching import Cache

    async def run() -> None:
        saved = litellm.cache
        try:
            cache = Cache(type="local")
            for _ in range(3):
                await ask(cache, "warm-up", "warm")
                await asyncio.sleep(0.05)
        finally:
            litellm.cache = saved

    thread = threading.Thread(target=asyncio.run, args=(run(),))
    thread.start()
    thread.join(60)
