"""The LiteLLM callback that puts a Databricks service principal's token on each request.

Why a ``CustomLogger.async_pre_call_deployment_hook``: in litellm 1.108.7 it
runs inside ``litellm.acompletion``/``aembedding`` (``utils.py``
``wrapper_async`` -> ``async_pre_call_deployment_hook``) after the Router has
picked the deployment and copied its ``model_info`` into the call's kwargs,
and before credentials are resolved, so setting ``kwargs["api_key"]`` there
authenticates exactly that deployment. Only ``litellm.callbacks`` is scanned
for it, and only on the async path (the proxy's).

Deployments are recognised by a marker that ``bind_identities`` writes into
their ``model_info`` (not ``litellm_params``: unknown params can end up in the
provider request body). This module imports LiteLLM; the rest of the package
does not.
"""

from __future__ import annotations

from typing import Any

import litellm
from litellm.integrations.custom_logger import CustomLogger

from gateway.identity.databricks import MODEL_INFO_MARKER, DatabricksTokenCache
from gateway.identity.tokens import TokenFetchError

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
            # A 401 makes the Router cool this deployment down at once and retry the
            # request on another deployment of the group (cooldown_handlers._is_cooldown_required).
            raise litellm.AuthenticationError(
                message=f"gateway could not get a token for this deployment: {exc}",
                llm_provider="databricks",
                model=str(kwargs.get("model", "")),
            ) from exc
        return kwargs


def register_hook(hook: CustomLogger) -> None:
    """Put ``hook`` in ``litellm.callbacks`` once; call after every config apply (LiteLLM rebuilds that list)."""
    if not any(existing is hook for existing in litellm.callbacks):
        litellm.callbacks.append(hook)


def unregister_hook(hook: CustomLogger) -> None:
    """Remove ``hook`` from ``litellm.callbacks`` (shutdown, tests)."""
    litellm.callbacks[:] = [existing for existing in litellm.callbacks if existing is not hook]
