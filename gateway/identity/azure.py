"""Per-deployment Azure identities for Azure OpenAI.

Why: LiteLLM's ``enable_azure_ad_token_refresh`` reads only process-wide env
(``AZURE_CLIENT_ID``), so every deployment would share one identity and a
per-deployment ``client_id`` is ignored (FACTS.md). What LiteLLM does honour
per deployment is an ``azure_ad_token_provider`` callable in
``litellm_params``. ``CredentialRegistry`` builds one azure-identity credential
per ``IdentitySpec`` and one cached provider per (spec, scope), and keeps both
across config applies: rebuilding them on every apply would throw away the
cached token (one IdP round trip per apply per identity) and give the provider
a new ``id()``, which also invalidates LiteLLM's cached OpenAI clients.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from azure.identity import ManagedIdentityCredential, WorkloadIdentityCredential

from gateway.identity.tokens import (
    DEFAULT_REFRESH_MARGIN_S,
    RefreshingToken,
    Token,
    TokenStats,
)

_LOG = logging.getLogger(__name__)

COGNITIVE_SERVICES_SCOPE = "https://cognitiveservices.azure.com/.default"

IdentityKind = Literal["managed_identity", "workload_identity", "system_assigned"]


@dataclass(frozen=True)
class IdentitySpec:
    """Which identity a deployment authenticates as; the cache key for credentials.

    ``managed_identity``: user-assigned managed identity ``client_id``.
    ``workload_identity``: AKS workload identity, federated token in ``token_file``.
    ``system_assigned``: the host's own identity (``ManagedIdentityCredential()``,
    which on an AKS workload-identity pod itself uses the pod's identity).
    """

    kind: IdentityKind
    client_id: str | None = None
    tenant_id: str | None = None
    token_file: str | None = None

    def __post_init__(self) -> None:
        if self.kind == "managed_identity" and not self.client_id:
            raise ValueError("managed_identity needs a client_id")
        if self.kind == "workload_identity" and not (self.client_id and self.tenant_id and self.token_file):
            raise ValueError("workload_identity needs client_id, tenant_id and token_file")
        if self.kind == "system_assigned" and (self.client_id or self.token_file):
            raise ValueError("system_assigned takes no client_id or token_file")

    def describe(self) -> str:
        """Human-readable, secret-free: ``managed_identity client_id=...``."""
        parts: list[str] = [self.kind]
        if self.client_id:
            parts.append(f"client_id={self.client_id}")
        if self.kind == "workload_identity":
            parts.append(f"tenant_id={self.tenant_id} token_file={self.token_file}")
        return " ".join(parts)


class _TokenInfoCredential(Protocol):
    def get_token_info(self, *scopes: str) -> Any: ...  # pragma: no cover - typing only

    def close(self) -> None: ...  # pragma: no cover - typing only


class AzureTokenProvider:
    """The ``azure_ad_token_provider`` callable for one (identity, scope): returns a cached bearer token.

    ``__slots__`` on purpose: LiteLLM's ``SensitiveDataMasker`` (used by the proxy's
    /model/info) serialises objects that have a ``__dict__`` by walking ``vars()``,
    which would reach the cached token; without one it masks ``str(provider)``.
    """

    __slots__ = ("_token", "scope", "spec")

    def __init__(self, spec: IdentitySpec, scope: str, token: RefreshingToken) -> None:
        self.spec = spec
        self.scope = scope
        self._token = token

    def __call__(self) -> str:
        return self._token.get()

    @property
    def stats(self) -> TokenStats:
        return self._token.stats

    def unavailable(self) -> bool:
        """True while this identity cannot produce a token (see ``RefreshingToken.unavailable``)."""
        return self._token.unavailable()

    def __copy__(self) -> AzureTokenProvider:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> AzureTokenProvider:
        """LiteLLM's Router deep-copies its model_list; a copy would lose the shared cache (and has locks)."""
        return self

    def __repr__(self) -> str:  # LiteLLM logs it and hashes it into the deployment id: stable, no token
        return f"AzureTokenProvider({self.spec.describe()}, scope={self.scope})"


