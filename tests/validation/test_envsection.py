"""Item 8: the environment_variables section is judged the same by the publisher and every replica."""

from __future__ import annotations

import pytest
import yaml

from gateway.validation import ValidationOptions, validate

KEY = "sk-" + "x" * 40


def _config(section: dict, **params: object) -> bytes:
    deployment = {"model_name": "m", "litellm_params": {"model": "azure/m", "api_base": "https://m.example",
                                                        "api_key": "os.environ/AZURE_KEY_M", **params}}
    return yaml.safe_dump({"model_list": [deployment], "environment_variables": section}).encode()


def _both(data: bytes, env: dict[str, str] | None = None) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    replica = validate(data, ValidationOptions(mode="replica", env={"LITELLM_MASTER_KEY": KEY, "AZURE_KEY_M": "k", **(env or {})}))
    publisher = validate(data, ValidationOptions(mode="publisher", env={}))
    return [(e.path, e.message) for e in replica.errors], [(e.path, e.message) for e in publisher.errors]


def test_referenced_non_secret_value_is_valid_in_both_modes() -> None:
    """api_version: os.environ/AZ_VERSION defined in the section is valid for the publisher and a replica without it."""
    replica, publisher = _both(_config({"AZ_VERSION": "2024-06-01"}, api_version="os.environ/AZ_VERSION"))
    assert replica == publisher == []


@pytest.mark.parametrize(
    ("section", "params", "fragment"),
    [
        ({"UNUSED_SETTING": "x"}, {}, "nothing in the config references os.environ/UNUSED_SETTING"),
        ({"AZURE_API_KEY": "abc"}, {}, "literal secret"),
        ({"REGION_NAME": "secret-ish"}, {"api_key": "os.environ/REGION_NAME"}, "it is used as model_list[0].litellm_params.api_key"),
        ({"CHAIN": "os.environ/OTHER"}, {"api_version": "os.environ/CHAIN"}, "chains are not supported"),
    ],
)
def test_section_problems_are_errors_in_both_modes(section: dict, params: dict, fragment: str) -> None:
    """Unreferenced names, secrets and chains are refused by the publisher and the replica alike, with the path."""
    replica, publisher = _both(_config(section, **params))
    assert replica == publisher
    name = next(iter(section))
    assert any(path == f"environment_variables.{name}" and fragment in message for path, message in replica), replica


def test_section_value_wins_over_the_replicas_environment() -> None:
    """As in LiteLLM, the section overrides the process value; the replica judges with the section's value."""
    data = _config({"AZ_VERSION": "2024-06-01"}, api_version="os.environ/AZ_VERSION")
    report = validate(data, ValidationOptions(mode="replica", env={"LITELLM_MASTER_KEY": KEY, "AZURE_KEY_M": "k", "AZ_VERSION": ""}))
    assert report.valid, report.errors
