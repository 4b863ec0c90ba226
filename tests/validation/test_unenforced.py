"""Settings this LiteLLM build would accept and not enforce are refused at validation, with path and reason."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from gateway.validation import ValidationOptions, unenforced, validate

MODELS = [{"model_name": "m", "litellm_params": {"model": "openai/m", "mock_response": "hi"}}]
OPTIONS = ValidationOptions(mode="publisher", semantic=False)


def _report(**sections: Any) -> Any:
    return validate(yaml.safe_dump({"model_list": MODELS, **sections}).encode(), OPTIONS)


@pytest.mark.parametrize("key", sorted(unenforced.GENERAL_SETTINGS))
def test_inert_general_setting_is_refused_with_its_path(key: str) -> None:
    """Every boot-only or enterprise-only general_settings key is an error naming general_settings.<key>."""
    report = _report(general_settings={key: True})
    assert [e.path for e in report.errors] == [f"general_settings.{key}"]
    assert report.errors[0].message.startswith("refused: ")


def test_inert_litellm_setting_and_section_are_refused() -> None:
    """litellm_settings.allow_dynamic_callback_disabling and a worker_registry section are refused too."""
    report = _report(litellm_settings={"allow_dynamic_callback_disabling": True}, worker_registry=[{"url": "x"}])
    assert sorted(e.path for e in report.errors) == ["litellm_settings.allow_dynamic_callback_disabling", "worker_registry"]


@pytest.mark.parametrize(
    ("key", "value", "valid"),
    [
        ("max_request_size_mb", 1, True),
        ("max_request_size_mb", 0.5, True),
        ("max_request_size_mb", 0, False),
        ("max_request_size_mb", "1", False),
        ("global_max_parallel_requests", 2, True),
        ("global_max_parallel_requests", 2.5, False),
        ("global_max_parallel_requests", True, False),
    ],
)
def test_caps_the_gateway_enforces_need_positive_numbers(key: str, value: Any, valid: bool) -> None:
    """The two caps enforced at the front are accepted when usable and refused with their path when not."""
    report = _report(general_settings={key: value})
    assert report.valid is valid
    if not valid:
        assert [e.path for e in report.errors] == [f"general_settings.{key}"]
