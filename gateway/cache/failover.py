"""FailoverCache: LiteLLM response-cache backend that uses Redis when healthy and memory when not.

Why not litellm's RedisCache: its constructor pings Redis synchronously (with redis-py's default
retries a dead Redis blocks startup for seconds), every operation waits for a 5 s socket timeout,
and after failures a circuit breaker keeps Redis off for minutes after it has come back.

Here:
  * construction does no I/O; `start()` (on the event loop) launches a background probe task;
  * the probe PINGs with a short timeout every `probe_interval` s (every `recovery_interval` s
    while on memory) and drives the state machine  memory <-> redis;
  * while the state is "memory" no request touches Redis; every operation is answered from the
    in-process InMemoryCache at once;
  * while "redis", operations go to Redis with short socket/connect timeouts plus a hard
    per-operation deadline; any Redis error flips the state to "memory" and that very operation
    is answered from memory (nothing is raised to the request path);
  * writes go to memory too (write-through), and a Redis miss falls back to memory, so entries
    cached during an outage keep serving after Redis returns empty.
"""

from __future__ import annotations

import ast
import asyncio
import datetime as _dt
import json
import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

import redis
import redis.asyncio as aredis
from litellm.caching.base_cache import BaseCache
from litellm.caching.in_memory_cache import InMemoryCache
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry as SyncRetry

from .credentials import EntraTokenCredentialProvider, TokenCredential, managed_identity_credential
from .settings import RedisConnection

logger = logging.getLogger("gateway.cache")

BACKEND_REDIS = "redis"
BACKEND_MEMORY = "memory"

DEFAULT_SOCKET_TIMEOUT_S = 0.25
DEFAULT_PROBE_INTERVAL_S = 1.0
DEFAULT_RECOVERY_INTERVAL_S = 0.5
DEFAULT_MAX_ITEMS_IN_MEMORY = 1000
DEFAULT_TTL_S = 60.0  # same default as litellm's RedisCache (BaseCache default_ttl)


