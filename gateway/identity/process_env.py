"""Process-wide provider settings that LiteLLM (and the OpenAI SDK under it) fall back to.

Why: when a deployment names no key, endpoint or version of its own, LiteLLM
takes one from the process environment (``AZURE_API_KEY``, ``AZURE_API_BASE``,
``OPENAI_API_KEY``, ``DATABRICKS_*`` ...) or from a module global that
``litellm_settings`` can set (``litellm.api_key``, ``litellm.azure_key``...), and
the OpenAI SDK does the same with its own names (``AZURE_OPENAI_API_KEY``,
``OPENAI_API_VERSION``...). A key picked up that way next to a deployment's
identity token makes the Azure client refuse every request ("api_key,
azure_ad_token and azure_ad_token_provider are mutually exclusive"), and
nothing in validation or readiness can see it (FACTS.md).

So the gateway decides every deployment's credential itself: at startup these
variables are removed from ``os.environ`` (the replica's snapshot keeps them,
so ``api_key: os.environ/AZURE_API_KEY`` still works when written out), and a
config that sets a process-wide key in ``litellm_settings`` while a deployment
is bound to an identity is refused (``gateway.validation.process_wide``).
The identity variables azure-identity itself reads (``AZURE_CLIENT_ID``,
``AZURE_TENANT_ID``, ``AZURE_FEDERATED_TOKEN_FILE``, ...) stay: the gateway's own
Blob/Service Bus credentials need them, and LiteLLM only uses them through the
``enable_azure_ad_token_refresh`` path that ``bind_identities`` replaces.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping

#: Per provider family: the env variables LiteLLM 1.108.7 or the openai SDK read for a deployment's
#: key, endpoint, version or bearer token when its litellm_params have none (grep of their sources;
#: ``tests/identity/test_process_env.py`` re-checks LiteLLM's source for new ones).
FALLBACKS: Mapping[str, tuple[str, ...]] = {
    "azure": (
        "AZURE_API_KEY",
        "AZURE_OPENAI_API_KEY",
        "AZURE_API_BASE",
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_API_VERSION",
        "OPENAI_API_VERSION",
        "AZURE_API_TYPE",
        "AZURE_AD_TOKEN",
        "AZURE_OPENAI_AD_TOKEN",
    ),
    "azure_ai": ("AZURE_AI_API_KEY", "AZURE_AI_API_BASE", "AZURE_AI_API_VERSION"),
    "openai": (
        "OPENAI_API_KEY",
        "OPENAI_API_BASE",
        "OPENAI_BASE_URL",
        "OPENAI_ORGANIZATION",
        "OPENAI_ORG_ID",
        "OPENAI_PROJECT",
        "OPENAI_PROJECT_ID",
        "OPENAI_LIKE_API_KEY",
        "OPENAI_LIKE_API_BASE",
    ),
    "databricks": (
        "DATABRICKS_API_KEY",
        "DATABRICKS_API_BASE",
        "DATABRICKS_CLIENT_ID",
        "DATABRICKS_CLIENT_SECRET",
        "DATABRICKS_HOST",
        "DATABRICKS_TOKEN",
    ),
}
ALL_FALLBACKS: frozenset[str] = frozenset(name for names in FALLBACKS.values() for name in names)


def hide(environ: MutableMapping[str, str] | None = None) -> tuple[str, ...]:
    """Remove every fallback variable from ``environ`` (default ``os.environ``); return the names removed."""
    target = os.environ if environ is None else environ
    removed = tuple(sorted(name for name in ALL_FALLBACKS if name in target))
    for name in removed:
        target.pop(name, None)
    return removed


def fallbacks_for(provider: str, env: Mapping[str, str]) -> tuple[str, ...]:
    """The fallback variables set in ``env`` that LiteLLM would have used for a ``provider`` deployment."""
    return tuple(name for name in FALLBACKS.get(provider, ()) if env.get(name))
