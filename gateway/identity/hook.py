"""The LiteLLM callback that puts a Databricks service principal's token on each request.

Why a ``CustomLogger.async_pre_call_deployment_hook``: in litellm 1.108.7 it
runs inside ``litellm.acompletion``/``aembedding`` (``utils.py``
``wrapper_async`` -> ``async_pre_call_deployment_hook``) after the Router has
picked the deployment and copied its ``model_info`` into the call's kwargs,
and before credentials are resolved, so setting ``kwargs["api_key"]`` there
authenticates exactly that deployment. Only ``litellm.callbacks`` is scanned
for it, and only on the async path (the proxy's).

The same hook keeps requests away from a deployment whose identity cannot get a
token right now (``async_filter_deployments``, run by the Router each time it
picks a deployment, retries included): a failed token fetch answers 503, which
LiteLLM's Router does not cool down at once, so without the filter a retry could
pick the same broken deployment again while its group has a working one.

Deployments are recognised by a marker that ``bind_identities`` writes into
their ``model_info`` (not ``litellm_params``: unknown params can end up in the
provider request body). This module imports LiteLLM; the rest of the package
does not.
"""

from __future__ import annotations

import logging
from typing import Any

import litellm
from litellm.integrations.custom_logger import CustomLogger

from gateway.identity.databricks import MODEL_INFO_MARKER, DatabricksTokenCache
from gateway.identity.tokens import TokenFetchError

log = logging.getLogger(__name__)

__all__ = ["MODEL_INFO_MARKER", "DatabricksAuthHook", "register_hook", "unregister_hook"]


class DatabricksAuthHook(CustomLogger):
    """Sets ``api_key`` to the cached token of the deployment's service principal; others untouched."""

    def __init__(self, cache: DatabricksTokenCache) -> None:
        super().__init__()
        self.cache = cache

    async def async_pre_call_deployment_hook(self, kwargs: dict[str, Any], call_type: Any) -> dict[str, Any] | None:
        model_info = kwargs.get("model_info")
        key = model_info.get(MODEL_INFO_MARKER) if isinstance(model_info, dict) else None
        if not isinstance(key, str):
            return None
        try:
            kwargs["api_key"] = await self.cache.aget_token(key)
        except TokenFetchError as exc:
            # A 503 makes the Router cool this deployment down at once and retry the request on another
            # deployment of the group (cooldown_handlers._is_cooldown_required); when none is left the
            # caller gets an upstream-credential 503 naming no identity (exc.detail is for the operator).
            log.warning("Databricks token for %s unavailable: %s", self.cache.describe(key), exc.detail)
            raise litellm.ServiceUnavailableError(
                message=str(exc),
                llm_provider="databricks",
                model=str(kwargs.get("model", "")),
            ) from exc
        return kwargs

    async def async_filter_deployments(
        self,
        model: str,
        healthy_deployments: list,
        messages: Any,
        request_kwargs: dict | None = None,
        parent_otel_span: Any = None,
    ) -> list[dict]:
        """Drop deployments whose identity is failing, unless that would leave none (they then answer 503)."""
        usable = [d for d in healthy_deployments if not self._identity_unavailable(d)]
        return usable if usable else healthy_deployments

    def _identity_unavailable(self, deployment: Any) -> bool:
        if not isinstance(deployment, dict):
            return False
        params = deployment.get("litellm_params") or {}
        provider = params.get("azure_ad_token_provider") if isinstance(params, dict) else None
        if provider is not None and callable(getattr(provider, "unavailable", None)):
            return bool(provider.unavailable())
        model_info = deployment.get("model_info") or {}
        key = model_info.get(MODEL_INFO_MARKER) if isinstance(model_info, dict) else None
        return isinstance(key, str) and self.cache.unavailable(key)


def register_hook(hook: CustomLogger) -> None:
    """Put ``hook`` in ``litellm.callbacks`` once; call after every config apply (LiteLLM rebuilds that list)."""
    if not any(existing is hook for existing in litellm.callbacks):
        litellm.callbacks.append(hook)


def unregister_hook(hook: CustomLogger) -> None:
    """Remove ``hook`` from ``litellm.callbacks`` (shutdown, tests)."""
    litellm.callbacks[:] = [existing for existing in litellm.callbacks if existing is not hook]
