"""What a config may reach on a replica: which environment variables, and which upstream hosts.

Why: a config is written by operators and CI, but it is *executed* by every replica with
the replica's own environment and network. Without limits, ``api_key:
os.environ/LITELLM_MASTER_KEY`` plus an ``api_base`` of the author's choosing sends the
gateway's master key (or ``BLOB_CONNECTION_STRING``, ``REDIS_PASSWORD``,
``AZURE_CLIENT_SECRET``...) to any host; a Databricks deployment even POSTs its service
principal's secret to ``<api_base>/oidc/v1/token`` at apply time, before any request.

* **Environment.** The gateway's own variables (``RESERVED_ENV``) are refused in
  ``os.environ/NAME`` and ``oidc/env/NAME`` references unless ``GATEWAY_ALLOWED_ENV``
  lists them by name; ``LITELLM_MASTER_KEY`` is fine where it is the master key
  (``general_settings.master_key``). When ``GATEWAY_ALLOWED_ENV`` is set, only the names
  it lists may be referenced (replica and Function alike).
* **Hosts.** With ``GATEWAY_ALLOWED_HOSTS`` (``*.openai.azure.com,*.azuredatabricks.net``),
  every URL in the config and every deployment that carries a credential must point at a
  listed host; a credentialed deployment without ``api_base`` (its provider's default
  host, which the list cannot check) is refused too.

Both are plain values here; ``gateway.settings`` and the publisher's settings read them
from the environment.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from gateway.errors import ConfigIssue
from gateway.validation.paths import walk_strings

#: The gateway's own variables: what it authenticates with, stores in, or is reached by. Globs.
RESERVED_ENV = (
    "LITELLM_MASTER_KEY",
    "LITELLM_SALT_KEY",
    "BLOB_*",
    "SERVICEBUS_*",
    "REDIS_PASSWORD",
    "REDIS_USERNAME",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_PASSWORD",
    "AZURE_FEDERATED_TOKEN_FILE",
    "IDENTITY_HEADER",
    "IDENTITY_ENDPOINT",
    "MSI_SECRET",
    "MSI_ENDPOINT",
    "AzureWebJobsStorage*",
)
#: Where a reserved name is the point of the field: the master key may come from the master key variable.
RESERVED_ALLOWED_AT = {"LITELLM_MASTER_KEY": frozenset({"general_settings.master_key"})}
#: ``litellm_params`` keys that make a deployment send a credential upstream.
CREDENTIAL_PARAMS = frozenset(
    {
        "api_key",
        "client_id",
        "client_secret",
        "tenant_id",
        "azure_ad_token",
        "azure_username",
        "azure_password",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "vertex_credentials",
    }
)
_URL_KEYS = ("api_base", "base_url", "azure_endpoint")
_HOST_PATTERN = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


def is_reserved(name: str) -> bool:
    """Whether ``name`` is one of the gateway's own variables (``RESERVED_ENV``)."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in RESERVED_ENV)


def env_issue(path: str, name: str, allowed: frozenset[str] | None, suffix: str = "") -> ConfigIssue | None:
    """Why a reference to ``name`` at ``path`` is refused, or None: reserved names, then the allow-list."""
    explicitly_allowed = allowed is not None and name in allowed
    if is_reserved(name) and path not in RESERVED_ALLOWED_AT.get(name, ()) and not explicitly_allowed:
        return ConfigIssue(
            path,
            f"environment variable {name} is one of the gateway's own{suffix}: a config may not read it "
            "(list it in GATEWAY_ALLOWED_ENV to allow it on purpose)",
        )
    if allowed is not None and not explicitly_allowed:
        return ConfigIssue(path, f"environment variable {name} is not in GATEWAY_ALLOWED_ENV{suffix}")
    return None


def parse_hosts(raw: str) -> tuple[tuple[str, ...], list[str]]:
    """``GATEWAY_ALLOWED_HOSTS`` -> (patterns, malformed entries). ``*.example.com`` matches sub-domains only."""
    entries = [e.strip().lower() for e in raw.split(",") if e.strip()]
    return tuple(e for e in entries if _HOST_PATTERN.match(e)), [e for e in entries if not _HOST_PATTERN.match(e)]


def host_allowed(host: str, patterns: Iterable[str]) -> bool:
    host = host.lower().rstrip(".")
    for pattern in patterns:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


def _host_of(value: str) -> str | None:
    if "://" not in value:
        return None
    try:
        return urlsplit(value.strip()).hostname
    except ValueError:
        return None


def check_hosts(config: Mapping[str, Any], patterns: tuple[str, ...] | None) -> list[ConfigIssue]:
    """With an allow-list: every URL in the config, and every credentialed deployment's ``api_base``, on a listed host."""
    if patterns is None:
        return []
    listed = ", ".join(patterns) or "(empty)"
    issues: list[ConfigIssue] = []
    for path, _key, value in walk_strings(dict(config)):
        host = _host_of(value)
        if host is not None and not host_allowed(host, patterns):
            issues.append(ConfigIssue(path, f"host {host} is not in GATEWAY_ALLOWED_HOSTS ({listed})"))
    cache = (config.get("litellm_settings") or {}).get("cache_params") if isinstance(config.get("litellm_settings"), Mapping) else None
    if isinstance(cache, Mapping) and isinstance(cache.get("host"), str) and not cache["host"].startswith("os.environ/"):
        if not host_allowed(cache["host"], patterns):
            issues.append(ConfigIssue("litellm_settings.cache_params.host", f"host {cache['host']} is not in GATEWAY_ALLOWED_HOSTS ({listed})"))
    for index, entry in enumerate(config.get("model_list") or []):
        params = entry.get("litellm_params") if isinstance(entry, Mapping) else None
        if not isinstance(params, Mapping) or params.get("mock_response") is not None:
            continue
        credentialed = any(params.get(k) is not None for k in CREDENTIAL_PARAMS) or str(params.get("model", "")).startswith(
            ("azure/", "azure_ai/", "databricks/")
        )
        if credentialed and not any(isinstance(params.get(k), str) and params[k] for k in _URL_KEYS):
            issues.append(
                ConfigIssue(
                    f"model_list[{index}].litellm_params.api_base",
                    "required with GATEWAY_ALLOWED_HOSTS: without it this deployment's credential goes to its "
                    "provider's default host, which the allow-list cannot check",
                )
            )
    return issues
