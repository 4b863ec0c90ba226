"""The response cache as the applier sees it: built per apply, Redis with instant memory fallback.

Two decisions live here rather than in the applier:

* which backend: Redis (through ``FailoverCache``) when the replica has REDIS_*
  settings and the config does not ask for ``type: local``; memory otherwise;
* when cached answers must not survive an apply: the cache namespace carries a
  fingerprint of the deployment set, so a changed deployment set starts from an
  empty cache on every replica at once (shared Redis included), while replicas
  with the same deployments keep sharing entries.
"""

from __future__ import annotations

from typing import Any

from gateway.cache.factory import (
    build_response_cache,
    cache_status,
    start_response_cache,
    stop_response_cache,
)
from gateway.cache.settings import RedisConnection
from gateway.settings import RedisSettings


def redis_connection(settings: RedisSettings | None) -> RedisConnection | None:
    if settings is None:
        return None
    # Only what the chosen auth uses: a leftover REDIS_PASSWORD beside REDIS_AUTH_TYPE=MI must not
    # stop the replica (RedisConnection refuses inconsistent combinations).
    return RedisConnection(
        host=settings.host,
        port=settings.port,
        ssl=settings.ssl,
        auth=settings.auth_type,
        password=settings.password.reveal() if settings.password and settings.auth_type == "PASSWORD" else None,
        username=settings.username,
        mi_client_id=settings.mi_client_id if settings.auth_type == "MI" else None,
    )


class ResponseCaches:
    def __init__(self, redis: RedisSettings | None = None) -> None:
        self.connection = redis_connection(redis)

    def build(self, cache_params: dict[str, Any], deployments_fingerprint: str, *, reuse: Any) -> Any:
        """Build the ``litellm.Cache`` for one apply; no network I/O (runs in the applier's thread)."""
        params = dict(cache_params)
        params["namespace"] = f"{params.get('namespace') or 'gateway'}:{deployments_fingerprint[:12]}"
        return build_response_cache(self.connection, params, reuse=reuse)

    async def activate(self, cache: Any) -> None:
        """Start the Redis health probe in the background; returns at once even if Redis is down."""
        await start_response_cache(cache)

    async def retire(self, old: Any, *, keep: Any) -> None:
        await stop_response_cache(old, keep=keep)

    @staticmethod
    def status() -> dict[str, Any]:
        import litellm

        return cache_status(litellm.cache)
