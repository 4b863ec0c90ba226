"""Release what LiteLLM keeps process-wide for the deployments of a Router the gateway has retired.

Why (issue 8, item 11; figures in docs/benchmarks.md, "Memory soak: live applies"):
every ``Router`` LiteLLM 1.108.7 builds writes each deployment id into the global
``litellm.model_cost`` (``Router._register_deployment_in_model_cost``) and nothing
removes it, neither ``Router.discard()`` nor ``set_model_list``. An id is a hash of
the deployment's parameters, so every apply that changes a deployment adds keys
for good, twice built (validation's throw-away Router and the applied one) but
stored once. In the gateway process each entry is a full model-info row: 182
fields, 6.6 KB (``sys.getsizeof``), with a 50-deployment config. tracemalloc
(traceback diff over applies 10 to 30 of the in-process soak, 2026-11-29) found
7.2 of the 7.7 MB still allocated in those entries, their ``frozenset`` of
registered fields and their id strings (0.36 MB per apply, most of the issue's
+0.5 MB per apply); ``gc`` counts agreed: only ``AliasedCostEntry`` and
``frozenset`` grew, 50 of each per apply. Callback lists, tasks, clients did not
grow, and ``Router.discard()`` already unhooks a Router's callbacks.

``RetiredRouters.retire`` runs after each commit and removes every deployment-id
entry (key equal to the entry's ``id`` field: catalog rows and the shared
``provider/model`` rows have none) that no Router still needs:

* ids of the Routers LiteLLM tracks as live stay (``litellm.router._live_routers``:
  the one serving, and any other this process built and did not discard);
* ids of a deployment with its own pricing (a ``CustomPricingLiteLLMParams`` field
  or ``base_model`` in its ``litellm_params`` / ``model_info``) stay for
  ``grace_s`` after its Router was retired: a request still in flight on that
  Router is billed at the end (stream included) by looking its id up in
  ``litellm.model_cost``. At most ``keep_retired`` retirements are held, so the
  memory stays bounded however fast configs arrive;
* every other id goes at once: for a deployment without its own pricing the id
  row is the catalog row plus the id, and a lookup that misses it falls back to
  the same catalog row. That includes the ids nobody tracks: validation's
  throw-away Routers (different ids when an identity binds the deployment) and
  the Router of an apply that failed.

LiteLLM drops the same entries itself at its next price-data reload (it replays
only live Routers); the gateway cannot wait for one. It cannot wait for the
retired Router to be collected either: a Router is a reference cycle (its
``factory_function`` closures and ``lru_cache``-wrapped methods hold it), so only
a full collection frees it, which ran less than once per 40 applies in the
soak and took 0.6-0.8 s on the shared 2 cores (764k tracked objects): too long to
force on every apply. (``genai-gateway serve`` freezes the import-time heap,
``gateway.heap``, which makes that pass cheap, but it still runs only when the
allocation counts call for it.)

Then ``malloc_trim(0)`` hands freed heap pages back to the OS (glibc only; the
Routers are built in worker threads, each with its own malloc arena). A small
effect: RSS 349.4 MB against 351.6 MB without it at apply 300 of the in-process
soak; it took 1-25 ms per call, in a worker thread.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

#: How long the ids of a retired deployment with its own pricing stay: the longest request (stream) billed right.
DEFAULT_GRACE_S = 600.0
#: At most this many retired configs' priced ids are held (bounds memory when configs arrive faster than the grace).
DEFAULT_KEEP_RETIRED = 8


@dataclass(frozen=True)
class RetireReport:
    """What one ``retire`` released, for the debug log and the tests."""

    pruned_ids: int
    #: Ids of retired deployments with their own pricing, kept for requests still in flight.
    held_ids: int
    #: Whether ``malloc_trim`` returned memory to the OS, and how long it took (in a worker thread).
    trimmed: bool
    trim_ms: float


@dataclass(frozen=True)
class _Retirement:
    at: float
    priced_ids: frozenset[str]


class RetiredRouters:
    """Forgets retired Routers' deployments in LiteLLM's globals; holds no reference to a Router itself."""

    def __init__(self, *, grace_s: float = DEFAULT_GRACE_S, keep_retired: int = DEFAULT_KEEP_RETIRED, trim: bool = True) -> None:
        self._grace_s = grace_s
        self._recent: deque[_Retirement] = deque(maxlen=keep_retired)
        self._trim = trim

    async def retire(self, router: Any | None) -> RetireReport:
        """Release every deployment id no Router needs, after ``router`` (already discarded) stopped serving.

        Runs on the event loop, after the commit and under the applier's lock, so no Router of
        this applier is half-built; the pruning took 2-15 ms over 4,255 cost-map keys (shared cores). The
        trim walks the whole heap, so it runs in a worker thread.
        """
        now = time.monotonic()
        if router is not None:
            priced = priced_deployment_ids([router])
            if priced:
                self._recent.append(_Retirement(now, priced))
        while self._recent and now - self._recent[0].at >= self._grace_s:
            self._recent.popleft()
        held = frozenset().union(*(r.priced_ids for r in self._recent))
        pruned = prune_model_cost(keep=deployment_ids(_live_routers()) | held)
        trimmed, trim_ms = False, 0.0
        if self._trim:
            started = time.perf_counter()
            trimmed = await asyncio.to_thread(malloc_trim)
            trim_ms = (time.perf_counter() - started) * 1000
        report = RetireReport(pruned_ids=pruned, held_ids=len(held), trimmed=trimmed, trim_ms=trim_ms)
        log.debug("released retired deployments: %s", report)
        return report


def deployment_ids(routers: Iterable[Any]) -> frozenset[str]:
    """The ``model_info.id`` of every deployment of ``routers``."""
    return frozenset(ident for _, ident in _deployments(routers))


def priced_deployment_ids(routers: Iterable[Any]) -> frozenset[str]:
    """The ids of the deployments that carry their own pricing (what a request's cost is looked up by)."""
    fields = _pricing_fields()
    priced = set()
    for deployment, ident in _deployments(routers):
        blocks = [deployment.get("litellm_params"), deployment.get("model_info")]
        if fields is None or any(isinstance(b, dict) and any(b.get(f) is not None for f in fields) for b in blocks):
            priced.add(ident)
    return frozenset(priced)


def prune_model_cost(*, keep: frozenset[str]) -> int:
    """Remove the deployment-id entries of ``litellm.model_cost`` not in ``keep``; return how many."""
    import litellm

    cost_map = litellm.model_cost
    # list() copies in one step under the GIL: a validation thread may be registering ids meanwhile.
    stale = [key for key, entry in list(cost_map.items()) if key not in keep and _is_deployment_entry(key, entry)]
    for key in stale:
        cost_map.pop(key, None)
    if stale:
        _invalidate_cost_lookups()
    return len(stale)


def _deployments(routers: Iterable[Any]) -> Iterable[tuple[dict[str, Any], str]]:
    for router in routers:
        for deployment in list(getattr(router, "model_list", None) or ()):
            info = deployment.get("model_info") if isinstance(deployment, dict) else None
            ident = info.get("id") if isinstance(info, dict) else None
            if isinstance(ident, str) and ident:
                yield deployment, ident


def _is_deployment_entry(key: str, entry: Any) -> bool:
    return isinstance(entry, dict) and entry.get("id") == key


def _pricing_fields() -> frozenset[str] | None:
    """The per-deployment pricing keys LiteLLM registers under the id (142 in 1.108.7); None: treat all as priced."""
    try:
        from litellm.types.utils import CustomPricingLiteLLMParams
    except ImportError:
        return None
    return frozenset(CustomPricingLiteLLMParams.model_fields) | {"base_model"}


def _live_routers() -> tuple[Any, ...]:
    """The Routers LiteLLM keeps cost-map entries for (a private ``WeakSet`` in 1.108.7; empty if it moved)."""
    from litellm import router as router_module

    live = getattr(router_module, "_live_routers", None)
    # Copy the WeakSet's own set of references in one step: a validation thread may add a Router meanwhile,
    # and iterating the WeakSet itself would then raise "Set changed size during iteration".
    refs = list(getattr(live, "data", ()))
    return tuple(router for ref in refs if (router := ref()) is not None)


def _invalidate_cost_lookups() -> None:
    """What ``litellm.register_model`` does after a write: drop the lowercase key map and the lookup caches."""
    from litellm import utils

    invalidate = getattr(utils, "_invalidate_model_cost_lowercase_map", None)
    if callable(invalidate):
        invalidate()


_libc: Any = None


def malloc_trim() -> bool:
    """Return freed heap pages to the OS with glibc's ``malloc_trim(0)``; False where there is none."""
    global _libc
    if _libc is False:
        return False
    try:
        if _libc is None:
            libc = ctypes.CDLL(None)  # the process's own symbols: glibc's when it is the C library
            if not hasattr(libc, "malloc_trim"):  # musl, macOS: nothing to call
                _libc = False
                return False
            libc.malloc_trim.argtypes = [ctypes.c_size_t]
            libc.malloc_trim.restype = ctypes.c_int
            _libc = libc
        return bool(_libc.malloc_trim(0))
    except Exception as exc:  # noqa: BLE001 - trimming is an optimisation; never fail an apply for it
        log.debug("malloc_trim unavailable: %s", exc)
        _libc = False
        return False
