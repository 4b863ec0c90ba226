"""Process-wide provider keys in ``litellm_settings`` never reach an identity-bound deployment.

Why: ``litellm_settings.api_key`` (or ``azure_key``, ``openai_key``, ``api_base`` ...)
sets a ``litellm`` module global that LiteLLM hands to every deployment lacking
its own. Next to a deployment's identity token that key makes the Azure client
refuse every request ("api_key, azure_ad_token and azure_ad_token_provider are
mutually exclusive"), and a process-wide endpoint would send the identity's
token somewhere else. The gateway decides each deployment's credential itself
(``gateway.identity.process_env`` hides the same fallbacks in the environment),
so such a config is refused in both modes, naming the setting and the deployment.
The judgement of "identity-bound" mirrors ``gateway.identity.binding`` without
importing it (no azure-identity import in the validator's cheap stages).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import ConfigIssue

#: ``litellm`` module globals LiteLLM uses as any deployment's key or endpoint when it names none.
PROCESS_WIDE_SETTINGS = ("api_key", "azure_key", "openai_key", "databricks_key", "openai_like_key", "api_base")
_AZURE_OWN_CREDENTIALS = ("api_key", "azure_ad_token", "azure_ad_token_provider", "client_secret", "azure_password")
_FLAG = "enable_azure_ad_token_refresh"


def identity_bound(entry: Mapping[str, Any], global_flag: bool) -> bool:
    """Whether the gateway binds this deployment to a managed/workload identity or a service principal."""
    params = entry.get("litellm_params")
    if not isinstance(params, Mapping):
        return False
    provider = params.get("custom_llm_provider") or (str(params.get("model", "")).split("/", 1)[0])
    if provider == "databricks":
        return "client_id" in params or "client_secret" in params
    if provider not in ("azure", "azure_ai") or any(params.get(k) for k in _AZURE_OWN_CREDENTIALS):
        return False
    local = entry.get("litellm_settings")
    local_flag = local.get(_FLAG) if isinstance(local, Mapping) else None
    if local_flag is False:
        return False
    return "client_id" in params or local_flag is True or global_flag


def check(config: Mapping[str, Any]) -> list[ConfigIssue]:
    settings = config.get("litellm_settings")
    if not isinstance(settings, Mapping):
        return []
    present = [key for key in PROCESS_WIDE_SETTINGS if settings.get(key) is not None]
    if not present:
        return []
    global_flag = settings.get(_FLAG) is True
    bound = [
        f"model_list[{index}] ({entry.get('model_name')})"
        for index, entry in enumerate(config.get("model_list") or [])
        if isinstance(entry, Mapping) and identity_bound(entry, global_flag)
    ]
    if not bound:
        return []
    return [
        ConfigIssue(
            f"litellm_settings.{key}",
            f"a process-wide {key} would be used by identity-bound deployments ({', '.join(bound[:3])}"
            f"{', ...' if len(bound) > 3 else ''}), whose requests it breaks: set it per deployment in litellm_params",
        )
        for key in present
    ]
