"""LiteLLM response cache with Redis -> in-memory failover.

Public API:
    RedisConnection(host, port=6379|6380, ssl=False, auth="NONE"|"PASSWORD"|"MI", password, username, mi_client_id, db=0)
    RedisConnection.from_cache_params(cache_params)   (the environment is read by gateway.settings)
    build_response_cache(conn, cache_params, *, reuse=None, **failover_options) -> litellm.Cache   (no I/O)
    await start_response_cache(cache)        # starts the background probe; returns at once
    await stop_response_cache(cache, keep=None)
    cache_status(cache) -> dict
    FailoverCache (the litellm BaseCache backend), EntraTokenCredentialProvider

On every config apply (the applier owns litellm.cache and the Router):
    conn = redis_connection(settings.redis)                            # or None (gateway.cache.responses)
    new = await asyncio.to_thread(build_response_cache, conn, cache_params, reuse=litellm.cache)
    await start_response_cache(new)                                    # event loop
    litellm.cache = new                                                # before building the Router
    router.cache_responses = True                                      # Router passes caching=... per call
    await stop_response_cache(old, keep=new)
Do not give the Router redis_host/redis_port and do not let the proxy's load_config build the cache
(`litellm_settings.cache: true`): both create litellm's plain RedisCache, which blocks on a dead Redis.
"""

from .credentials import (
    REDIS_ENTRA_SCOPE,
    EntraTokenCredentialProvider,
    managed_identity_credential,
)
from .factory import (
    build_response_cache,
    cache_status,
    failover_backend,
    start_response_cache,
    stop_response_cache,
)
from .failover import BACKEND_MEMORY, BACKEND_REDIS, FailoverCache
from .settings import AuthType, RedisConnection

__all__ = [
    "BACKEND_MEMORY",
    "BACKEND_REDIS",
    "REDIS_ENTRA_SCOPE",
    "AuthType",
    "EntraTokenCredentialProvider",
    "FailoverCache",
    "RedisConnection",
    "build_response_cache",
    "cache_status",
    "failover_backend",
    "managed_identity_credential",
    "start_response_cache",
    "stop_response_cache",
]
