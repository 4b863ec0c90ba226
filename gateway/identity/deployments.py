"""The applier's view of identities: one registry per worker, bound on every apply.

Credentials and token caches live as long as the worker, so an apply never
creates a new credential for an identity it has seen (and never refetches a
token that is still fresh). Binding happens in the applier's worker thread,
before the Router is built; tokens are prefetched there too, so the first
request after an apply does not wait for one.
"""

from __future__ import annotations

import logging
from typing import Any

from gateway.identity.azure import CredentialRegistry
from gateway.identity.binding import DeploymentIdentity, bind_identities
from gateway.identity.databricks import DatabricksTokenCache

log = logging.getLogger(__name__)


class DeploymentIdentities:
    def __init__(self) -> None:
        from gateway.identity.hook import DatabricksAuthHook

        self.registry = CredentialRegistry()
        self.databricks = DatabricksTokenCache()
        self.hook = DatabricksAuthHook(self.databricks)
        self.bound: tuple[DeploymentIdentity, ...] = ()
        self.databricks_keys: frozenset[str] = frozenset()
        self.prefetch_failures: dict[str, str] = {}

    def bind(self, model_list: list[dict[str, Any]], litellm_settings: dict[str, Any]) -> list[dict[str, Any]]:
        """Attach token providers; raises ``IdentityBindingError`` (a rejection) naming each bad deployment."""
        bound = bind_identities(model_list, self.registry, self.databricks, litellm_settings=litellm_settings)
        failures = {**self.registry.prefetch(bound.azure_specs), **self.databricks.prefetch(bound.databricks_keys)}
        self.prefetch_failures = {str(k): str(v) for k, v in failures.items()}
        for identity, error in self.prefetch_failures.items():
            log.warning("token prefetch for %s failed (requests will retry and fail over): %s", identity, error)
        for warning in bound.warnings:
            log.warning("identity: %s", warning)
        self.bound = bound.identities
        self.databricks_keys = bound.databricks_keys
        return bound.model_list

    def callbacks(self) -> tuple[Any, ...]:
        """The LiteLLM hooks the last bound config needs: the Databricks token hook, if any deployment uses it."""
        return (self.hook,) if self.databricks_keys else ()

    def describe(self) -> list[dict[str, Any]]:
        """Which identity each deployment uses, for /health/config; no secrets, no tokens."""
        return [identity.as_dict() for identity in self.bound]
