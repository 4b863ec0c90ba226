"""LiteLLM's own judgement of a config: providers, router settings, and a throwaway Router.

The proxy builds its Router with ``ignore_invalid_deployments=True`` and drops a
bad deployment with only an ERROR log (FACTS.md); here the same Router is built
with ``ignore_invalid_deployments=False`` so a bad deployment rejects the whole
release instead. This module imports litellm lazily: the cheap checks run first.
It is synchronous and CPU-bound, so the gateway calls it from a worker thread.
"""

from __future__ import annotations

import logging
from typing import Any

from gateway.errors import ConfigIssue, first_line

log = logging.getLogger(__name__)

_NON_NEGATIVE_INT = ("num_retries", "allowed_fails", "max_fallbacks")
_NON_NEGATIVE_NUMBER = ("timeout", "cooldown_time", "retry_after", "stream_timeout")


def router_setting_names() -> frozenset[str]:
    """The ``router_settings`` keys LiteLLM's proxy passes to ``Router(...)``."""
    import litellm
    from litellm.constants import ROUTER_SETTINGS_MANAGED_OUTSIDE_CONFIG

    return frozenset(litellm.Router.get_valid_args()) - ROUTER_SETTINGS_MANAGED_OUTSIDE_CONFIG


def check_router_settings(settings: dict) -> list[ConfigIssue]:
    issues = []
    known = router_setting_names()
    for key, value in settings.items():
        path = f"router_settings.{key}"
        if key not in known:
            issues.append(ConfigIssue(path, "not a LiteLLM router setting (LiteLLM would ignore it silently)"))
        elif key in _NON_NEGATIVE_INT and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            issues.append(ConfigIssue(path, f"expected a non-negative integer, got {value!r}"))
        elif key in _NON_NEGATIVE_NUMBER and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0
        ):
            issues.append(ConfigIssue(path, f"expected a non-negative number of seconds, got {value!r}"))
    return issues


def check_providers(model_list: list[dict]) -> list[ConfigIssue]:
    from litellm import get_llm_provider

    issues = []
    for index, entry in enumerate(model_list):
        params = entry["litellm_params"]
        try:
            get_llm_provider(
                model=params["model"],
                custom_llm_provider=params.get("custom_llm_provider"),
                api_base=params.get("api_base") if isinstance(params.get("api_base"), str) else None,
            )
        except Exception as exc:  # noqa: BLE001 - litellm raises BadRequestError/ValueError variously
            issues.append(
                ConfigIssue(
                    f"model_list[{index}].litellm_params.model",
                    f"unknown provider for {params['model']!r}: use <provider>/<model>, e.g. azure/<deployment> "
                    f"({first_line(exc)})",
                )
            )
    return issues


def check_router(model_list: list[dict], router_settings: dict) -> list[ConfigIssue]:
    """Build a Router exactly as the applier will, but refusing invalid deployments."""
    error = _build_and_discard(model_list, router_settings)
    if error is None:
        return []
    # Find which deployment(s) LiteLLM objects to, so the message has a path.
    issues = []
    for index, entry in enumerate(model_list):
        single = _build_and_discard([entry], {})
        if single is not None:
            issues.append(ConfigIssue(f"model_list[{index}]", f"LiteLLM rejects this deployment: {single}"))
    if not issues:
        issues.append(ConfigIssue("router_settings", f"LiteLLM cannot build a router: {error}"))
    return issues


def _build_and_discard(model_list: list[dict], router_settings: dict) -> str | None:
    import litellm

    try:
        router = litellm.Router(model_list=model_list, ignore_invalid_deployments=False, **router_settings)
    except Exception as exc:  # noqa: BLE001 - any failure here is a rejection reason, reported with its text
        return first_line(exc)
    router.discard()
    return None


def deployment_for_router(entry: dict[str, Any]) -> dict[str, Any]:
    """A model_list entry as LiteLLM's Router takes it: without the seed's per-deployment settings block."""
    return {k: v for k, v in entry.items() if k != "litellm_settings"}
