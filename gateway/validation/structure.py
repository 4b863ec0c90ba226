"""Shape checks that need no LiteLLM import: sections, deployments, value types.

These run first and cheaply, so an operator gets every structural mistake in
one report with its YAML path, before the slower LiteLLM checks run.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from gateway.errors import ConfigIssue
from gateway.validation.envrefs import PREFIX
from gateway.validation.paths import join

MAPPING_SECTIONS = (
    "litellm_settings",
    "general_settings",
    "router_settings",
    "environment_variables",
    "callback_settings",
)
LIST_SECTIONS = ("model_list", "guardrails", "credential_list", "prompts", "search_tools")
#: Top-level keys LiteLLM's proxy reads besides the sections above; anything else is a warning.
OTHER_KNOWN_SECTIONS = frozenset(
    {
        "mcp_servers",
        "mcp_tools",
        "mcp_aliases",
        "vector_store_registry",
        "assistant_settings",
        "finetune_settings",
        "files_settings",
        "default_vertex_config",
        "pass_through_endpoints",
        "agent_list",
        "policies",
        "policy_attachments",
        "agents",
        "worker_registry",
        "sandbox_tools",
        "include",
        "model_group_alias",
        "coordination_redis",
        "tool_permission_settings",
    }
)
#: Keys allowed in the per-deployment ``litellm_settings`` block the seed README uses.
DEPLOYMENT_SETTINGS = frozenset({"enable_azure_ad_token_refresh"})
_NUMBER_PARAMS = ("timeout", "stream_timeout", "rpm", "tpm", "max_retries", "max_parallel_requests", "weight")
_STRING_PARAMS = ("model", "api_base", "api_version", "custom_llm_provider", "region_name", "client_id", "tenant_id")


def check(config: Any) -> tuple[list[ConfigIssue], list[ConfigIssue]]:
    """Return ``(errors, warnings)`` for the document's shape."""
    errors: list[ConfigIssue] = []
    warnings: list[ConfigIssue] = []
    if not isinstance(config, dict):
        errors.append(
            ConfigIssue("", f"top level must be a mapping with a model_list, got {_type_name(config)}")
        )
        return errors, warnings
    for key in config:
        if not isinstance(key, str):
            errors.append(ConfigIssue(str(key), "top-level keys must be strings"))
        elif key not in MAPPING_SECTIONS and key not in LIST_SECTIONS and key not in OTHER_KNOWN_SECTIONS:
            warnings.append(ConfigIssue(key, "unknown top-level section; LiteLLM will ignore it"))
    for section in MAPPING_SECTIONS:
        if config.get(section) is not None and not isinstance(config[section], dict):
            errors.append(ConfigIssue(section, f"expected a mapping, got {_type_name(config[section])}"))
    for section in LIST_SECTIONS:
        if config.get(section) is not None and not isinstance(config[section], list):
            errors.append(ConfigIssue(section, f"expected a list, got {_type_name(config[section])}"))

    model_list = config.get("model_list")
    if not model_list:
        errors.append(ConfigIssue("model_list", "missing or empty: the gateway never serves with no deployments"))
    elif isinstance(model_list, list):
        for index, entry in enumerate(model_list):
            errors.extend(_check_deployment(entry, f"model_list[{index}]"))
    settings = config.get("litellm_settings")
    if isinstance(settings, dict):
        errors.extend(_check_litellm_settings(settings))
    errors.extend(_check_dates(config))
    return errors, warnings


def _check_dates(value: Any, path: str = "") -> list[ConfigIssue]:
    """Every YAML date in the document, wherever it is: LiteLLM never expects one.

    Why everywhere: an unquoted ``2024-02-01`` is a ``datetime.date`` to YAML, and
    ``api_version`` (or any version/string setting) can sit in ``litellm_params``,
    ``litellm_settings``, ``router_settings``, ``general_settings`` or a cache,
    guardrail or credential block; LiteLLM then fails every request with a traceback.
    """
    if isinstance(value, (dt.date, dt.datetime)):
        text = value.isoformat()
        return [ConfigIssue(path, f"YAML read {text} as a date: quote it, e.g. \"{text}\"")]
    issues: list[ConfigIssue] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, (dt.date, dt.datetime)):
                issues.append(ConfigIssue(join(path, key.isoformat()), "YAML read this key as a date: quote it"))
            issues.extend(_check_dates(item, join(path, key if not isinstance(key, (dt.date, dt.datetime)) else key.isoformat())))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            issues.extend(_check_dates(item, join(path, index)))
    return issues


