"""Build / start / stop / inspect the LiteLLM response cache (`litellm.cache`).

Per config apply (see gateway/cache/__init__.py for the sequence):
    new = await asyncio.to_thread(build_response_cache, conn, cache_params, reuse=old)   # no I/O
    await start_response_cache(new)            # on the event loop; returns at once
    litellm.cache = new; router.cache_responses = True
    await stop_response_cache(old, keep=new)   # no-op when the backend was reused
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from litellm.caching.caching import Cache
from litellm.caching.in_memory_cache import InMemoryCache
from litellm.caching.redis_cache import RedisCache
from litellm.types.caching import LiteLLMCacheType

from .failover import DEFAULT_MAX_ITEMS_IN_MEMORY, FailoverCache
from .settings import RedisConnection

logger = logging.getLogger("gateway.cache")

# cache_params keys that describe the Redis connection (consumed here, not passed to litellm.Cache)
_CONNECTION_KEYS = frozenset(
    {"type", "host", "port", "password", "username", "ssl", "url", "db", "redis_auth_type", "redis_mi_client_id"}
)
# litellm.Cache arguments that matter for a response cache whatever its backend
_CACHE_LEVEL_KEYS = frozenset(
    {
        "mode",
        "namespace",
        "ttl",
        "default_in_memory_ttl",
        "default_in_redis_ttl",
        "supported_call_types",
        "max_messages",
    }
)
# cache types we do not wrap: handed to litellm.Cache unchanged
_PASSTHROUGH_TYPES = frozenset(
    {"s3", "gcs", "disk", "azure-blob", "redis-semantic", "qdrant-semantic", "valkey-semantic"}
)


def _resolve_env_refs(params: Mapping[str, Any]) -> dict[str, Any]:
    """`os.environ/NAME` values -> os.environ[NAME] (None when unset), like the LiteLLM proxy does."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        if isinstance(v, str) and v.startswith("os.environ/"):
            v = os.environ.get(v[len("os.environ/") :])
        out[k] = v
    return out


def build_response_cache(
    conn: RedisConnection | None,
    cache_params: Mapping[str, Any] | None = None,
    *,
    reuse: Cache | None = None,
    **failover_options: Any,
) -> Cache:
    """Build the `litellm.Cache` to assign to `litellm.cache`. Does no network I/O (safe in a worker thread).

    * Redis configured (`conn`, else host/url in cache_params): a Cache(type="redis") whose `.cache`
      is a FailoverCache (not yet started: call `start_response_cache`).
    * Otherwise: Cache(type="local") (in-memory).
    * cache_params `type` in s3/gcs/disk/azure-blob/*-semantic: passed to litellm.Cache unchanged.

    cache_params: `litellm_settings.cache_params` from config.yaml; ttl, namespace, mode,
    supported_call_types, max_messages, default_in_memory_ttl, default_in_redis_ttl apply in every
    mode; other keys (redis_flush_size, socket_timeout, ...) are ignored for the failover backend.
    reuse: the currently active Cache; when it has a FailoverCache for an equal RedisConnection and
    the same options, that backend (its connection, health state and memory tier) is kept.
    failover_options: FailoverCache keyword arguments (socket_timeout, probe_interval,
    recovery_interval, max_size_in_memory, credential, default_ttl, ...).
    """
    params = _resolve_env_refs(cache_params or {})
    cache_type = str(params.get("type") or "").strip().lower() or None

    if cache_type in _PASSTHROUGH_TYPES:
        if conn is not None:
            logger.info("response cache type %s configured; the Redis failover backend is not used", cache_type)
        return Cache(**params)

    cache_kwargs = {k: v for k, v in params.items() if k in _CACHE_LEVEL_KEYS and v is not None}
    ignored = sorted(k for k in params if k not in _CACHE_LEVEL_KEYS and k not in _CONNECTION_KEYS)
    if ignored:
        logger.debug("response cache: ignoring cache_params %s", ", ".join(ignored))

    if conn is None and cache_type != "local":
        conn = RedisConnection.from_cache_params(params)
    elif conn is not None and (params.get("host") or params.get("url")):
        logger.info("response cache: using the configured Redis connection; cache_params host/url ignored")

    max_items = int(failover_options.get("max_size_in_memory", DEFAULT_MAX_ITEMS_IN_MEMORY))
    if conn is None or cache_type == "local":
        return Cache(type=LiteLLMCacheType.LOCAL, _backend=InMemoryCache(max_size_in_memory=max_items), **cache_kwargs)

    backend: FailoverCache | None = None
    if reuse is not None and isinstance(reuse.cache, FailoverCache):
        prev = reuse.cache
        if prev.conn == conn and getattr(prev, "_build_options", None) == failover_options:
            backend = prev
    if backend is None:
        backend = FailoverCache(conn, **failover_options)
        backend._build_options = dict(failover_options)  # type: ignore[attr-defined]
    return Cache(type=LiteLLMCacheType.REDIS, _backend=backend, **cache_kwargs)


def failover_backend(cache: Cache | None) -> FailoverCache | None:
    backend = getattr(cache, "cache", None)
    return backend if isinstance(backend, FailoverCache) else None


async def start_response_cache(cache: Cache | None) -> None:
    """Start the background Redis probe of `cache` (no-op for non-failover caches). Call on the event loop.

    Returns immediately; idempotent."""
    backend = failover_backend(cache)
    if backend is not None:
        await backend.start()


async def stop_response_cache(cache: Cache | None, *, keep: Cache | None = None) -> None:
    """Stop the probe and close Redis connections of `cache`, unless its backend is shared with `keep`.

    Never raises; afterwards the old Cache still answers (from memory) for in-flight requests."""
    backend = failover_backend(cache)
    if backend is None or backend is failover_backend(keep):
        return
    try:
        await backend.stop()
    except Exception:
        logger.debug("stopping response cache failed", exc_info=True)


def cache_status(cache: Cache | None) -> dict[str, Any]:
    """{"enabled", "backend": "redis"|"memory"|<type>|None, "redis_configured", "last_error", "since", "fallbacks", ...}."""
    if cache is None:
        return {
            "enabled": False,
            "backend": None,
            "redis_configured": False,
            "last_error": None,
            "since": None,
            "fallbacks": 0,
        }
    backend = failover_backend(cache)
    if backend is not None:
        return {"enabled": True, **backend.status()}
    inner = getattr(cache, "cache", None)
    if isinstance(inner, InMemoryCache):
        name = "memory"
    elif isinstance(inner, RedisCache):
        name = "redis"
    else:
        name = str(getattr(cache, "type", None) or type(inner).__name__)
    return {
        "enabled": True,
        "backend": name,
        "redis_configured": isinstance(inner, RedisCache),
        "last_error": None,
        "since": None,
        "fallbacks": 0,
    }
