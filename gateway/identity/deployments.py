"""The applier's view of identities: one registry per worker, bound on every apply.

Credentials and token caches live as long as the worker, so an apply never
creates a new credential for an identity it has seen (and never refetches a
token that is still fresh). Binding happens in the applier's worker thread,
before the Router is built; tokens are prefetched there too, so the first
request after an apply does not wait for one. ``describe()`` is what
``/health/config`` shows per deployment: its identity, where its credential
comes from, and whether its token source works right now (or since when not).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from gateway.identity.azure import CredentialRegistry, IdentitySpec
from gateway.identity.binding import DeploymentIdentity, bind_identities
from gateway.identity.databricks import DatabricksTokenCache
from gateway.identity.tokens import TokenStats

log = logging.getLogger(__name__)


class DeploymentIdentities:
    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        from gateway.identity.hook import DatabricksAuthHook

        #: The replica's environment snapshot (before process_env.hide()): identity defaults and warnings.
        self.env = dict(os.environ if env is None else env)
        self.registry = CredentialRegistry()
        self.databricks = DatabricksTokenCache()
        self.hook = DatabricksAuthHook(self.databricks)
        self.bound: tuple[DeploymentIdentity, ...] = ()
        self.databricks_keys: frozenset[str] = frozenset()
        self.azure_bound = False
        self.prefetch_failures: dict[str, str] = {}

    def bind(self, model_list: list[dict[str, Any]], litellm_settings: dict[str, Any]) -> list[dict[str, Any]]:
        """Attach token providers; raises ``IdentityBindingError`` (a rejection) naming each bad deployment."""
        bound = bind_identities(
            model_list, self.registry, self.databricks, litellm_settings=litellm_settings, environ=self.env
        )
        failures = {**self.registry.prefetch(bound.azure_specs), **self.databricks.prefetch(bound.databricks_keys)}
        self.prefetch_failures = {str(k): str(v) for k, v in failures.items()}
        for identity, error in self.prefetch_failures.items():
            log.warning("token prefetch for %s failed (requests will retry and fail over): %s", identity, error)
        for warning in bound.warnings:
            log.warning("identity: %s", warning)
        self.bound = bound.identities
        self.databricks_keys = bound.databricks_keys
        self.azure_bound = bool(bound.azure_specs)
        return bound.model_list

    def callbacks(self) -> tuple[Any, ...]:
        """The LiteLLM hooks the last bound config needs: the identity hook, if any deployment is bound to one
        (it sets Databricks tokens and keeps requests off deployments whose identity is failing)."""
        return (self.hook,) if self.databricks_keys or self.azure_bound else ()

    def describe(self) -> list[dict[str, Any]]:
        """Per deployment: identity, credential source and token state, for /health/config; no secrets, no tokens."""
        azure = self.registry.stats
        databricks = self.databricks.stats
        out = []
        for identity in self.bound:
            body = identity.as_dict()
            source = identity.source
            if isinstance(source, IdentitySpec):
                stats = next((s for (spec, _scope), s in azure.items() if spec == source), None)
                body["state"] = _state(stats)
            elif isinstance(source, str) and identity.kind.startswith("databricks"):
                body["state"] = _state(databricks.get(source))
            out.append(body)
        return out


def _state(stats: TokenStats | None) -> dict[str, Any]:
    """``ok`` (a token was fetched and the last fetch worked), ``error`` with the reason and since when, or ``pending``."""
    if stats is None or (stats.fetches == 0 and stats.failures == 0):
        return {"status": "pending"}
    if stats.failing_since is not None:
        return {"status": "error", "last_error": stats.last_error, "since": _iso(stats.failing_since)}
    return {"status": "ok", "token_expires_at": _iso(stats.expires_on) if stats.expires_on else None}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()