def _check_deployment(entry: Any, path: str) -> list[ConfigIssue]:
    if not isinstance(entry, dict):
        return [ConfigIssue(path, f"expected a mapping with model_name and litellm_params, got {_type_name(entry)}")]
    issues = []
    name = entry.get("model_name")
    if not isinstance(name, str) or not name.strip():
        issues.append(ConfigIssue(join(path, "model_name"), f"required non-empty string, got {_type_name(name)}"))
    params = entry.get("litellm_params")
    if not isinstance(params, dict):
        issues.append(ConfigIssue(join(path, "litellm_params"), f"required mapping, got {_type_name(params)}"))
    else:
        issues.extend(_check_params(params, join(path, "litellm_params")))
    for section in ("model_info", "litellm_settings"):
        if entry.get(section) is not None and not isinstance(entry[section], dict):
            issues.append(ConfigIssue(join(path, section), f"expected a mapping, got {_type_name(entry[section])}"))
    block = entry.get("litellm_settings")
    if isinstance(block, dict):
        for key, value in block.items():
            if key not in DEPLOYMENT_SETTINGS:
                issues.append(
                    ConfigIssue(
                        join(join(path, "litellm_settings"), key),
                        f"not a per-deployment setting (allowed: {', '.join(sorted(DEPLOYMENT_SETTINGS))}); "
                        "move it to the top-level litellm_settings",
                    )
                )
            elif not isinstance(value, bool):
                issues.append(ConfigIssue(join(join(path, "litellm_settings"), key), "expected true or false"))
    return issues


def _check_params(params: dict, path: str) -> list[ConfigIssue]:
    issues = []
    model = params.get("model")
    if not isinstance(model, str) or not model.strip():
        issues.append(ConfigIssue(join(path, "model"), f"required non-empty string like azure/<deployment>, got {_type_name(model)}"))
    for key in _STRING_PARAMS:
        value = params.get(key)
        if value is None or key == "model":
            continue
        if isinstance(value, (dt.date, dt.datetime)):
            continue  # reported by _check_dates, like every other date in the document
        if not isinstance(value, str):
            issues.append(ConfigIssue(join(path, key), f"expected a string, got {_type_name(value)}"))
    base = params.get("api_base")
    if isinstance(base, str) and not base.startswith(PREFIX) and not base.startswith(("https://", "http://")):
        issues.append(ConfigIssue(join(path, "api_base"), f"expected an http(s) URL, got {base!r}"))
    for key in _NUMBER_PARAMS:
        value = params.get(key)
        if value is None or (isinstance(value, str) and value.startswith(PREFIX)):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            issues.append(ConfigIssue(join(path, key), f"expected a non-negative number, got {value!r}"))
    return issues


def _check_litellm_settings(settings: dict) -> list[ConfigIssue]:
    issues = []
    for key in ("cache", "drop_params", "set_verbose", "enable_azure_ad_token_refresh"):
        if key in settings and not isinstance(settings[key], bool):
            issues.append(ConfigIssue(f"litellm_settings.{key}", f"expected true or false, got {settings[key]!r}"))
    if settings.get("cache_params") is not None and not isinstance(settings["cache_params"], dict):
        issues.append(ConfigIssue("litellm_settings.cache_params", "expected a mapping"))
    timeout = settings.get("request_timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        issues.append(ConfigIssue("litellm_settings.request_timeout", f"expected a positive number of seconds, got {timeout!r}"))
    return issues


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer", float: "a number"}.get(
        type(value), type(value).__name__
    )
