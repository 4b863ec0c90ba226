"""Item 1: every key that can authenticate passes the same strength rule as LITELLM_MASTER_KEY."""

from __future__ import annotations

import pytest
import yaml

from gateway.validation import ValidationOptions, master_key, validate

STRONG = "sk-" + "s" * 40
DEPLOYMENT = [{"model_name": "m", "litellm_params": {"model": "openai/m", "mock_response": "x"}}]


def _config(key: object | None) -> bytes:
    body: dict = {"model_list": DEPLOYMENT}
    if key is not None:
        body["general_settings"] = {"master_key": key}
    return yaml.safe_dump(body).encode()


@pytest.mark.parametrize("weak", ["sk-1234", "sk-12345", "short-key", "a" * 15])
def test_weak_key_referenced_from_config_is_rejected_even_with_strong_env_key(weak: str) -> None:
    """general_settings.master_key: os.environ/MY_GATEWAY_KEY=<weak> is refused with its path, as LITELLM_MASTER_KEY would be."""
    env = {"LITELLM_MASTER_KEY": STRONG, "MY_GATEWAY_KEY": weak}
    report = validate(_config("os.environ/MY_GATEWAY_KEY"), ValidationOptions(mode="replica", env=env))
    assert not report.valid
    [error] = report.errors
    assert error.path == "general_settings.master_key"
    assert "os.environ/MY_GATEWAY_KEY" in error.message and "too weak" in error.message
    assert weak not in error.message  # the key itself is never echoed


def test_strong_key_referenced_from_config_is_accepted() -> None:
    """A strong referenced key is valid, with or without LITELLM_MASTER_KEY."""
    env = {"MY_GATEWAY_KEY": STRONG}
    options = ValidationOptions(mode="replica", env=env, require_master_key=True)
    assert validate(_config("os.environ/MY_GATEWAY_KEY"), options).valid


def test_weak_literal_key_is_rejected_even_when_literals_are_allowed() -> None:
    """GATEWAY_ALLOW_LITERAL_SECRETS lets a literal through the secret check, not the strength rule."""
    options = ValidationOptions(mode="replica", env={"LITELLM_MASTER_KEY": STRONG}, allow_literal_secrets=True)
    report = validate(_config("sk-1234"), options)
    assert [(e.path, "too weak" in e.message) for e in report.errors] == [("general_settings.master_key", True)]


def test_missing_key_is_rejected_when_the_replica_has_none() -> None:
    """With no LITELLM_MASTER_KEY, a config without a key is refused (LiteLLM would not boot)."""
    report = validate(_config(None), ValidationOptions(mode="replica", env={}, require_master_key=True))
    assert [e.path for e in report.errors] == ["general_settings.master_key"]


def test_publisher_cannot_see_the_value_and_does_not_guess() -> None:
    """The Function has no replica env: a reference passes there; every replica checks the value."""
    assert validate(_config("os.environ/MY_GATEWAY_KEY"), ValidationOptions(mode="publisher")).valid


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (None, "LITELLM_MASTER_KEY"),
        ("os.environ/MY_GATEWAY_KEY", "general_settings.master_key (os.environ/MY_GATEWAY_KEY)"),
        (STRONG, "general_settings.master_key (literal)"),
    ],
)
def test_source_names_where_the_key_comes_from_never_the_key(key: str | None, expected: str) -> None:
    """The key source shown on /health/config names the variable, never the value."""
    config = yaml.safe_load(_config(key))
    assert master_key.source(config) == expected
