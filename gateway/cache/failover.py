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
"""

from __future__ import annotations

import ast
import asyncio
import datetime as _dt
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

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
DEFAULT_STALL_TOLERANCE_S = 0.1
_ASYNC_SOCKET_SAFETY_TIMEOUT_S = 5.0  # redis-py's own timers; our per-op deadline always fires first

T = TypeVar("T")


class _LoopStalled(Exception):
    """Our deadline fired late: the event loop was blocked, so the timeout says nothing about Redis."""


def _utcnow_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


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
        stall_tolerance_s: float = DEFAULT_STALL_TOLERANCE_S,
        autostart: bool = True,
    ) -> None:
        """conn: where Redis is. socket_timeout/connect_timeout: per read / per connect (sync client);
        op_timeout: hard deadline of one async operation or probe (default connect + socket timeout).
        probe_interval: PING period while on Redis; recovery_interval: while on memory.
        credential: for auth MI, an azure-core TokenCredential (default ManagedIdentityCredential(client_id)).
        autostart: start the probe on the first async operation if start() was never called."""
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
        self.probe_interval = probe_interval
        self.recovery_interval = recovery_interval
        self.old_client_grace_s = old_client_grace_s
        self.stall_tolerance_s = stall_tolerance_s
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
        self._stalled_timeouts = 0
        self._ops_redis = 0
        self._ops_memory = 0
        self._warned_unavailable = False
        self._pool_dirty = False

        self._aclient: aredis.Redis | None = None
        self._sclient: redis.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._probe_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._wake: asyncio.Event | None = None
        self._started = False
        self._stopped = False

    # ------------------------------------------------------------------ clients
    def _client_kwargs(self, *, sync: bool) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "host": self.conn.host,
            "port": self.conn.port,
            "db": self.conn.db,
            "ssl": self.conn.ssl,
            # async: all timing is our own per-op deadline (its lateness is measurable, see _bounded);
            # sync: real socket timeouts (a blocked event loop does not affect them)
            "socket_timeout": self.socket_timeout if sync else _ASYNC_SOCKET_SAFETY_TIMEOUT_S,
            "socket_connect_timeout": self.connect_timeout if sync else _ASYNC_SOCKET_SAFETY_TIMEOUT_S,
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
        # retries disabled: redis-py's default retries with backoff are what make a dead Redis slow
        return aredis.Redis(retry=AsyncRetry(NoBackoff(), 0), **self._client_kwargs(sync=False))

    def _new_sync_client(self) -> redis.Redis:
        return redis.Redis(retry=SyncRetry(NoBackoff(), 0), **self._client_kwargs(sync=True))

    async def _close_clients(self, aclient: aredis.Redis | None, sclient: redis.Redis | None) -> None:
        if aclient is not None:
            try:
                async with asyncio.timeout(2.0):
                    await aclient.aclose()
            except asyncio.CancelledError:
                raise
            except BaseException:  # noqa: BLE001
                pass
        if sclient is not None:
            try:
                sclient.close()
            except Exception:  # noqa: BLE001
                pass

    def _close_in_background(self, aclient: aredis.Redis | None, sclient: redis.Redis | None, delay: float) -> None:
        if aclient is None and sclient is None:
            return

        async def close_later() -> None:
            if delay:
                await asyncio.sleep(delay)
            await self._close_clients(aclient, sclient)

        task = asyncio.get_running_loop().create_task(close_later())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------------ lifecycle
    @property
    def running(self) -> bool:
        return self._probe_task is not None and not self._probe_task.done()

    async def start(self) -> None:
        """Start the background health probe on the running loop. Returns at once (no Redis I/O here).

        Idempotent; safe to call again (also after stop(), or from another event loop)."""
        loop = asyncio.get_running_loop()
        self._stopped = False
        if self.running and self._loop is loop:
            return
        if self._loop is not None and self._loop is not loop:
            self._abandon_foreign_loop()
        self._loop = loop
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
        self._aclient = None  # bound to the other loop: dropped, not awaited
        self._set_memory_quietly()

    async def stop(self) -> None:
        """Stop the probe and close Redis connections; afterwards every operation is served from memory.

        Idempotent; never raises."""
        self._stopped = True
        task, self._probe_task = self._probe_task, None
        if task is not None and not task.done():
            task.cancel()
            if self._loop is asyncio.get_running_loop():
                # bounded: never let a stuck probe hang a config apply or shutdown
                for _ in range(3):
                    await asyncio.wait({task}, timeout=1.0)
                    if task.done():
                        break
                    task.cancel()
                if task.done() and not task.cancelled():
                    task.exception()  # retrieve it, so asyncio does not log "never retrieved"
        self._set_memory_quietly()
        aclient, self._aclient = self._aclient, None
        sclient, self._sclient = self._sclient, None
        if self._loop is not asyncio.get_running_loop():
            aclient = None  # bound to another loop
        await self._close_clients(aclient, sclient)
        if self._started:
            logger.info("Redis response cache %s stopped", self.conn.address)
        self._started = False

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

        async def autostart() -> None:
            if not self._stopped and not self.running:
                await self.start()

        task = loop.create_task(autostart())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

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
        if isinstance(exc, TimeoutError) and str(exc) == "":
            text = f"TimeoutError: no reply within {self.op_timeout:.2f}s"
        else:
            text = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
        for secret in self._secrets():
            text = text.replace(secret, "***")
        return text[:500]

    def _switch(self, backend: str) -> None:
        """Caller holds self._lock."""
        self._backend = backend
        self._generation += 1
        self._since = _utcnow_iso()
        self._since_mono = time.monotonic()

    def _set_memory_quietly(self) -> None:
        with self._lock:
            if self._backend != BACKEND_MEMORY:
                self._switch(BACKEND_MEMORY)

    def _wake_probe(self) -> None:
        if self._wake is not None and self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(self._wake.set)
            except RuntimeError:
                pass

    def _op_failed(self, exc: BaseException, generation: int, op: str) -> None:
        if isinstance(exc, _LoopStalled):
            self._stalled_timeouts += 1
            logger.debug("Redis %s %s: %s; answered from memory, probe re-checks", self.conn.address, op, exc)
            self._wake_probe()
            return
        self._mark_unhealthy(self._describe(exc), f"{op} operation", generation)

    def _mark_unhealthy(self, reason: str, source: str, generation: int | None = None) -> None:
        with self._lock:
            if generation is not None and generation != self._generation:
                return  # a stale result from before the last switch: ignore
            self._last_error = reason
            kind = None
            if self._backend == BACKEND_REDIS:
                self._switch(BACKEND_MEMORY)
                self._pool_dirty = True
                kind = "fallback"
            elif not self._warned_unavailable:
                kind = "unavailable"
            if kind is not None:
                self._fallbacks += 1
                self._warned_unavailable = True
        if kind == "unavailable":
            logger.warning(
                "Redis response cache %s unavailable (%s); serving the response cache from memory until it is reachable",
                self.conn.address,
                reason,
            )
        elif kind == "fallback":
            logger.warning(
                "Redis response cache %s failed (%s, detected by %s); falling back to the in-memory cache",
                self.conn.address,
                reason,
                source,
            )
            self._wake_probe()
        else:
            logger.debug("Redis %s still unavailable: %s", self.conn.address, reason)

    def _mark_healthy(self, generation: int) -> None:
        with self._lock:
            if generation != self._generation or self._backend == BACKEND_REDIS:
                return
            outage = time.monotonic() - self._since_mono
            was_warned = self._warned_unavailable
            self._switch(BACKEND_REDIS)
            if was_warned:
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
        """{"backend": "redis"|"memory", "redis_configured": True, "last_error", "since" (ISO, UTC), "fallbacks", ...}."""
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
                "stalled_timeouts": self._stalled_timeouts,
                "probe_running": self.running,
                "memory_items": len(self.memory.cache_dict),
                "ops_redis": self._ops_redis,
                "ops_memory": self._ops_memory,
            }

    # ------------------------------------------------------------------ bounded Redis calls
    async def _bounded(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run one Redis call under the op deadline. TimeoutError if Redis did not answer in time;
        _LoopStalled if the deadline fired late because the event loop was blocked."""
        loop = asyncio.get_running_loop()
        cm = asyncio.timeout(self.op_timeout)
        try:
            async with cm:
                return await call()
        except TimeoutError:
            deadline = cm.when()
            late = loop.time() - deadline if deadline is not None else 0.0
            if late > self.stall_tolerance_s:
                raise _LoopStalled(f"deadline fired {late:.2f}s late (event loop blocked)") from None
            raise

    async def _op(self, client: aredis.Redis, call: Callable[[], Awaitable[T]]) -> T:
        """One Redis operation under the op deadline. A connection error retries once, within the same
        deadline, after dropping idle pooled connections: after a Redis restart the pool still holds
        sockets to the dead process, and only the first use of each one would fail."""

        async def attempt() -> T:
            try:
                return await call()
            except redis.exceptions.AuthenticationError:
                raise
            except redis.exceptions.ConnectionError:
                await client.connection_pool.disconnect(inuse_connections=False)
                return await call()

        return await self._bounded(attempt)

    # ------------------------------------------------------------------ probe
    async def _probe_loop(self) -> None:
        assert self._wake is not None
        stalled_in_a_row = 0
        while not self._stopped:
            woken = False
            try:
                generation = self._generation
                ok, reason = await self._probe_once()
                if ok is None:  # inconclusive (event loop stall): check again shortly, up to 3 times
                    stalled_in_a_row += 1
                    if stalled_in_a_row < 3:
                        await asyncio.sleep(0.05)
                        continue
                    ok = False
                stalled_in_a_row = 0
                if ok:
                    self._mark_healthy(generation)
                else:
                    self._mark_unhealthy(reason or "unknown error", "health probe", generation)
                if self._pool_dirty:
                    await self._drop_connections()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the probe must never die
                logger.debug("Redis probe iteration error: %s", self._describe(exc))
            interval = self.probe_interval if self._backend == BACKEND_REDIS else self.recovery_interval
            self._wake.clear()
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the cancellation
                # from stop() when the event is set at the same moment
                async with asyncio.timeout(interval):
                    await self._wake.wait()
                woken = True  # an operation failed or stalled
            except TimeoutError:
                pass
            if self._pool_dirty:
                await self._drop_connections()
            if woken and self._backend == BACKEND_MEMORY:
                # after a hard failure dwell on memory at least recovery_interval, so a sick Redis does not flap
                await asyncio.sleep(self.recovery_interval)

    async def _drop_connections(self) -> None:
        """After a fallback close the active clients: the next probe connects afresh."""
        self._pool_dirty = False
        if self._backend != BACKEND_MEMORY:
            return
        aclient, self._aclient = self._aclient, None
        sclient, self._sclient = self._sclient, None
        self._close_in_background(aclient, sclient, 0.0)

    async def _ping(self, client: aredis.Redis, retry_fresh: bool) -> tuple[bool | None, str | None]:
        """(True, None) | (False, reason) | (None, reason) when inconclusive (event loop stall)."""
        for attempt in (0, 1):
            try:
                await self._bounded(client.ping)
                return True, None
            except asyncio.CancelledError:
                raise
            except _LoopStalled as exc:
                return None, str(exc)
            except (redis.exceptions.ConnectionError, ConnectionError) as exc:
                # a pooled connection from before a Redis restart fails once: retry on a fresh one
                if attempt == 0 and retry_fresh and not isinstance(exc, redis.exceptions.AuthenticationError):
                    try:
                        async with asyncio.timeout(self.op_timeout):
                            await client.connection_pool.disconnect()
                    except Exception:  # noqa: BLE001
                        pass
                    continue
                return False, self._describe(exc)
            except Exception as exc:  # noqa: BLE001 - TimeoutError, ResponseError (e.g. NOAUTH), ...
                return False, self._describe(exc)
        return False, "unreachable"

    async def _probe_once(self) -> tuple[bool | None, str | None]:
        if self._token_provider is not None:
            try:
                refreshed = await self._token_provider.refresh_if_needed()
            except Exception as exc:  # noqa: BLE001
                if self._token_provider.token is None or time.time() >= self._token_provider.expires_on:
                    return False, f"Entra ID token unavailable: {self._describe(exc)}"
                logger.warning(
                    "Redis Entra ID token refresh failed (current token still valid): %s", self._describe(exc)
                )
                refreshed = False
            if refreshed and self._backend == BACKEND_REDIS and self._aclient is not None:
                self._rotate_clients()
        if self._backend == BACKEND_REDIS and self._aclient is not None:
            return await self._ping(self._aclient, retry_fresh=True)
        # on memory: probe with a brand-new client; when it answers it becomes the active one
        candidate = self._new_async_client()
        ok, reason = await self._ping(candidate, retry_fresh=False)
        if not ok:
            await self._close_clients(candidate, None)
            return ok, reason
        old_a, old_s = self._aclient, self._sclient
        self._aclient, self._sclient = candidate, self._new_sync_client()
        self._close_in_background(old_a, old_s, 0.0)
        return True, None

    def _rotate_clients(self) -> None:
        """A new Entra token: new connections AUTH with it; old pools are closed after a grace period."""
        old_a, old_s = self._aclient, self._sclient
        self._aclient = self._new_async_client()
        self._sclient = self._new_sync_client()
        logger.info("Redis Entra ID token refreshed; new connections to %s use the new token", self.conn.address)
        self._close_in_background(old_a, old_s, self.old_client_grace_s)

    # ------------------------------------------------------------------ op helpers
    def _async_target(self) -> tuple[aredis.Redis, int] | None:
        """The Redis client for this async op, or None to serve it from memory."""
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
                raw = await self._op(client, lambda: client.get(key))
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
                raws = await self._op(client, lambda: client.mget(keys))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                self._op_failed(exc, gen, "MGET")
            else:
                return [
                    _decode(r) if r is not None else self.memory.get_cache(k) for k, r in zip(keys, raws, strict=False)
                ]
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
            await self._op(client, lambda: client.set(key, payload, px=self._px(ttl), nx=bool(kwargs.get("nx", False))))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001
            self._op_failed(exc, gen, "SET")

    async def async_set_cache_pipeline(
        self, cache_list: Iterable[tuple[str, Any]], ttl: Any = None, **kwargs: Any
    ) -> None:
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

        async def run() -> Any:
            pipe = client.pipeline(transaction=False)
            for k, p in payloads:
                pipe.set(k, p, px=self._px(ttl_s))
            return await pipe.execute()

        try:
            await self._op(client, run)
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
            await self._op(client, lambda: client.delete(*keys))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001
            self._op_failed(exc, gen, "DEL")

    async def async_delete_cache(self, key: str) -> None:
        await self.delete_cache_keys([key])

    async def ping(self) -> bool:
        """PING Redis now (bounded by op_timeout); False when unreachable or on memory. Never raises."""
        client = self._aclient
        if client is None or self._loop is not asyncio.get_running_loop():
            return False
        try:
            return bool(await self._bounded(client.ping))
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
            "message": f"Redis {self.conn.address} not in use; serving from memory",
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
