"""``os.environ/NAME`` references: check them, and resolve them for the applier.

LiteLLM resolves an unset reference silently to ``None``; for an Azure/OpenAI
``api_key`` that means falling back to the process's own ``OPENAI_API_KEY``
(FACTS.md). A replica therefore refuses any config that references a variable
it does not have, and says which variable and which deployment.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any

from gateway.errors import ConfigIssue
from gateway.validation import trust
from gateway.validation.paths import deployment_label, walk_strings

PREFIX = "os.environ/"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


#: LiteLLM's ``get_secret`` also reads ``oidc/env/NAME`` from the process environment: a reference too.
OIDC_ENV_PREFIX = "oidc/env/"


def references(config: Any) -> Iterable[tuple[str, str]]:
    """Yield ``(yaml_path, variable_name)`` for every reference (``os.environ/NAME``, ``oidc/env/NAME``)."""
    for path, _key, value in walk_strings(config):
        if value.startswith(PREFIX):
            yield path, value[len(PREFIX) :]
        elif value.startswith(OIDC_ENV_PREFIX):
            yield path, value[len(OIDC_ENV_PREFIX) :]


def check(
    config: dict,
    *,
    env: Mapping[str, str] | None,
    allowed: frozenset[str] | None,
) -> list[ConfigIssue]:
    """Syntax always; with ``env`` every name must be set; with ``allowed`` every name must be listed."""
    issues: list[ConfigIssue] = []
    for path, name in references(config):
        if path.startswith("environment_variables."):
            continue  # the section's own values are judged by envsection (no chains)
        where = deployment_label(config, path)
        suffix = f" (used by {where})" if where else ""
        if not _NAME.match(name):
            issues.append(ConfigIssue(path, f"malformed reference {PREFIX}{name!r}: expected {PREFIX}NAME"))
        elif (refused := trust.env_issue(path, name, allowed, suffix)) is not None:
            issues.append(refused)  # the gateway's own variables, and GATEWAY_ALLOWED_ENV (gateway.validation.trust)
        elif env is not None and not env.get(name):
            issues.append(
                ConfigIssue(
                    path,
                    f"environment variable {name} is not set on this replica{suffix}; "
                    "LiteLLM would silently use None (or fall back to OPENAI_API_KEY)",
                )
            )
    return issues


def resolve(config: Any, env: Mapping[str, str], *, placeholder: bool = False) -> Any:
    """Return a deep copy with every reference replaced by its value (or a placeholder, for publishers)."""

    def sub(value: Any) -> Any:
        if isinstance(value, str) and value.startswith(PREFIX):
            name = value[len(PREFIX) :]
            if name in env:
                return env[name]
            return f"placeholder-{name}" if placeholder else None
        if isinstance(value, dict):
            return {k: sub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [sub(v) for v in value]
        return value

    return sub(copy.deepcopy(config))
