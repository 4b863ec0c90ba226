"""LiteLLM's ``GET /health`` authenticates each deployment exactly as a request would.

Why: the proxy's health check calls ``litellm.ahealth_check(litellm_params)``
directly, bypassing the Router and the ``async_pre_call_deployment_hook`` of
every callback. The gateway's hooks are what authenticate some deployments
(``DatabricksAuthHook`` puts a service principal's token in ``api_key``), so
such a deployment was reported unhealthy ("install databricks-sdk") while its
requests succeeded. ``install()`` wraps LiteLLM's per-deployment health probe
so it first runs the gateway's hooks on the probe's parameters, as the request
path does (and fails the same way when an identity cannot get a token).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

HooksProvider = Callable[[], tuple[Any, ...]]
_hooks: HooksProvider = tuple
_ORIGINAL_ATTR = "_gateway_original_run_model_health_check"


def install(hooks: HooksProvider) -> None:
    """Route LiteLLM's health probes through ``hooks()`` (the gateway callbacks in force); idempotent."""
    global _hooks
    from litellm.proxy import health_check

    _hooks = hooks
    if getattr(health_check, _ORIGINAL_ATTR, None) is None:
        setattr(health_check, _ORIGINAL_ATTR, health_check._run_model_health_check)
        health_check._run_model_health_check = _run_model_health_check


async def authenticated(model: dict[str, Any]) -> dict[str, Any]:
    """``model`` with its ``litellm_params`` as the gateway's pre-call hooks would send them."""
    hooks = _hooks()
    if not hooks:
        return model
    model_info = dict(model.get("model_info") or {})
    kwargs: dict[str, Any] = {**(model.get("litellm_params") or {}), "model_info": model_info}
    for hook in hooks:
        changed = await hook.async_pre_call_deployment_hook(kwargs, None)
        if isinstance(changed, dict):
            kwargs = changed
    kwargs.pop("model_info", None)
    return {**model, "litellm_params": kwargs}


async def _run_model_health_check(model: dict[str, Any]) -> Any:
    from litellm.proxy import health_check

    original = getattr(health_check, _ORIGINAL_ATTR)
    try:
        model = await authenticated(model)
    except Exception as exc:  # noqa: BLE001 - reported as this deployment's health, like a failed request
        return {"error": str(exc)}
    return await original(model)
