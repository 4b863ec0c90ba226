"""Entra ID (managed identity) tokens as Redis AUTH credentials for Azure Cache for Redis.

Azure Cache for Redis with Entra auth: AUTH <object id of the identity> <access token for
scope https://redis.azure.com/.default>. Tokens expire; `FailoverCache` calls
`refresh_if_needed()` from its background probe loop and, when a new token arrives, replaces its
connection pools so every new connection AUTHs with the fresh token (old pools are closed after
a grace period). The request path only ever reads the cached token (`get_credentials`), it never
waits for the identity endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from redis.credentials import CredentialProvider

REDIS_ENTRA_SCOPE = "https://redis.azure.com/.default"


class TokenCredential(Protocol):
    """Anything with azure-core's `get_token(*scopes)` returning an object with `.token` and `.expires_on`
    (sync, like azure.identity.ManagedIdentityCredential, or async like azure.identity.aio's)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any: ...


def managed_identity_credential(client_id: str | None) -> TokenCredential:
    """azure-identity ManagedIdentityCredential for a user-assigned identity (client_id) or the system one.

    Constructing it does no network I/O; the first token request does.
    """
    from azure.identity import ManagedIdentityCredential

    if client_id:
        return ManagedIdentityCredential(client_id=client_id)
    return ManagedIdentityCredential()


def object_id_from_token(token: str) -> str | None:
    """The `oid` claim of a JWT access token (not verified: used only as the AUTH username), or None."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload.encode()))
        oid = claims.get("oid")
        return str(oid) if oid else None
    except Exception:  # noqa: BLE001 - not a JWT (e.g. a test token): caller decides
        return None


class EntraTokenCredentialProvider(CredentialProvider):
    """redis-py CredentialProvider returning (username, current Entra access token).

    `refresh_if_needed()` (async, called off the request path) fetches a token when there is
    none or the current one is within `refresh_margin_s` of expiry (capped to half the token's
    lifetime, so short-lived test tokens also refresh before they expire).
    """

    def __init__(
        self,
        credential: TokenCredential,
        username: str | None = None,
        *,
        scope: str = REDIS_ENTRA_SCOPE,
        refresh_margin_s: float = 300.0,
        fetch_timeout_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credential = credential
        self._explicit_username = username
        self.scope = scope
        self.refresh_margin_s = refresh_margin_s
        self.fetch_timeout_s = fetch_timeout_s
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._username: str | None = username
        self._expires_on: float = 0.0
        self._obtained_at: float = 0.0
        self.refresh_count = 0

    # --- state -------------------------------------------------------------------
    @property
    def token(self) -> str | None:
        return self._token

    @property
    def username(self) -> str | None:
        return self._username

    @property
    def expires_on(self) -> float:
        return self._expires_on

    def needs_refresh(self) -> bool:
        with self._lock:
            if self._token is None:
                return True
            lifetime = max(self._expires_on - self._obtained_at, 0.0)
            margin = min(self.refresh_margin_s, lifetime / 2)
            return self._clock() >= self._expires_on - margin

    # --- fetching ----------------------------------------------------------------
    def _store(self, access_token: Any) -> None:
        token = getattr(access_token, "token", None)
        expires_on = getattr(access_token, "expires_on", None)
        if not token or expires_on is None:
            raise ValueError("credential.get_token returned no token/expires_on")
        username = self._explicit_username or object_id_from_token(token)
        if not username:
            raise ValueError(
                "Redis MI auth needs the managed identity's object id as username "
                "(set REDIS_USERNAME); the token carries no 'oid' claim"
            )
        with self._lock:
            self._token = str(token)
            self._expires_on = float(expires_on)
            self._obtained_at = self._clock()
            self._username = username
            self.refresh_count += 1

    def refresh_sync(self) -> None:
        """Fetch a new token now (blocking). Raises on failure."""
        result = self._credential.get_token(self.scope)
        if inspect.isawaitable(result):
            raise TypeError("an async credential needs refresh_if_needed() (async)")
        self._store(result)

    async def refresh_if_needed(self) -> bool:
        """Fetch a new token when needed; True if a new token was stored. Raises on failure."""
        if not self.needs_refresh():
            return False
        get_token = self._credential.get_token
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
        async with asyncio.timeout(self.fetch_timeout_s):
            if inspect.iscoroutinefunction(get_token):
                result = await get_token(self.scope)
            else:
                # sync azure-identity credentials do HTTP (IMDS): keep it off the event loop
                result = await asyncio.to_thread(get_token, self.scope)
                if inspect.isawaitable(result):
                    result = await result
        self._store(result)
        return True

    # --- redis-py interface --------------------------------------------------------
    def get_credentials(self) -> tuple[str, str]:
        with self._lock:
            if self._token is None or self._username is None:
                raise ConnectionError("no Entra ID token for Redis yet")
            return (self._username, self._token)

    async def get_credentials_async(self) -> tuple[str, str]:
        return self.get_credentials()

    def __repr__(self) -> str:
        return (
            f"EntraTokenCredentialProvider(username={self._username!r}, scope={self.scope!r}, "
            f"token={'***' if self._token else None}, expires_on={self._expires_on})"
        )
