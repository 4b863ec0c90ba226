"""The Redis side of the failover cache: its clients, the per-call deadline, and one health probe.

``RedisLink`` owns the two redis-py clients of one ``RedisConnection`` (async for the proxy's
request path, sync for ``litellm.completion`` in worker threads) and knows how to talk to Redis
without ever blocking a request for long:

* retries are disabled in redis-py (its default retries with backoff are what make a dead Redis
  slow); the async client's own socket timers are a 5 s safety net only, because every async call
  runs under our own deadline (``op_timeout``) whose lateness we can measure;
* a deadline that fired more than ``stall_tolerance_s`` late means the event loop itself was
  blocked (litellm's first request blocks it ~0.5 s, so do big config applies): that says nothing
  about Redis and raises ``LoopStalled`` instead of ``TimeoutError``;
* ``probe()`` is one health check: refresh the Entra token if due (rotating the clients when a new
  one arrives), then PING; while on memory it PINGs with a brand-new client and adopts it only
  when it answers, so no connection from before an outage is reused after Redis returns.

Error texts leave this module through ``describe()``, which masks the password and the token.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis
import redis.asyncio as aredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry as SyncRetry

from gateway.errors import GatewayError

from .credentials import EntraTokenCredentialProvider
from .settings import RedisConnection

logger = logging.getLogger("gateway.cache")

T = TypeVar("T")

_ASYNC_SOCKET_SAFETY_TIMEOUT_S = 5.0  # redis-py's own timers; our per-call deadline always fires first
_CLOSE_TIMEOUT_S = 2.0

#: (True, None) healthy | (False, reason) unhealthy | (None, reason) inconclusive (event loop stall)
ProbeResult = tuple[bool | None, str | None]


class LoopStalled(GatewayError):
    """Our deadline fired late: the event loop was blocked, so the timeout says nothing about Redis."""


class RedisLink:
    """Clients, bounded calls and the health probe for one Redis (see the module docstring).

    socket_timeout / connect_timeout: seconds, sync client's socket timers. op_timeout: seconds,
    hard deadline of one async call or probe PING. stall_tolerance_s: how late a deadline may fire
    before it counts as an event-loop stall. old_client_grace_s: how long replaced clients stay
    open after a token rotation (in-flight calls finish on them).
    """

    def __init__(
        self,
        conn: RedisConnection,
        *,
        socket_timeout: float,
        connect_timeout: float,
        op_timeout: float,
        stall_tolerance_s: float,
        old_client_grace_s: float,
        token_provider: EntraTokenCredentialProvider | None = None,
    ) -> None:
        self.conn = conn
        self.socket_timeout = socket_timeout
        self.connect_timeout = connect_timeout
        self.op_timeout = op_timeout
        self.stall_tolerance_s = stall_tolerance_s
        self.old_client_grace_s = old_client_grace_s
        self.token_provider = token_provider
        self.aclient: aredis.Redis | None = None
        self.sclient: redis.Redis | None = None
        self.dirty = False  # set on a fallback: the active clients are dropped by the probe loop
        self._background: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ clients
    def _client_kwargs(self, *, sync: bool) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "host": self.conn.host,
            "port": self.conn.port,
            "db": self.conn.db,
            "ssl": self.conn.ssl,
            # async: all timing is our own deadline (its lateness is measurable, see bounded());
            # sync: real socket timeouts (a blocked event loop does not affect them)
            "socket_timeout": self.socket_timeout if sync else _ASYNC_SOCKET_SAFETY_TIMEOUT_S,
            "socket_connect_timeout": self.connect_timeout if sync else _ASYNC_SOCKET_SAFETY_TIMEOUT_S,
            "health_check_interval": 0,
            "decode_responses": False,
        }
        if self.token_provider is not None:
            kw["credential_provider"] = self.token_provider
        else:
            if self.conn.username:
                kw["username"] = self.conn.username
            if self.conn.password:
                kw["password"] = self.conn.password
        return kw

    def new_async_client(self) -> aredis.Redis:
        return aredis.Redis(retry=AsyncRetry(NoBackoff(), 0), **self._client_kwargs(sync=False))

    def new_sync_client(self) -> redis.Redis:
        return redis.Redis(retry=SyncRetry(NoBackoff(), 0), **self._client_kwargs(sync=True))

    @staticmethod
    async def close_clients(aclient: aredis.Redis | None, sclient: redis.Redis | None) -> None:
        """Close both (either may be None); bounded, never raises except for cancellation."""
        if aclient is not None:
            try:
                async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                    await aclient.aclose()
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # noqa: BLE001 - a close that fails leaves nothing to clean up
                logger.debug("closing a Redis async client failed: %s", type(exc).__name__)
        if sclient is not None:
            try:
                sclient.close()
            except Exception as exc:  # noqa: BLE001 - same
                logger.debug("closing a Redis sync client failed: %s", type(exc).__name__)

    def close_in_background(self, aclient: aredis.Redis | None, sclient: redis.Redis | None, delay: float) -> None:
        """Close the given clients after `delay` seconds in a task on the running loop."""
        if aclient is None and sclient is None:
            return

        async def close_later() -> None:
            if delay:
                await asyncio.sleep(delay)
            await self.close_clients(aclient, sclient)

        task = asyncio.get_running_loop().create_task(close_later())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def drop(self) -> None:
        """Forget the active clients and close them in the background: the next probe connects afresh."""
        self.dirty = False
        aclient, self.aclient = self.aclient, None
        sclient, self.sclient = self.sclient, None
        self.close_in_background(aclient, sclient, 0.0)

    def forget_async_client(self) -> None:
        """The async client belongs to an event loop we left: drop it without awaiting its close."""
        self.aclient = None

    async def close(self, *, async_client_usable: bool) -> None:
        """Close the active clients now (the async one only if it belongs to the running loop)."""
        aclient, self.aclient = self.aclient, None
        sclient, self.sclient = self.sclient, None
        await self.close_clients(aclient if async_client_usable else None, sclient)

    def rotate(self) -> None:
        """A new Entra token: new connections AUTH with it; old clients are closed after a grace period."""
        old_a, old_s = self.aclient, self.sclient
        self.aclient = self.new_async_client()
        self.sclient = self.new_sync_client()
        logger.info("Redis Entra ID token refreshed; new connections to %s use the new token", self.conn.address)
        self.close_in_background(old_a, old_s, self.old_client_grace_s)

    # ------------------------------------------------------------------ bounded calls
    def describe(self, exc: BaseException) -> str:
        """`Type: message` of an error, at most 500 chars, with the password and token masked."""
        if isinstance(exc, TimeoutError) and str(exc) == "":
            text = f"TimeoutError: no reply within {self.op_timeout:.2f}s"
        else:
            text = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
        secrets = [s for s in (self.conn.password,) if s]
        if self.token_provider is not None and self.token_provider.token:
            secrets.append(self.token_provider.token)
        for secret in secrets:
            text = text.replace(secret, "***")
        return text[:500]

    async def bounded(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run one Redis call under op_timeout. Raises TimeoutError if Redis did not answer in time,
        LoopStalled if the deadline fired late because the event loop was blocked."""
        loop = asyncio.get_running_loop()
        cm = asyncio.timeout(self.op_timeout)
        try:
            async with cm:
                return await call()
        except TimeoutError:
            deadline = cm.when()
            late = loop.time() - deadline if deadline is not None else 0.0
            if late > self.stall_tolerance_s:
                raise LoopStalled(f"deadline fired {late:.2f}s late (event loop blocked)") from None
            raise

    async def op(self, client: aredis.Redis, call: Callable[[aredis.Redis], Awaitable[T]]) -> T:
        """One Redis operation under the deadline. A connection error retries once, within the same
        deadline, after dropping idle pooled connections: after a Redis restart the pool still holds
        sockets to the dead process, and only the first use of each one would fail."""

        async def attempt() -> T:
            try:
                return await call(client)
            except redis.exceptions.AuthenticationError:
                raise
            except redis.exceptions.ConnectionError:
                await client.connection_pool.disconnect(inuse_connections=False)
                return await call(client)

        return await self.bounded(attempt)

    # ------------------------------------------------------------------ probe
    async def ping(self, client: aredis.Redis, *, retry_fresh: bool) -> ProbeResult:
        """PING under the deadline. retry_fresh: a connection error retries once on a fresh connection
        (a pooled connection from before a Redis restart fails once)."""
        for attempt in (0, 1):
            try:
                await self.bounded(client.ping)
                return True, None
            except asyncio.CancelledError:
                raise
            except LoopStalled as exc:
                return None, str(exc)
            except (redis.exceptions.ConnectionError, ConnectionError) as exc:
                if attempt == 0 and retry_fresh and not isinstance(exc, redis.exceptions.AuthenticationError):
                    try:
                        async with asyncio.timeout(self.op_timeout):
                            await client.connection_pool.disconnect()
                    except Exception as reset_exc:  # noqa: BLE001 - the retry below reports what matters
                        logger.debug("Redis pool reset before the PING retry failed: %s", self.describe(reset_exc))
                    continue
                return False, self.describe(exc)
            except Exception as exc:  # noqa: BLE001 - TimeoutError, ResponseError (e.g. NOAUTH), ...
                return False, self.describe(exc)
        return False, "unreachable"

    async def probe(self, on_redis: Callable[[], bool]) -> ProbeResult:
        """One health check. on_redis: whether the cache currently serves from Redis (re-read after
        each await). While on memory, PING with a brand-new client that becomes the active one when it
        answers."""
        if self.token_provider is not None:
            try:
                refreshed = await self.token_provider.refresh_if_needed()
            except Exception as exc:  # noqa: BLE001 - reported as the probe verdict or a warning
                if self.token_provider.token is None or time.time() >= self.token_provider.expires_on:
                    return False, f"Entra ID token unavailable: {self.describe(exc)}"
                logger.warning(
                    "Redis Entra ID token refresh failed (current token still valid): %s", self.describe(exc)
                )
                refreshed = False
            if refreshed and on_redis() and self.aclient is not None:
                self.rotate()
        if on_redis() and self.aclient is not None:
            return await self.ping(self.aclient, retry_fresh=True)
        candidate = self.new_async_client()
        ok, reason = await self.ping(candidate, retry_fresh=False)
        if not ok:
            await self.close_clients(candidate, None)
            return ok, reason
        old_a, old_s = self.aclient, self.sclient
        self.aclient, self.sclient = candidate, self.new_sync_client()
        self.close_in_background(old_a, old_s, 0.0)
        return True, None
