"""Item 7: an unquoted YAML date is refused wherever the config can hold it, with its path."""

from __future__ import annotations

import pytest

from gateway.validation import ValidationOptions, validate

ENV = {"LITELLM_MASTER_KEY": "sk-" + "x" * 40}
DEPLOYMENT = "model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/m\n      mock_response: hi\n"


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        ("litellm_settings:\n  api_version: 2024-02-01\n", "litellm_settings.api_version"),
        ("router_settings:\n  model_group_alias:\n    old: 2024-02-01\n", "router_settings.model_group_alias.old"),
        ("general_settings:\n  some_version: 2024-02-01\n", "general_settings.some_version"),
        ("litellm_settings:\n  cache_params:\n    namespace: 2024-02-01\n", "litellm_settings.cache_params.namespace"),
        ("environment_variables:\n  API_VERSION: 2024-02-01\n", "environment_variables.API_VERSION"),
        ("litellm_settings:\n  fallbacks_at: 2024-02-01T10:00:00\n", "litellm_settings.fallbacks_at"),
    ],
)
def test_date_outside_litellm_params_is_rejected_with_its_path(extra: str, path: str) -> None:
    """litellm_settings.api_version: 2024-02-01 (and any other place) is an error saying to quote it."""
    report = validate((DEPLOYMENT + extra).encode(), ValidationOptions(mode="replica", env=ENV))
    assert [(e.path, "quote it" in e.message) for e in report.errors] == [(path, True)]


def test_date_in_deployment_params_and_model_info_is_rejected() -> None:
    """Dates inside a deployment (litellm_params, model_info) name the deployment's path."""
    data = (
        "model_list:\n  - model_name: m\n    litellm_params:\n      model: azure/m\n      api_base: https://m.example\n"
        "      api_version: 2024-02-01\n    model_info:\n      released: 2024-05-13\n"
    )
    report = validate(data.encode(), ValidationOptions(mode="replica", env=ENV))
    assert sorted(e.path for e in report.errors) == ["model_list[0].litellm_params.api_version", "model_list[0].model_info.released"]


def test_quoted_date_is_a_string_and_valid() -> None:
    """The fix the message suggests works."""
    report = validate((DEPLOYMENT + 'litellm_settings:\n  api_version: "2024-02-01"\n').encode(), ValidationOptions(mode="replica", env=ENV))
    assert report.valid, report.errors
