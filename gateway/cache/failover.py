"""FailoverCache: LiteLLM response-cache backend that uses Redis when healthy and memory when not.

Why not litellm's RedisCache: its constructor pings Redis synchronously (with redis-py's default
retries a dead Redis blocks startup for seconds), every operation waits for a 5 s socket timeout,
and after failures a circuit breaker keeps Redis off for minutes after it has come back.

Here:
  * construction does no I/O; `start()` (on the event loop) launches a background probe task and
    returns at once;
  * the probe PINGs with a short deadline every `probe_interval` s (every `recovery_interval` s
    while on memory) and drives the state machine  memory <-> redis;
  * while the state is "memory" no request touches Redis: every operation is answered from the
    in-process InMemoryCache at once;
  * while "redis", every operation has a hard deadline (`op_timeout`, default 0.5 s); any Redis
    error or punctual timeout flips the state to "memory" and that very operation is answered from
    memory (nothing is ever raised to the request path);
  * a timeout that fired late because the event loop itself was blocked (litellm's first request
    blocks the loop ~0.5 s, so do big config applies) says nothing about Redis: that operation is
    answered from memory and the probe re-checks at once, without a fallback;
  * on memory the probe connects with a brand-new client; when it answers, that client becomes the
    active one, so no connection from before an outage is reused after Redis returns;
  * writes go to memory too (write-through), and a Redis miss falls back to memory, so entries
    cached during an outage keep serving after Redis comes back empty.

This module is only the adapter to LiteLLM's BaseCache API. The parts live beside it:
  health.py      HealthState: the memory <-> redis state machine and its counters (pure)
  redis_link.py  RedisLink: the Redis clients, the per-call deadline, one health probe step
  probe.py       HealthProbe: the background task that probes and drives HealthState
  operations.py  RedisOps: route / bound / record for every operation (the one try/except)
"""

from __future__ import annotations

import ast
import json
import logging
from collections.abc import Iterable
from typing import Any

from litellm.caching.base_cache import BaseCache
from litellm.caching.in_memory_cache import InMemoryCache

from .credentials import (
    EntraTokenCredentialProvider,
    TokenCredential,
    managed_identity_credential,
)
from .health import BACKEND_MEMORY, BACKEND_REDIS, HealthState
from .operations import FROM_MEMORY, RedisOps
from .probe import HealthProbe
from .redis_link import RedisLink
from .settings import RedisConnection

logger = logging.getLogger("gateway.cache")

__all__ = [
    "BACKEND_MEMORY",
    "BACKEND_REDIS",
    "DEFAULT_MAX_ITEMS_IN_MEMORY",
    "DEFAULT_PROBE_INTERVAL_S",
    "DEFAULT_RECOVERY_INTERVAL_S",
    "DEFAULT_SOCKET_TIMEOUT_S",
    "DEFAULT_STALL_TOLERANCE_S",
    "DEFAULT_TTL_S",
    "FailoverCache",
]

DEFAULT_SOCKET_TIMEOUT_S = 0.25
DEFAULT_PROBE_INTERVAL_S = 1.0
DEFAULT_RECOVERY_INTERVAL_S = 0.5
DEFAULT_MAX_ITEMS_IN_MEMORY = 1000
DEFAULT_TTL_S = 60.0  # same default as litellm's RedisCache (BaseCache default_ttl)
DEFAULT_STALL_TOLERANCE_S = 0.1


def _decode(raw: bytes | str | None) -> Any:
    """Same decoding as litellm RedisCache._get_cache_logic (JSON, else Python literal); None = miss."""
    if raw is None:
        return None
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    try:
        return json.loads(text)
    except ValueError:
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None  # undecodable entry: a miss, not a Redis failure


def _px(ttl: float | None) -> int | None:
    """TTL seconds -> Redis PX milliseconds (at least 1); None = no expiry."""
    return max(1, int(ttl * 1000)) if ttl is not None else None


