"""Every key that can authenticate passes one strength rule.

A replica authenticates with exactly one key: ``general_settings.master_key``
when the config names one (LiteLLM's own precedence), else ``LITELLM_MASTER_KEY``.
``LITELLM_MASTER_KEY`` is checked once at startup (``gateway.settings``); a key
that arrives through the config is checked here, on every release, against
the same rule, so ``sk-1234`` cannot slip in through ``os.environ/NAME``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import ConfigIssue
from gateway.settings import MIN_MASTER_KEY_LENGTH, PUBLIC_MASTER_KEYS
from gateway.validation.envrefs import PREFIX

PATH = "general_settings.master_key"
ENV_KEY = "LITELLM_MASTER_KEY"


def weakness(key: str) -> str | None:
    """Why ``key`` is too weak to authenticate anyone, or None when it is strong enough."""
    if key in PUBLIC_MASTER_KEYS:
        return "it is a publicly known example key"
    if len(key) < MIN_MASTER_KEY_LENGTH:
        return f"it has {len(key)} characters; at least {MIN_MASTER_KEY_LENGTH} random characters are required"
    return None


def configured(config: Mapping[str, Any]) -> Any:
    """The raw ``general_settings.master_key`` value (a reference or a literal), or None."""
    general = config.get("general_settings")
    return general.get("master_key") if isinstance(general, Mapping) else None


def source(config: Mapping[str, Any]) -> str:
    """Which key authenticates once ``config`` is applied; names the source, never the key."""
    raw = configured(config)
    if raw is None:
        return ENV_KEY
    if isinstance(raw, str) and raw.startswith(PREFIX):
        return f"{PATH} ({raw})"
    return f"{PATH} (literal)"


def check(config: Mapping[str, Any], *, env: Mapping[str, str] | None, require: bool) -> list[ConfigIssue]:
    """Errors for a weak or missing key; ``env`` None (publisher) cannot see referenced values.

    ``require``: the replica has no ``LITELLM_MASTER_KEY`` of its own, so the
    config must provide one (LiteLLM refuses to boot without a key).
    """
    raw = configured(config)
    if raw is None:
        if require:
            return [ConfigIssue(PATH, f"no master key: set {ENV_KEY} or {PATH}: os.environ/NAME")]
        return []
    if not isinstance(raw, str) or not raw:
        return [ConfigIssue(PATH, f"expected {PREFIX}NAME, got {raw!r}")]
    if raw.startswith(PREFIX):
        if env is None:
            return []  # the publisher cannot see the value; every replica checks it before applying
        name = raw[len(PREFIX) :]
        key, origin = env.get(name), f"{PATH} ({raw})"
        if not key:
            return []  # envrefs.check reports the unset variable with its path
    else:
        key, origin = raw, PATH
    reason = weakness(key)
    if reason is None:
        return []
    return [
        ConfigIssue(
            PATH,
            f"the master key from {origin} is too weak ({reason}); it would replace {ENV_KEY} for every request: "
            "use e.g. sk-$(openssl rand -hex 24)",
        )
    ]