class CredentialRegistry:
    """Builds and caches one credential per ``IdentitySpec`` and one provider per (spec, scope).

    ``entra_kwargs`` go only to credentials that talk to an Entra authority
    (workload identity), e.g. ``authority=`` or ``disable_instance_discovery=True``
    for a private or test authority host; the authority otherwise comes from
    ``AZURE_AUTHORITY_HOST`` as azure-identity reads it.
    """

    def __init__(
        self,
        *,
        refresh_margin_s: float = DEFAULT_REFRESH_MARGIN_S,
        entra_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self._margin = refresh_margin_s
        self._entra_kwargs = dict(entra_kwargs or {})
        self._lock = threading.Lock()
        self._credentials: dict[IdentitySpec, _TokenInfoCredential] = {}
        self._providers: dict[tuple[IdentitySpec, str], AzureTokenProvider] = {}

    def credential(self, spec: IdentitySpec) -> _TokenInfoCredential:
        """The one credential object for ``spec``, built on first use."""
        with self._lock:
            credential = self._credentials.get(spec)
            if credential is None:
                credential = self._build(spec)
                self._credentials[spec] = credential
                _LOG.info("built Azure credential for %s", spec.describe())
            return credential

    def token_provider(self, spec: IdentitySpec, scope: str = COGNITIVE_SERVICES_SCOPE) -> AzureTokenProvider:
        """The one cached provider for ``spec`` and ``scope``; the same object on every call."""
        key = (spec, scope)
        with self._lock:
            provider = self._providers.get(key)
        if provider is not None:
            return provider
        credential = self.credential(spec)

        def fetch() -> Token:
            info = credential.get_token_info(scope)
            return Token(info.token, float(info.expires_on), _float_or_none(getattr(info, "refresh_on", None)))

        with self._lock:
            provider = self._providers.get(key)
            if provider is None:
                token = RefreshingToken(fetch, name=f"Azure {spec.describe()} scope={scope}", refresh_margin_s=self._margin)
                provider = AzureTokenProvider(spec, scope, token)
                self._providers[key] = provider
            return provider

    @property
    def stats(self) -> dict[tuple[IdentitySpec, str], TokenStats]:
        """Fetch counters per (spec, scope), for tests, metrics and health."""
        with self._lock:
            return {key: provider.stats for key, provider in self._providers.items()}

    def prefetch(self, specs: Iterable[IdentitySpec] | None = None) -> dict[str, str]:
        """Fetch the tokens of ``specs`` (default: all) now, from a worker thread before a config goes live,
        so the first request does not fetch on the event loop. Returns ``{identity: error}``; never raises."""
        wanted = None if specs is None else set(specs)
        with self._lock:
            targets = [p for (spec, _), p in self._providers.items() if wanted is None or spec in wanted]
        failures: dict[str, str] = {}
        for provider in targets:
            try:
                provider()
            except Exception as exc:  # noqa: BLE001 - reported to the caller, who decides whether to log or fail
                failures[provider.spec.describe()] = getattr(exc, "detail", None) or str(exc)
        return failures

    def close(self) -> None:
        """Close every credential's transport; the registry must not be used afterwards."""
        with self._lock:
            credentials = list(self._credentials.values())
            self._credentials.clear()
            self._providers.clear()
        for credential in credentials:
            try:
                credential.close()
            except Exception:  # noqa: BLE001 - closing is best effort at shutdown
                _LOG.debug("closing credential failed", exc_info=True)

    def _build(self, spec: IdentitySpec) -> _TokenInfoCredential:
        if spec.kind == "managed_identity":
            return ManagedIdentityCredential(client_id=spec.client_id)
        if spec.kind == "workload_identity":
            return WorkloadIdentityCredential(
                tenant_id=spec.tenant_id,
                client_id=spec.client_id,
                token_file_path=spec.token_file,
                **self._entra_kwargs,
            )
        return ManagedIdentityCredential()


def _float_or_none(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None
