"""Databricks service-principal tokens, one cached token per deployment credential.

Why: LiteLLM reads Databricks OAuth M2M credentials only from the process env
(``DATABRICKS_CLIENT_ID/SECRET``), fetches a new token on every request and
cannot get Entra tokens without databricks-sdk (FACTS.md). A per-deployment
``client_id``/``client_secret`` in ``litellm_params`` is ignored. This module
turns such a pair into a cached token:

* with ``tenant_id``: an Entra ID token for the Azure Databricks resource via
  ``ClientSecretCredential`` (authority from ``AZURE_AUTHORITY_HOST``);
* without ``tenant_id``: Databricks OAuth M2M, ``POST <workspace>/oidc/v1/token``
  with HTTP basic auth, ``grant_type=client_credentials``, ``scope=all-apis``.

The token reaches LiteLLM as the request's ``api_key`` through
``gateway.identity.hook.DatabricksAuthHook``; this module does not import LiteLLM.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import httpx
from azure.identity import ClientSecretCredential

from gateway.identity.tokens import (
    DEFAULT_REFRESH_MARGIN_S,
    RefreshingToken,
    Token,
    TokenFetchError,
    TokenStats,
)

AZURE_DATABRICKS_SCOPE = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default"
"""The Azure Databricks first-party application; Entra tokens for it are accepted by every workspace."""

DatabricksFlow = Literal["entra", "m2m"]

MODEL_INFO_MARKER = "gateway_databricks_identity"
"""``model_info`` key holding a ``DatabricksCredential.key`` (secret-free, visible in /model/info).
Written by ``bind_identities``, read by ``DatabricksAuthHook``."""


@dataclass(frozen=True)
class DatabricksCredential:
    """A service principal as one deployment configures it. ``repr`` hides the secret."""

    client_id: str
    client_secret: str = field(repr=False)
    tenant_id: str | None
    workspace_url: str

    @property
    def flow(self) -> DatabricksFlow:
        return "entra" if self.tenant_id else "m2m"

    @property
    def key(self) -> str:
        """Stable, secret-free handle: a hash over every field, so a rotated secret is a new token source."""
        material = "\0".join((self.client_id, self.client_secret, self.tenant_id or "", self.workspace_url))
        return "dbx-" + hashlib.sha256(material.encode()).hexdigest()[:24]

    def describe(self) -> str:
        where = f"tenant_id={self.tenant_id}" if self.tenant_id else f"workspace={self.workspace_url}"
        return f"databricks_{self.flow} client_id={self.client_id} {where}"


def workspace_url(api_base: str) -> str:
    """``https://host/serving-endpoints`` -> ``https://host``: where ``/oidc/v1/token`` lives."""
    parts = urlsplit(api_base)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"api_base {api_base!r} is not an absolute URL")
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