class FailoverCache(BaseCache):
    """BaseCache serving from Redis when healthy and from an in-memory cache instantly when not."""

    def __init__(
        self,
        conn: RedisConnection,
        *,
        default_ttl: float | None = None,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT_S,
        connect_timeout: float | None = None,
        op_timeout: float | None = None,
        probe_interval: float = DEFAULT_PROBE_INTERVAL_S,
        recovery_interval: float = DEFAULT_RECOVERY_INTERVAL_S,
        max_size_in_memory: int = DEFAULT_MAX_ITEMS_IN_MEMORY,
        credential: TokenCredential | None = None,
        token_refresh_margin_s: float = 300.0,
        old_client_grace_s: float = 5.0,
        stall_tolerance_s: float = DEFAULT_STALL_TOLERANCE_S,
        autostart: bool = True,
    ) -> None:
        """conn: where Redis is. socket_timeout/connect_timeout: per read / per connect (sync client);
        op_timeout: hard deadline of one async operation or probe (default connect + socket timeout).
        probe_interval: PING period while on Redis; recovery_interval: while on memory.
        credential: for auth MI, an azure-core TokenCredential (default ManagedIdentityCredential(client_id)).
        autostart: start the probe on the first async operation if start() was never called.
        All durations in seconds. Raises TypeError when conn is not a RedisConnection. No I/O."""
        if not isinstance(conn, RedisConnection):
            raise TypeError("FailoverCache needs a RedisConnection")
        if default_ttl is None:
            import litellm

            default_ttl = float(litellm.default_redis_ttl) if litellm.default_redis_ttl else DEFAULT_TTL_S
        super().__init__(default_ttl=int(default_ttl))
        self.default_ttl_s = float(default_ttl)
        self.conn = conn
        self.socket_timeout = socket_timeout
        self.connect_timeout = (
            connect_timeout
            if connect_timeout is not None
            else (max(socket_timeout, 0.5) if conn.ssl else socket_timeout)
        )
        self.op_timeout = op_timeout if op_timeout is not None else self.connect_timeout + socket_timeout
        self.memory = InMemoryCache(max_size_in_memory=max_size_in_memory, default_ttl=int(max(default_ttl, 1)))

        self._token_provider: EntraTokenCredentialProvider | None = None
        if conn.auth == "MI":
            self._token_provider = EntraTokenCredentialProvider(
                credential if credential is not None else managed_identity_credential(conn.mi_client_id),
                username=conn.username,
                refresh_margin_s=token_refresh_margin_s,
            )
        self._state = HealthState(conn.address)
        self._link = RedisLink(
            conn,
            socket_timeout=socket_timeout,
            connect_timeout=self.connect_timeout,
            op_timeout=self.op_timeout,
            stall_tolerance_s=stall_tolerance_s,
            old_client_grace_s=old_client_grace_s,
            token_provider=self._token_provider,
        )
        self._probe = HealthProbe(
            self._state,
            self._link,
            probe_interval=probe_interval,
            recovery_interval=recovery_interval,
            autostart=autostart,
        )
        self._redis = RedisOps(self._state, self._link, self._probe)

    # ------------------------------------------------------------------ lifecycle
    @property
    def running(self) -> bool:
        """Whether the background probe task is alive."""
        return self._probe.running

    @property
    def backend(self) -> str:
        """"redis" or "memory": where operations go right now."""
        return self._state.backend

    async def start(self) -> None:
        """Start the background health probe on the running loop. Returns at once (no Redis I/O here).

        Idempotent; safe to call again (also after stop(), or from another event loop)."""
        await self._probe.start()

    async def stop(self) -> None:
        """Stop the probe and close Redis connections; afterwards every operation is served from memory.

        Idempotent; never raises."""
        if await self._probe.stop():
            logger.info("Redis response cache %s stopped", self.conn.address)

    async def disconnect(self) -> None:  # litellm Cache.disconnect() -> here
        await self.stop()

    def status(self) -> dict[str, Any]:
        """{"backend": "redis"|"memory", "redis_configured": True, "last_error", "since" (ISO, UTC), "fallbacks", ...}."""
        state = self._state.snapshot()
        return {
            "backend": state["backend"],
            "redis_configured": True,
            "redis": self.conn.address,
            "auth": self.conn.auth,
            "last_error": state["last_error"],
            "since": state["since"],
            "fallbacks": state["fallbacks"],
            "resumes": state["resumes"],
            "stalled_timeouts": state["stalled_timeouts"],
            "probe_running": self.running,
            "memory_items": len(self.memory.cache_dict),
            "ops_redis": state["ops_redis"],
            "ops_memory": state["ops_memory"],
        }

    def _ttl_seconds(self, raw: Any) -> float | None:
        """A litellm ttl argument -> seconds; default_ttl when absent or unparsable; None (no expiry) when <= 0."""
        if raw is None:
            return self.default_ttl_s
        try:
            ttl = float(raw)
        except (TypeError, ValueError):
            return self.default_ttl_s
        return ttl if ttl > 0 else None

    # ------------------------------------------------------------------ async API (used by litellm)
    async def async_get_cache(self, key: str, **kwargs: Any) -> Any:
        raw = await self._redis.run("GET", lambda c: c.get(key))
        if raw is not FROM_MEMORY and raw is not None:
            return _decode(raw)
        return self.memory.get_cache(key)

    async def async_batch_get_cache(self, keys: list[str], **kwargs: Any) -> list[Any]:
        keys = list(keys)
        if keys:
            raws = await self._redis.run("MGET", lambda c: c.mget(keys))
            if raws is not FROM_MEMORY:
                return [
                    _decode(r) if r is not None else self.memory.get_cache(k) for k, r in zip(keys, raws, strict=False)
                ]
        return [self.memory.get_cache(k) for k in keys]

    async def async_set_cache(self, key: str, value: Any, **kwargs: Any) -> None:
        ttl = self._ttl_seconds(kwargs.get("ttl"))
        self.memory.set_cache(key, value, ttl=ttl)
        try:
            payload = json.dumps(value)
        except (TypeError, ValueError) as exc:
            logger.debug("response cache value for %s not JSON serializable (%s); kept in memory only", key, exc)
            return
        nx = bool(kwargs.get("nx", False))
        await self._redis.run("SET", lambda c: c.set(key, payload, px=_px(ttl), nx=nx))

    async def async_set_cache_pipeline(
        self, cache_list: Iterable[tuple[str, Any]], ttl: Any = None, **kwargs: Any
    ) -> None:
        items = list(cache_list)
        ttl_s = self._ttl_seconds(ttl if ttl is not None else kwargs.get("ttl"))
        for key, value in items:
            self.memory.set_cache(key, value, ttl=ttl_s)
        if not items:
            return
        try:
            payloads = [(k, json.dumps(v)) for k, v in items]
        except (TypeError, ValueError):
            return

        async def set_all(client: Any) -> Any:
            pipe = client.pipeline(transaction=False)
            for k, p in payloads:
                pipe.set(k, p, px=_px(ttl_s))
            return await pipe.execute()

        await self._redis.run("pipeline SET", set_all)

    async def batch_cache_write(self, key: str, value: Any, **kwargs: Any) -> None:
        await self.async_set_cache(key, value, **kwargs)

    async def delete_cache_keys(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        for k in keys:
            self.memory.delete_cache(k)
        if keys:
            await self._redis.run("DEL", lambda c: c.delete(*keys))

    async def async_delete_cache(self, key: str) -> None:
        await self.delete_cache_keys([key])

    async def ping(self) -> bool:
        """PING Redis now (bounded by op_timeout); False when unreachable or on memory. Never raises."""
        client = self._link.aclient
        if client is None or not self._probe.on_current_loop():
            return False
        ok, _ = await self._link.ping(client, retry_fresh=False)
        return bool(ok)

    async def test_connection(self) -> dict[str, Any]:
        ok = await self.ping()
        st = self.status()
        if ok:
            return {"status": "success", "message": f"Redis {self.conn.address} reachable", "backend": st["backend"]}
        return {
            "status": "failed",
            "message": f"Redis {self.conn.address} not in use; serving from memory",
            "error": st["last_error"],
            "backend": st["backend"],
        }

    # ------------------------------------------------------------------ sync API (litellm.completion)
    def get_cache(self, key: str, **kwargs: Any) -> Any:
        raw = self._redis.run_sync("GET", lambda c: c.get(key))
        if raw is not FROM_MEMORY and raw is not None:
            return _decode(raw)
        return self.memory.get_cache(key)

    def batch_get_cache(self, keys: list[str], **kwargs: Any) -> list[Any]:
        return [self.get_cache(k) for k in keys]

    def set_cache(self, key: str, value: Any, **kwargs: Any) -> None:
        ttl = self._ttl_seconds(kwargs.get("ttl"))
        self.memory.set_cache(key, value, ttl=ttl)
        try:
            payload = json.dumps(value)
        except (TypeError, ValueError):
            return
        nx = bool(kwargs.get("nx", False))
        self._redis.run_sync("SET", lambda c: c.set(key, payload, px=_px(ttl), nx=nx))

    def delete_cache(self, key: str) -> None:
        self.memory.delete_cache(key)
        self._redis.run_sync("DEL", lambda c: c.delete(key))

    def flush_cache(self) -> None:
        """Clears this process's memory tier only (never FLUSHALL on the shared Redis)."""
        self.memory.flush_cache()

    def __repr__(self) -> str:
        return f"FailoverCache(conn={self.conn!r}, backend={self.backend!r})"
