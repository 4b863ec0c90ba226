"""Settings LiteLLM accepts but this gateway would not enforce are refused, with the reason.

Why: a setting that validates, applies with no warning and then does nothing is worse
than an error (``max_request_size_mb`` let 25 MB bodies through). Each setting of this
LiteLLM build that is silently inert here is in one table below, with why; the two the
gateway enforces itself at its ASGI front (``gateway.front.limits``) are only checked for
a usable value. ``general_settings`` keys LiteLLM reads only while booting from its own
config file belong to the same kind: the gateway boots LiteLLM without one and applies
every config itself, so those keys never take effect, at start or live.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import ConfigIssue

_BOOT_ONLY = (
    "LiteLLM reads it only while booting from its own config file; the gateway applies configs itself "
    "(fresh start and live alike), so it would never take effect"
)
_ENTERPRISE = "an enterprise-licence feature of LiteLLM; without a licence this build accepts it and ignores it"

#: ``general_settings`` keys that would be accepted and silently not enforced, and why.
GENERAL_SETTINGS: Mapping[str, str] = {
    **{
        key: _BOOT_ONLY
        for key in (
            "database_url",
            "custom_auth",
            "custom_sso",
            "custom_key_generate",
            "store_model_in_db",
            "use_google_kms",
            "use_azure_key_vault",
            "key_management_system",
            "alerting",
            "pass_through_endpoints",
            "ui_access_mode",
        )
    },
    "max_response_size_mb": _ENTERPRISE + " (and it would measure Python object size, not the response)",
    "admin_only_routes": _ENTERPRISE,
    "enforced_params": _ENTERPRISE + "; worse, every request would then fail with a server error",
    "enable_jwt_auth": _ENTERPRISE + "; the gateway authenticates with its master key only",
    "enable_oauth2_auth": _ENTERPRISE + "; the gateway authenticates with its master key only",
    "enable_oauth2_proxy_auth": _ENTERPRISE + "; the gateway authenticates with its master key only",
}
#: ``litellm_settings`` keys of the same kind.
LITELLM_SETTINGS: Mapping[str, str] = {
    "allow_dynamic_callback_disabling": _ENTERPRISE,
}
#: Top-level sections of the same kind.
SECTIONS: Mapping[str, str] = {
    "worker_registry": _ENTERPRISE,
}
#: ``general_settings`` keys the gateway enforces at its front; they need a positive number.
ENFORCED_BY_GATEWAY = ("max_request_size_mb", "global_max_parallel_requests")


def check(config: Mapping[str, Any]) -> list[ConfigIssue]:
    """Errors for every inert setting present, and for a front-enforced cap that is not a positive number."""
    issues = [ConfigIssue(key, f"refused: {why}") for key, why in SECTIONS.items() if config.get(key) is not None]
    for section, table in (("general_settings", GENERAL_SETTINGS), ("litellm_settings", LITELLM_SETTINGS)):
        settings = config.get(section)
        if not isinstance(settings, Mapping):
            continue
        issues += [
            ConfigIssue(f"{section}.{key}", f"refused: {why}")
            for key, why in table.items()
            if settings.get(key) is not None
        ]
    general = config.get("general_settings")
    if isinstance(general, Mapping):
        for key in ENFORCED_BY_GATEWAY:
            value = general.get(key)
            if value is None:
                continue
            whole = key == "global_max_parallel_requests"
            ok = isinstance(value, int if whole else (int, float)) and not isinstance(value, bool) and value > 0
            if not ok:
                kind = "a positive whole number" if whole else "a positive number of MB"
                issues.append(ConfigIssue(f"general_settings.{key}", f"expected {kind}, got {value!r}"))
    return issues