class DatabricksTokenCache:
    """Token sources keyed by ``DatabricksCredential.key``; survives config applies.

    ``register`` is idempotent, so re-applying an unchanged config keeps the cached
    token. Sources of credentials no longer configured stay until ``prune`` (call it
    after the previous router is retired, so its in-flight requests still find theirs).
    """

    def __init__(
        self,
        *,
        refresh_margin_s: float = DEFAULT_REFRESH_MARGIN_S,
        http_timeout_s: float = 10.0,
        entra_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self._margin = refresh_margin_s
        self._timeout = http_timeout_s
        self._entra_kwargs = dict(entra_kwargs or {})
        self._lock = threading.Lock()
        self._sources: dict[str, tuple[DatabricksCredential, RefreshingToken]] = {}
        self._closers: dict[str, Any] = {}

    def register(self, credential: DatabricksCredential) -> str:
        """Make ``credential`` fetchable by its key (no network); returns the key."""
        key = credential.key
        with self._lock:
            if key not in self._sources:
                fetch, closer = self._fetcher(credential)
                token = RefreshingToken(fetch, name=credential.describe(), refresh_margin_s=self._margin)
                self._sources[key] = (credential, token)
                self._closers[key] = closer
        return key

    def get_token(self, key: str) -> str:
        """A valid token for ``key``; may fetch inline (blocking)."""
        return self._source(key).get()

    async def aget_token(self, key: str) -> str:
        """A valid token without blocking the event loop: cached ones directly, fetches in a thread."""
        source = self._source(key)
        cached = source.peek()
        if cached is not None:
            return cached
        return await asyncio.to_thread(source.get)

    def unavailable(self, key: str) -> bool:
        """True while ``key``'s token source cannot produce a token (unknown keys count as unavailable)."""
        with self._lock:
            entry = self._sources.get(key)
        return entry is None or entry[1].unavailable()

    def describe(self, key: str) -> str:
        return self._sources[key][0].describe() if key in self._sources else f"unknown Databricks identity {key}"

    @property
    def stats(self) -> dict[str, TokenStats]:
        """Fetch counters per credential key."""
        with self._lock:
            return {key: token.stats for key, (_cred, token) in self._sources.items()}

    def stats_for(self, credential: DatabricksCredential) -> TokenStats:
        return self._source(credential.key).stats

    def keys(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._sources)

    def prefetch(self, keys: Iterable[str] | None = None) -> dict[str, str]:
        """Fetch tokens now (call from a worker thread); returns ``{identity: error}``, never raises."""
        failures: dict[str, str] = {}
        for key in list(keys) if keys is not None else list(self.keys()):
            try:
                self.get_token(key)
            except Exception as exc:  # noqa: BLE001 - reported, not raised: a config apply decides what to do
                failures[self.describe(key)] = getattr(exc, "detail", None) or str(exc)
        return failures

    def prune(self, keep: Iterable[str]) -> None:
        """Forget every source not in ``keep`` (and its secret)."""
        keep_set = set(keep)
        with self._lock:
            dropped = [key for key in self._sources if key not in keep_set]
            closers = [self._closers.pop(key, None) for key in dropped]
            for key in dropped:
                del self._sources[key]
        for closer in closers:
            if closer is not None:
                closer.close()

    def close(self) -> None:
        self.prune(())

    def _source(self, key: str) -> RefreshingToken:
        with self._lock:
            entry = self._sources.get(key)
        if entry is None:
            raise TokenFetchError(f"Databricks identity {key} is not registered (config changed under the request?)")
        return entry[1]

    def _fetcher(self, credential: DatabricksCredential) -> tuple[Any, Any]:
        if credential.flow == "entra":
            assert credential.tenant_id is not None
            entra = ClientSecretCredential(
                credential.tenant_id, credential.client_id, credential.client_secret, **self._entra_kwargs
            )

            def fetch_entra() -> Token:
                info = entra.get_token_info(AZURE_DATABRICKS_SCOPE)
                refresh_on = getattr(info, "refresh_on", None)
                return Token(info.token, float(info.expires_on), float(refresh_on) if refresh_on else None)

            return fetch_entra, entra

        client = httpx.Client(timeout=self._timeout)
        token_url = f"{credential.workspace_url}/oidc/v1/token"

        def fetch_m2m() -> Token:
            started = time.time()
            response = client.post(
                token_url,
                data={"grant_type": "client_credentials", "scope": "all-apis"},
                auth=(credential.client_id, credential.client_secret),
                headers={"Accept": "application/json"},
            )
            if response.status_code != 200:
                raise TokenFetchError(f"{token_url} answered HTTP {response.status_code}{_oauth_error(response)}")
            payload = response.json()
            access_token = payload.get("access_token")
            if not isinstance(access_token, str) or not access_token:
                raise TokenFetchError(f"{token_url} answered without an access_token")
            return Token(access_token, started + float(payload.get("expires_in", 3600)))

        return fetch_m2m, client


def _oauth_error(response: httpx.Response) -> str:
    """The OAuth ``error`` code only: descriptions may echo request data."""
    try:
        code = response.json().get("error")
    except ValueError:
        return ""
    return f" ({code})" if isinstance(code, str) and len(code) < 80 else ""
