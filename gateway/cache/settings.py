"""Redis connection settings for the response cache: a plain value, no I/O.

`RedisConnection` is what the rest of `gateway.cache` needs to reach one Redis
(Azure Managed Redis or Azure Cache for Redis in production, a local redis-server in tests). It never
opens a socket; `FailoverCache` does that in the background.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, cast
from urllib.parse import unquote, urlparse

from gateway.settings import default_redis_port, redis_tls_by_default

AuthType = Literal["PASSWORD", "MI", "NONE"]
AUTH_TYPES: tuple[AuthType, ...] = ("PASSWORD", "MI", "NONE")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _parse_bool(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{name}: expected a boolean (true/false), got {value!r}")


@dataclass(frozen=True, repr=False)
class RedisConnection:
    """Where and how to reach one Redis. Immutable; equality compares every field (password included).

    port defaults to 10000 for Azure Managed Redis (`*.redis.azure.net`), else 6380 when ssl and
    6379 without. auth:
      * "PASSWORD" - AUTH with `password` (and `username` for an ACL user).
      * "MI"       - Entra ID token for Azure Managed Redis / Azure Cache for Redis from a managed identity
                     (`mi_client_id` = user-assigned identity's client id, None = system-assigned);
                     `username` = the identity's object id (REDIS_USERNAME), or taken from the
                     token's `oid` claim when unset.
      * "NONE"     - no AUTH.
    """

    host: str
    port: int | None = None
    ssl: bool = False
    auth: AuthType = "NONE"
    password: str | None = None
    username: str | None = None
    mi_client_id: str | None = None
    db: int = 0

    def __post_init__(self) -> None:
        host = (self.host or "").strip()
        if not host:
            raise ValueError("RedisConnection.host must not be empty")
        object.__setattr__(self, "host", host)
        auth = str(self.auth or "NONE").strip().upper()
        if auth not in AUTH_TYPES:
            raise ValueError(f"RedisConnection.auth must be one of {', '.join(AUTH_TYPES)}; got {self.auth!r}")
        object.__setattr__(self, "auth", auth)
        port = self.port
        if port is None or port == "":
            port = default_redis_port(host, bool(self.ssl))
        try:
            port = int(port)
        except (TypeError, ValueError):
            raise ValueError(f"RedisConnection.port must be an integer; got {self.port!r}") from None
        if not 0 < port < 65536:
            raise ValueError(f"RedisConnection.port out of range: {port}")
        object.__setattr__(self, "port", port)
        object.__setattr__(self, "db", int(self.db or 0))
        if auth == "PASSWORD" and not self.password:
            raise ValueError("RedisConnection: auth PASSWORD needs a password")
        if auth != "PASSWORD" and self.password:
            raise ValueError(f"RedisConnection: a password was given but auth is {auth}; use auth='PASSWORD'")
        if auth != "MI" and self.mi_client_id:
            raise ValueError(f"RedisConnection: mi_client_id is only used with auth='MI' (auth is {auth})")

    # --- never show the password -------------------------------------------------
    def __repr__(self) -> str:
        pw = "'***'" if self.password else "None"
        return (
            f"RedisConnection(host={self.host!r}, port={self.port!r}, ssl={self.ssl!r}, auth={self.auth!r}, "
            f"password={pw}, username={self.username!r}, mi_client_id={self.mi_client_id!r}, db={self.db!r})"
        )

    __str__ = __repr__

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    # --- constructors from configuration -------------------------------------------
    @classmethod
    def from_cache_params(cls, cache_params: Mapping[str, object]) -> RedisConnection | None:
        """Build from LiteLLM `litellm_settings.cache_params` (host/port/password/username/ssl/db, or url
        redis[s]://[user:password@]host:port[/db]); None when no host/url is given.

        `redis_auth_type` / `redis_mi_client_id` (our own keys) select MI auth.
        """
        url = cache_params.get("url")
        host = cache_params.get("host")
        port: object = cache_params.get("port")
        password = cache_params.get("password")
        username = cache_params.get("username")
        ssl_raw = cache_params.get("ssl")
        db: object = cache_params.get("db") or 0
        if url:
            parsed = urlparse(str(url))
            if parsed.scheme not in ("redis", "rediss"):
                raise ValueError("cache_params.url must start with redis:// or rediss://")
            host = host or parsed.hostname
            port = port or parsed.port
            password = password or (unquote(parsed.password) if parsed.password else None)
            username = username or (unquote(parsed.username) if parsed.username else None)
            if ssl_raw is None:
                ssl_raw = parsed.scheme == "rediss"
            if parsed.path.strip("/").isdigit():
                db = int(parsed.path.strip("/"))
        if not host:
            return None
        host_s = str(host).strip()
        ssl = _parse_bool("cache_params.ssl", ssl_raw) if ssl_raw not in (None, "") else redis_tls_by_default(host_s)
        auth = str(cache_params.get("redis_auth_type") or "").strip().upper() or ("PASSWORD" if password else "NONE")
        return cls(
            host=host_s,
            port=cast(int | None, port),
            ssl=ssl,
            auth=cast(AuthType, auth),
            password=str(password) if password and auth == "PASSWORD" else None,
            username=str(username) if username else None,
            mi_client_id=(str(cache_params.get("redis_mi_client_id") or "") or None) if auth == "MI" else None,
            db=int(cast(int, db)),
        )