def _utcnow_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def _decode(raw: bytes | str | None) -> Any:
    """Same decoding as litellm RedisCache._get_cache_logic (JSON, else Python literal)."""
    if raw is None:
        return None
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    try:
        return json.loads(text)
    except Exception:  # noqa: BLE001
        try:
            return ast.literal_eval(text)
        except Exception:  # noqa: BLE001 - undecodable entry: a miss, not a Redis failure
            return None


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
        autostart: bool = True,
    ) -> None:
        if not isinstance(conn, RedisConnection):
            raise TypeError("FailoverCache needs a RedisConnection")
        if default_ttl is None:
            import litellm

            default_ttl = float(litellm.default_redis_ttl) if litellm.default_redis_ttl else DEFAULT_TTL_S
        super().__init__(default_ttl=int(default_ttl))
        self.default_ttl_s = float(default_ttl)
        self.conn = conn
        self.socket_timeout = socket_timeout
        self.connect_timeout = connect_timeout if connect_timeout is not None else (
            max(socket_timeout, 0.5) if conn.ssl else socket_timeout
        )
        # hard deadline for one operation (connect + command), so nothing can stall a request longer
        self.op_timeout = op_timeout if op_timeout is not None else self.connect_timeout + socket_timeout
        self.probe_interval = probe_interval
        self.recovery_interval = recovery_interval
        self.old_client_grace_s = old_client_grace_s
        self.autostart = autostart
        self.memory = InMemoryCache(max_size_in_memory=max_size_in_memory, default_ttl=int(max(default_ttl, 1)))

        self._token_provider: EntraTokenCredentialProvider | None = None
        if conn.auth == "MI":
            self._token_provider = EntraTokenCredentialProvider(
                credential if credential is not None else managed_identity_credential(conn.mi_client_id),
                username=conn.username,
                refresh_margin_s=token_refresh_margin_s,
            )

        self._lock = threading.Lock()
        self._backend = BACKEND_MEMORY
        self._since = _utcnow_iso()
        self._since_mono = time.monotonic()
        self._generation = 0
        self._last_error: str | None = None
        self._fallbacks = 0
        self._resumes = 0
        self._ops_redis = 0
        self._ops_memory = 0
        self._probed = False  # has a probe finished yet?
        self._warned_unavailable = False
        self._pool_dirty = False

        self._aclient: aredis.Redis | None = None
        self._sclient: redis.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._probe_task: asyncio.Task[None] | None = None
        self._started = False
        self._stopped = False
        self._wake: asyncio.Event | None = None

    # ------------------------------------------------------------------ clients
    def _client_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "host": self.conn.host,
            "port": self.conn.port,
            "db": self.conn.db,
            "ssl": self.conn.ssl,
            "socket_timeout": self.socket_timeout,
            "socket_connect_timeout": self.connect_timeout,
            "retry_on_timeout": False,
            "health_check_interval": 0,
            "decode_responses": False,
        }
        if self._token_provider is not None:
            kw["credential_provider"] = self._token_provider
        else:
            if self.conn.username:
                kw["username"] = self.conn.username
            if self.conn.password:
                kw["password"] = self.conn.password
        return kw

    def _new_async_client(self) -> aredis.Redis:
        # retry disabled: redis-py's default retries with backoff are what makes a dead Redis slow
        return aredis.Redis(retry=AsyncRetry(NoBackoff(), 0), **self._client_kwargs())

    def _new_sync_client(self) -> redis.Redis:
        return redis.Redis(retry=SyncRetry(NoBackoff(), 0), **self._client_kwargs())

    # ------------------------------------------------------------------ lifecycle
    @property
    def running(self) -> bool:
        return self._probe_task is not None and not self._probe_task.done()

    async def start(self) -> None:
        """Start the background health probe on the running loop. Returns at once (no Redis I/O here).

        Idempotent; safe to call again (also after stop(), or from a different event loop)."""
        loop = asyncio.get_running_loop()
        self._stopped = False
        if self.running and self._loop is loop:
            return
        if self._loop is not None and self._loop is not loop:
            self._abandon_foreign_loop()
        self._loop = loop
        if self._aclient is None:
            self._aclient = self._new_async_client()
        if self._sclient is None:
            self._sclient = self._new_sync_client()
        self._wake = asyncio.Event()
        self._started = True
        self._probe_task = loop.create_task(self._probe_loop(), name=f"redis-failover-probe-{self.conn.address}")

    def _abandon_foreign_loop(self) -> None:
        task, old_loop = self._probe_task, self._loop
        if task is not None and not task.done() and old_loop is not None and not old_loop.is_closed():
            try:
                old_loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:
                pass
        self._probe_task = None
        self._aclient = None  # bound to the other loop; dropped, not awaited
        self._set_memory_quietly()

    async def stop(self) -> None:
        """Stop the probe and close Redis connections; afterwards every operation is served from memory.

        Idempotent; never raises."""
        self._stopped = True
        task, self._probe_task = self._probe_task, None
        if task is not None and not task.done():
            task.cancel()
            if self._loop is asyncio.get_running_loop():
                try:
                    await task
                except BaseException:  # noqa: BLE001 - CancelledError or a probe bug: both end here
                    pass
        self._set_memory_quietly()
        aclient, self._aclient = self._aclient, None
        sclient, self._sclient = self._sclient, None
        await self._close_clients(aclient, sclient)
        if self._started:
            logger.info("Redis response cache %s stopped", self.conn.address)
        self._started = False

    async def _close_clients(self, aclient: aredis.Redis | None, sclient: redis.Redis | None) -> None:
        if aclient is not None:
            try:
                if self._loop is None or self._loop is asyncio.get_running_loop():
                    await asyncio.wait_for(aclient.aclose(), 2.0)
            except BaseException:  # noqa: BLE001
                pass
        if sclient is not None:
            try:
                sclient.close()
            except Exception:  # noqa: BLE001
                pass

    async def disconnect(self) -> None:  # litellm Cache.disconnect() -> here
        await self.stop()

    def _maybe_autostart(self) -> None:
        if self._started or self._stopped or not self.autostart:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._started = True  # claim it now so concurrent ops schedule only one start
        loop.create_task(self.start())

    # ------------------------------------------------------------------ state machine
    @property
    def backend(self) -> str:
        return self._backend

    def _secrets(self) -> list[str]:
        out = [s for s in (self.conn.password,) if s]
        if self._token_provider is not None and self._token_provider.token:
            out.append(self._token_provider.token)
        return out

    def _describe(self, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {exc}".strip()
        if text.endswith(":"):
            text = text[:-1]
        if isinstance(exc, (TimeoutError, asyncio.TimeoutError)) and str(exc) == "":
            text = f"TimeoutError: no reply within {self.op_timeout:.2f}s"
        for secret in self._secrets():
            text = text.replace(secret, "***")
        return text[:500]

    def _set_memory_quietly(self) -> None:
        with self._lock:
            if self._backend != BACKEND_MEMORY:
                self._backend = BACKEND_MEMORY
                self._generation += 1
                self._since = _utcnow_iso()
                self._since_mono = time.monotonic()

    def _mark_unhealthy(self, reason: str, source: str, generation: int | None = None) -> None:
        with self._lock:
            if generation is not None and generation != self._generation:
                return  # a stale operation from before the last switch: ignore
            self._last_error = reason
            if self._backend == BACKEND_REDIS:
                self._backend = BACKEND_MEMORY
                self._generation += 1
                self._since = _utcnow_iso()
                self._since_mono = time.monotonic()
                self._fallbacks += 1
                self._pool_dirty = True
                log_warning = True
                first = False
            elif not self._warned_unavailable:
                self._fallbacks += 1
                log_warning = True
                first = True
            else:
                log_warning = False
                first = False
            self._warned_unavailable = True
        if log_warning:
            if first:
                logger.warning(
                    "Redis response cache %s unavailable (%s); serving the response cache from memory until it is reachable",
                    self.conn.address,
                    reason,
                )
            else:
                logger.warning(
                    "Redis response cache %s failed (%s, detected by %s); falling back to the in-memory cache",
                    self.conn.address,
                    reason,
                    source,
                )
        else:
            logger.debug("Redis %s still unavailable: %s", self.conn.address, reason)
        if self._wake is not None and self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(self._wake.set)
            except RuntimeError:
                pass

    def _mark_healthy(self) -> None:
        with self._lock:
            if self._backend == BACKEND_REDIS:
                return
            outage = time.monotonic() - self._since_mono
            was_warned = self._warned_unavailable
            self._backend = BACKEND_REDIS
            self._generation += 1
            self._since = _utcnow_iso()
            self._since_mono = time.monotonic()
            self._resumes += 1
            self._warned_unavailable = False
        if was_warned:
            logger.info(
                "Redis response cache %s reachable again; shared cache resumed after %.1fs on memory",
                self.conn.address,
                outage,
            )
        else:
            logger.info("Redis response cache %s connected; shared cache active", self.conn.address)

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "backend": self._backend,
                "redis_configured": True,
                "redis": self.conn.address,
                "auth": self.conn.auth,
                "last_error": self._last_error,
                "since": self._since,
                "fallbacks": self._fallbacks,
                "resumes": self._resumes,
                "probe_running": self.running,
                "memory_items": len(self.memory.cache_dict),
                "ops_redis": self._ops_redis,
                "ops_memory": self._ops_memory,
            }

    # ------------------------------------------------------------------ probe
    async def _probe_loop(self) -> None:
        assert self._wake is not None
        while True:
            try:
                ok, reason = await self._probe_once()
                if ok:
                    self._mark_healthy()
                else:
                    self._mark_unhealthy(reason or "unknown error", "health probe")
                self._probed = True
                if self._pool_dirty:
                    await self._drop_connections()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the probe must never die
                logger.debug("Redis probe iteration error: %s", self._describe(exc))
            interval = self.probe_interval if self._backend == BACKEND_REDIS else self.recovery_interval
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), interval)
                woken = True  # an operation failed: drop its connections now, probe again a little later
            except (asyncio.TimeoutError, TimeoutError):
                woken = False
            if self._pool_dirty:
                await self._drop_connections()
            if woken:
                # dwell on memory at least recovery_interval, so a struggling Redis does not flap
                await asyncio.sleep(self.recovery_interval)

    async def _drop_connections(self) -> None:
        """After a failure drop pooled connections, so the next probe/ops use fresh ones."""
        self._pool_dirty = False
        client = self._aclient
        if client is not None:
            try:
                await asyncio.wait_for(client.connection_pool.disconnect(), self.op_timeout)
            except BaseException as exc:  # noqa: BLE001
                if isinstance(exc, asyncio.CancelledError):
                    raise
        if self._sclient is not None:
            try:
                self._sclient.connection_pool.disconnect()
            except Exception:  # noqa: BLE001
                pass

    async def _probe_once(self) -> tuple[bool, str | None]:
        if self._token_provider is not None:
            try:
                refreshed = await self._token_provider.refresh_if_needed()
            except Exception as exc:  # noqa: BLE001
                if self._token_provider.token is None or time.time() >= self._token_provider.expires_on:
                    return False, f"Entra ID token unavailable: {self._describe(exc)}"
                logger.warning("Redis Entra ID token refresh failed (current token still valid): %s", self._describe(exc))
                refreshed = False
            if refreshed and self._token_provider.refresh_count > 1:
                await self._rotate_clients()
        client = self._aclient
        if client is None:
            return False, "not started"
        for attempt in (0, 1):
            try:
                async with asyncio.timeout(self.op_timeout):
                    await client.ping()
                return True, None
            except asyncio.CancelledError:
                raise
            except (redis.exceptions.ConnectionError, ConnectionError) as exc:
                # a pooled connection from before a Redis restart fails once: retry on a fresh one
                if attempt == 0 and not isinstance(exc, redis.exceptions.AuthenticationError):
                    try:
                        await asyncio.wait_for(client.connection_pool.disconnect(), self.op_timeout)
                    except Exception:  # noqa: BLE001
                        pass
                    continue
                return False, self._describe(exc)
            except Exception as exc:  # noqa: BLE001 - TimeoutError, ResponseError (e.g. NOAUTH), ...
                return False, self._describe(exc)
        return False, "unreachable"

    async def _rotate_clients(self) -> None:
        """A new Entra token: new connections AUTH with it; old pools are closed after a grace period."""
        old_a, old_s = self._aclient, self._sclient
        self._aclient = self._new_async_client()
        self._sclient = self._new_sync_client()
        logger.info("Redis Entra ID token refreshed; reconnecting %s with the new token", self.conn.address)
        loop = asyncio.get_running_loop()

        async def close_later() -> None:
            await asyncio.sleep(self.old_client_grace_s)
            await self._close_clients(old_a, old_s)

        task = loop.create_task(close_later())
        self._background = getattr(self, "_background", set())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------------ op helpers
    def _async_target(self) -> tuple[aredis.Redis, int] | None:
        """The Redis client to use for this async op, or None to serve from memory."""
        if self._backend != BACKEND_REDIS:
            self._maybe_autostart()
            self._ops_memory += 1
            return None
        client = self._aclient
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if client is None or loop is not self._loop:
            self._ops_memory += 1
            return None
        self._ops_redis += 1
        return client, self._generation

    def _sync_target(self) -> tuple[redis.Redis, int] | None:
        if self._backend != BACKEND_REDIS or self._sclient is None:
            self._ops_memory += 1
            return None
        self._ops_redis += 1
        return self._sclient, self._generation

    def _op_failed(self, exc: BaseException, generation: int, op: str) -> None:
        self._mark_unhealthy(self._describe(exc), f"{op} operation", generation)

    def _ttl_seconds(self, kwargs: dict[str, Any]) -> float | None:
        raw = kwargs.get("ttl")
        if raw is None:
            return self.default_ttl_s
        try:
            ttl = float(raw)
        except (TypeError, ValueError):
            return self.default_ttl_s
        return ttl if ttl > 0 else None

    @staticmethod
    def _px(ttl: float | None) -> int | None:
        return max(1, int(ttl * 1000)) if ttl is not None else None

    # ------------------------------------------------------------------ async API (used by litellm)
    async def async_get_cache(self, key: str, **kwargs: Any) -> Any:
        target = self._async_target()
        if target is not None:
            client, gen = target
            try:
                async with asyncio.timeout(self.op_timeout):
                    raw = await client.get(key)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - never raise to the request path
                self._op_failed(exc, gen, "GET")
            else:
                if raw is not None:
                    return _decode(raw)
        return self.memory.get_cache(key)

    async def async_batch_get_cache(self, keys: list[str], **kwargs: Any) -> list[Any]:
        keys = list(keys)
        target = self._async_target()
        if target is not None and keys:
            client, gen = target
            try:
                async with asyncio.timeout(self.op_timeout):
                    raws = await client.mget(keys)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                self._op_failed(exc, gen, "MGET")
            else:
                return [_decode(r) if r is not None else self.memory.get_cache(k) for k, r in zip(keys, raws)]
        return [self.memory.get_cache(k) for k in keys]

    async def async_set_cache(self, key: str, value: Any, **kwargs: Any) -> None:
        ttl = self._ttl_seconds(kwargs)
        self.memory.set_cache(key, value, ttl=ttl)
        target = self._async_target()
        if target is None:
            return
        client, gen = target
        try:
            payload = json.dumps(value)
        except (TypeError, ValueError) as exc:
            logger.debug("response cache value for %s not JSON serializable (%s); kept in memory only", key, exc)
            return
        try:
            async with asyncio.timeout(self.op_timeout):
                await client.set(key, payload, px=self._px(ttl), nx=bool(kwargs.get("nx", False)))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001
            self._op_failed(exc, gen, "SET")

    async def async_set_cache_pipeline(self, cache_list: Iterable[tuple[str, Any]], ttl: Any = None, **kwargs: Any) -> None:
        items = list(cache_list)
        ttl_s = self._ttl_seconds({"ttl": ttl if ttl is not None else kwargs.get("ttl")})
        for key, value in items:
            self.memory.set_cache(key, value, ttl=ttl_s)
        target = self._async_target()
        if target is None or not items:
            return
        client, gen = target
        try:
            payloads = [(k, json.dumps(v)) for k, v in items]
        except (TypeError, ValueError):
            return
        try:
            async with asyncio.timeout(self.op_timeout):
                pipe = client.pipeline(transaction=False)
                for k, p in payloads:
                    pipe.set(k, p, px=self._px(ttl_s))
                await pipe.execute()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001
            self._op_failed(exc, gen, "pipeline SET")

    async def batch_cache_write(self, key: str, value: Any, **kwargs: Any) -> None:
        await self.async_set_cache(key, value, **kwargs)

    async def delete_cache_keys(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        for k in keys:
            self.memory.delete_cache(k)
        target = self._async_target()
        if target is None or not keys:
            return
        client, gen = target
        try:
            async with asyncio.timeout(self.op_timeout):
                await client.delete(*keys)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001
            self._op_failed(exc, gen, "DEL")

    async def async_delete_cache(self, key: str) -> None:
        await self.delete_cache_keys([key])

    async def ping(self) -> bool:
        """PING Redis now (bounded by op_timeout); False when unreachable or not started. Never raises."""
        client = self._aclient
        if client is None or self._loop is not asyncio.get_running_loop():
            return False
        try:
            async with asyncio.timeout(self.op_timeout):
                return bool(await client.ping())
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001
            return False

    async def test_connection(self) -> dict:
        ok = await self.ping()
        st = self.status()
        if ok:
            return {"status": "success", "message": f"Redis {self.conn.address} reachable", "backend": st["backend"]}
        return {
            "status": "failed",
            "message": f"Redis {self.conn.address} unreachable; serving from memory",
            "error": st["last_error"],
            "backend": st["backend"],
        }

    # ------------------------------------------------------------------ sync API (litellm.completion)
    def get_cache(self, key: str, **kwargs: Any) -> Any:
        target = self._sync_target()
        if target is not None:
            client, gen = target
            try:
                raw = client.get(key)
            except Exception as exc:  # noqa: BLE001
                self._op_failed(exc, gen, "GET")
            else:
                if raw is not None:
                    return _decode(raw)
        return self.memory.get_cache(key)

    def batch_get_cache(self, keys: list[str], **kwargs: Any) -> list[Any]:
        return [self.get_cache(k) for k in keys]

    def set_cache(self, key: str, value: Any, **kwargs: Any) -> None:
        ttl = self._ttl_seconds(kwargs)
        self.memory.set_cache(key, value, ttl=ttl)
        target = self._sync_target()
        if target is None:
            return
        client, gen = target
        try:
            payload = json.dumps(value)
        except (TypeError, ValueError):
            return
        try:
            client.set(key, payload, px=self._px(ttl), nx=bool(kwargs.get("nx", False)))
        except Exception as exc:  # noqa: BLE001
            self._op_failed(exc, gen, "SET")

    def delete_cache(self, key: str) -> None:
        self.memory.delete_cache(key)
        target = self._sync_target()
        if target is None:
            return
        client, gen = target
        try:
            client.delete(key)
        except Exception as exc:  # noqa: BLE001
            self._op_failed(exc, gen, "DEL")

    def flush_cache(self) -> None:
        """Clears this process's memory tier only (never FLUSHALL on the shared Redis)."""
        self.memory.flush_cache()

    def __repr__(self) -> str:
        return f"FailoverCache(conn={self.conn!r}, backend={self._backend!r})"
