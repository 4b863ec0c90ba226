"""Model-group references must name a model group the config defines.

Why: LiteLLM accepts ``fallbacks: [{gpt-4: [gpt-4o]}]`` with no ``gpt-4o``
group and only finds out when a request falls back, which then fails too; an
alias to a missing group turns every request on the alias into "model not
found". Such a config is "valid" while the requests it exists for fail. Every
place that names a group is checked, in both modes (it needs no environment):
``router_settings`` and ``litellm_settings`` (``fallbacks``,
``context_window_fallbacks``, ``content_policy_fallbacks``, ``default_fallbacks``,
``model_group_alias``, ``model_group_retry_policy``) and each deployment's own
``litellm_params`` fallbacks. A wildcard ``model_name`` (``openai/*``) matches
what it would route.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping
from typing import Any

from gateway.errors import ConfigIssue
from gateway.validation.paths import join

FALLBACK_KEYS = ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks")
_SECTIONS = ("router_settings", "litellm_settings")
#: A fallback keyed by ``*`` applies to every group (LiteLLM's generic fallback).
_ANY_GROUP = "*"


def check(config: Mapping[str, Any]) -> list[ConfigIssue]:
    """One error per reference to a group that neither a deployment nor an alias defines."""
    names = {e["model_name"] for e in config.get("model_list") or [] if isinstance(e, Mapping) and isinstance(e.get("model_name"), str)}
    aliases: set[str] = set()
    for section in _SECTIONS:
        block = config.get(section)
        alias_map = block.get("model_group_alias") if isinstance(block, Mapping) else None
        if isinstance(alias_map, Mapping):
            aliases.update(str(k) for k in alias_map)
    groups = names | aliases
    patterns = [n for n in names if "*" in n]

    def exists(name: str) -> bool:
        return name in groups or any(fnmatch.fnmatchcase(name, p) for p in patterns)

    issues = []
    for path, name, role in _references(config):
        if not exists(name):
            known = ", ".join(sorted(groups)[:10]) or "none"
            issues.append(ConfigIssue(path, f"{role} names model group {name!r}, which no deployment defines (groups: {known})"))
    return issues


def _references(config: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """``(yaml_path, group_name, role)`` for every group name the config refers to."""
    for section in _SECTIONS:
        block = config.get(section)
        if not isinstance(block, Mapping):
            continue
        for key in FALLBACK_KEYS:
            yield from _fallbacks(block.get(key), f"{section}.{key}", key)
        defaults = block.get("default_fallbacks")
        if isinstance(defaults, list):
            for index, target in enumerate(defaults):
                if isinstance(target, str):
                    yield f"{section}.default_fallbacks[{index}]", target, "default_fallbacks"
        alias_map = block.get("model_group_alias")
        if isinstance(alias_map, Mapping):
            for alias, target in alias_map.items():
                name = target.get("model") if isinstance(target, Mapping) else target
                if isinstance(name, str):
                    path = join(f"{section}.model_group_alias", alias)
                    yield (join(path, "model") if isinstance(target, Mapping) else path), name, "model_group_alias"
        policies = block.get("model_group_retry_policy")
        if isinstance(policies, Mapping):
            for group in policies:
                yield join(f"{section}.model_group_retry_policy", group), str(group), "model_group_retry_policy"
    for index, entry in enumerate(config.get("model_list") or []):
        params = entry.get("litellm_params") if isinstance(entry, Mapping) else None
        if isinstance(params, Mapping):
            for key in FALLBACK_KEYS:
                yield from _fallbacks(params.get(key), f"model_list[{index}].litellm_params.{key}", key)


def _fallbacks(value: Any, path: str, role: str) -> Iterator[tuple[str, str, str]]:
    """Fallback lists: ``[{group: [targets]}]``, ``[target, ...]`` or ``[{model: target, ...}]``."""
    if not isinstance(value, list):
        return
    for index, item in enumerate(value):
        item_path = f"{path}[{index}]"
        if isinstance(item, str):
            yield item_path, item, role
        elif isinstance(item, Mapping) and isinstance(item.get("model"), str) and not isinstance(item.get("model"), list):
            yield join(item_path, "model"), item["model"], role
        elif isinstance(item, Mapping):
            for source, targets in item.items():
                source_path = join(item_path, source)
                if str(source) != _ANY_GROUP:
                    yield source_path, str(source), role
                for t_index, target in enumerate(targets if isinstance(targets, list) else [targets]):
                    if isinstance(target, str):
                        yield f"{source_path}[{t_index}]", target, role
