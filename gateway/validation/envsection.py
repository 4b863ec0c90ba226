"""The ``environment_variables:`` section: config-local values for ``os.environ/NAME`` references.

Why: LiteLLM copies this section into the process environment at load, so a
reference to one of its names resolves on every replica. The gateway used to
judge references against the replica's own environment only: the publisher
(which checks syntax) called such a config valid and every replica rejected it.
And a name nothing references was ignored without a word, although LiteLLM
would have exported it and then silently fallen back to it (``AZURE_API_KEY``...).

The gateway honours the section as LiteLLM's references see it, identically in
both modes, without touching the process environment (a live apply cannot take
a variable back out, and ``gateway.identity.process_env`` hides provider
fallbacks on purpose):

* a reference to a name defined here resolves to its value (the section wins
  over the replica's environment, as in LiteLLM);
* values are plain non-secret scalars: a name that looks like a secret, or one
  referenced from a secret field (``api_key``, ``master_key`` ...), is refused
  like any literal secret; ``os.environ/`` chains are refused;
* a name that nothing in the config references is an error, in both modes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gateway.errors import ConfigIssue
from gateway.validation.envrefs import PREFIX, references
from gateway.validation.secrets import SECRET_KEYS

SECTION = "environment_variables"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_NAME = re.compile(r"(KEY|SECRET|PASSWORD|PASSWD|TOKEN|CONNECTION_STRING|CREDENTIAL|SAS)", re.IGNORECASE)


def values(config: Mapping[str, Any]) -> dict[str, str]:
    """The section's scalar values as LiteLLM would export them (``str()``); others are skipped."""
    section = config.get(SECTION)
    if not isinstance(section, Mapping):
        return {}
    return {
        str(name): _text(value)
        for name, value in section.items()
        if isinstance(value, (str, int, float, bool)) and not (isinstance(value, str) and value.startswith(PREFIX))
    }


def names(config: Mapping[str, Any]) -> frozenset[str]:
    """Every name the section defines, whatever its value (bad values are this module's errors, not unset refs)."""
    section = config.get(SECTION)
    return frozenset(str(n) for n in section) if isinstance(section, Mapping) else frozenset()


def effective_env(config: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    """What ``os.environ/NAME`` references resolve against: the environment, overridden by the section."""
    return {**env, **values(config)}


def check(config: Mapping[str, Any], *, allow_literal_secrets: bool) -> list[ConfigIssue]:
    section = config.get(SECTION)
    if not isinstance(section, Mapping):
        return []
    used: dict[str, list[str]] = {}
    for path, name in references(config):
        if not path.startswith(f"{SECTION}."):
            used.setdefault(name, []).append(path)
    issues = []
    for name, value in section.items():
        path = f"{SECTION}.{name}"
        if not isinstance(name, str) or not _NAME.match(name):
            issues.append(ConfigIssue(path, "not a valid environment variable name"))
            continue
        if isinstance(value, str) and value.startswith(PREFIX):
            issues.append(ConfigIssue(path, f"{PREFIX} chains are not supported here: reference {value[len(PREFIX):]} directly"))
            continue
        if not isinstance(value, (str, int, float, bool)):
            what = "empty" if value is None else "not a plain value"
            issues.append(ConfigIssue(path, f"{what}: expected a string, number or boolean (or remove the entry)"))
            continue
        secret_uses = [p for p in used.get(name, ()) if p.rsplit(".", 1)[-1].lower() in SECRET_KEYS]
        if not allow_literal_secrets and (_SECRET_NAME.search(name) or secret_uses):
            why = f"it is used as {secret_uses[0]}" if secret_uses else "its name says it is a secret"
            issues.append(
                ConfigIssue(path, f"literal secret ({why}): set {name} in the replicas' environment instead "
                                  "(or GATEWAY_ALLOW_LITERAL_SECRETS=true for local use)")
            )
        elif name not in used:
            issues.append(
                ConfigIssue(path, f"nothing in the config references {PREFIX}{name}: the gateway does not export "
                                  "this section to the process environment (LiteLLM would, and then fall back to it "
                                  "silently); reference it where it is meant to apply, or remove it")
            )
    return issues


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)
