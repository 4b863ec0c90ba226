"""Item 6: a router/litellm setting naming a model group that does not exist is refused with path and name."""

from __future__ import annotations

import pytest

from gateway.validation import ValidationOptions, validate

ENV = {"LITELLM_MASTER_KEY": "sk-" + "x" * 40}
MODELS = (
    "model_list:\n"
    "  - model_name: gpt-4\n    litellm_params: {model: openai/gpt-4, mock_response: a}\n"
    "  - model_name: gpt-4o\n    litellm_params: {model: openai/gpt-4o, mock_response: b}\n"
)


@pytest.mark.parametrize(
    ("extra", "path", "name"),
    [
        ("router_settings:\n  fallbacks: [{gpt-4: [gpt-5]}]\n", "router_settings.fallbacks[0].gpt-4[0]", "gpt-5"),
        ("router_settings:\n  fallbacks: [{gpt-5: [gpt-4]}]\n", "router_settings.fallbacks[0].gpt-5", "gpt-5"),
        ("router_settings:\n  context_window_fallbacks: [{gpt-4: [gpt-4-32k]}]\n", "router_settings.context_window_fallbacks[0].gpt-4[0]", "gpt-4-32k"),
        ("router_settings:\n  content_policy_fallbacks: [{gpt-4: [claude]}]\n", "router_settings.content_policy_fallbacks[0].gpt-4[0]", "claude"),
        ("router_settings:\n  default_fallbacks: [gpt-4o, llama]\n", "router_settings.default_fallbacks[1]", "llama"),
        ("router_settings:\n  model_group_alias: {gpt-3.5: gpt-35-turbo}\n", "router_settings.model_group_alias.gpt-3.5", "gpt-35-turbo"),
        ("router_settings:\n  model_group_alias: {old: {model: gone, hidden: true}}\n", "router_settings.model_group_alias.old.model", "gone"),
        ("router_settings:\n  model_group_retry_policy: {gpt-9: {TimeoutErrorRetries: 1}}\n", "router_settings.model_group_retry_policy.gpt-9", "gpt-9"),
        ("litellm_settings:\n  fallbacks: [{gpt-4: [nope]}]\n", "litellm_settings.fallbacks[0].gpt-4[0]", "nope"),
    ],
)
def test_dangling_group_reference_is_rejected(extra: str, path: str, name: str) -> None:
    """Each setting that names a group is checked; the error has the YAML path and the missing name."""
    for mode in ("replica", "publisher"):
        report = validate((MODELS + extra).encode(), ValidationOptions(mode=mode, env=ENV))  # type: ignore[arg-type]
        assert [e.path for e in report.errors] == [path], report.errors
        assert repr(name) in report.errors[0].message


def test_dangling_per_deployment_fallback_is_rejected() -> None:
    """A deployment's own litellm_params.fallbacks are checked too."""
    data = MODELS.replace("mock_response: b}", "mock_response: b, fallbacks: [missing]}")
    report = validate(data.encode(), ValidationOptions(mode="replica", env=ENV))
    assert [(e.path, "'missing'" in e.message) for e in report.errors] == [("model_list[1].litellm_params.fallbacks[0]", True)]


@pytest.mark.parametrize(
    "extra",
    [
        "router_settings:\n  fallbacks: [{gpt-4: [gpt-4o]}]\n  model_group_alias: {latest: gpt-4o}\n",
        "router_settings:\n  fallbacks: [{'*': [gpt-4o]}]\n",
        "router_settings:\n  model_group_alias: {latest: gpt-4o}\n  fallbacks: [{latest: [gpt-4]}]\n",
    ],
)
def test_references_to_groups_aliases_and_the_generic_key_are_accepted(extra: str) -> None:
    """Existing groups, aliases and the '*' generic fallback are valid references."""
    report = validate((MODELS + extra).encode(), ValidationOptions(mode="replica", env=ENV))
    assert report.valid, report.errors


def test_wildcard_group_covers_what_it_routes() -> None:
    """A fallback to openai/gpt-4.1 is valid when a deployment's model_name is openai/*."""
    data = MODELS + "  - model_name: openai/*\n    litellm_params: {model: openai/*}\nrouter_settings:\n  fallbacks: [{gpt-4: [openai/gpt-4.1]}]\n"
    report = validate(data.encode(), ValidationOptions(mode="replica", env=ENV))
    assert report.valid, report.errors
