"""The config diff: groups and deployments added/removed/changed, settings by key, secrets never shown."""

from __future__ import annotations

import pytest

from gateway.operator.diff import diff_bytes
from gateway.validation.loader import LoadError

BEFORE = b"""
model_list:
  - model_name: gpt-4
    litellm_params: {model: azure/gpt-4, api_base: "https://east.example.com", api_key: os.environ/EAST_KEY}
  - model_name: gpt-4
    litellm_params: {model: azure/gpt-4, api_base: "https://west.example.com", api_key: os.environ/WEST_KEY}
  - model_name: retired
    litellm_params: {model: openai/retired}
router_settings: {num_retries: 2, routing_strategy: simple-shuffle}
litellm_settings: {request_timeout: 30}
general_settings: {master_key: os.environ/LITELLM_MASTER_KEY}
"""

AFTER = b"""
model_list:
  - model_name: gpt-4
    litellm_params: {model: azure/gpt-4, api_base: "https://west.example.com", api_key: sk-literal-0123456789abcdefghij}
  - model_name: gpt-4
    litellm_params: {model: azure/gpt-4, api_base: "https://east.example.com", api_key: os.environ/EAST_KEY, rpm: 100}
  - model_name: brand-new
    litellm_params: {model: openai/new}
router_settings: {num_retries: 3, routing_strategy: simple-shuffle}
general_settings: {master_key: sk-another-literal-key-abcdefgh}
"""


def test_groups_and_deployments() -> None:
    """Reordering is not a change; an added parameter is; groups added and removed are named."""
    diff = diff_bytes(BEFORE, AFTER)
    assert (diff.groups_added, diff.groups_removed, diff.groups_changed) == (["brand-new"], ["retired"], ["gpt-4"])
    changed = {d.deployment: d for d in diff.deployments if d.kind == "changed"}
    east = changed["azure/gpt-4 @ https://east.example.com"]
    assert [str(c) for c in east.fields] == ["+ litellm_params.rpm: 100"]
    assert {(d.group, d.kind) for d in diff.deployments if d.kind != "changed"} == {("brand-new", "added"), ("retired", "removed")}


def test_settings_sections_by_key() -> None:
    """router_settings changes by key; a whole litellm_settings key removed is listed."""
    diff = diff_bytes(BEFORE, AFTER)
    assert [str(c) for c in diff.sections["router_settings"]] == ["~ num_retries: 2 -> 3"]
    assert [str(c) for c in diff.sections["litellm_settings"]] == ["- request_timeout: 30"]


def test_secrets_are_masked_and_references_shown() -> None:
    """A literal secret never appears in the summary or the JSON; an os.environ/ reference does."""
    diff = diff_bytes(BEFORE, AFTER)
    text = "\n".join(diff.lines()) + repr(diff.as_dict())
    assert "sk-literal" not in text and "sk-another" not in text
    assert "~ litellm_params.api_key: os.environ/WEST_KEY -> <secret>" in text
    assert "~ master_key: os.environ/LITELLM_MASTER_KEY -> <secret>" in text


def test_identical_configs_have_no_changes() -> None:
    """The same config (reordered) diffs to nothing."""
    assert diff_bytes(BEFORE, BEFORE).lines() == ["no changes"]


def test_first_release_is_all_added() -> None:
    """Against no current release, every group is added."""
    assert diff_bytes(None, AFTER).groups_added == ["brand-new", "gpt-4"]


def test_unreadable_yaml_raises_load_error() -> None:
    """A file that is not YAML is a LoadError naming the problem, not a traceback."""
    with pytest.raises(LoadError):
        diff_bytes(BEFORE, b"model_list: [\n")


def test_an_edited_api_base_is_a_changed_deployment() -> None:
    """Changing a deployment's api_base pairs it by model: one "changed" entry, not a remove plus an add."""
    before = b"model_list:\n  - model_name: g\n    litellm_params: {model: openai/g, api_base: os.environ/A}\n"
    after = b"model_list:\n  - model_name: g\n    litellm_params: {model: openai/g}\n"
    [change] = diff_bytes(before, after).deployments
    assert change.kind == "changed" and [str(c) for c in change.fields] == ["- litellm_params.api_base: os.environ/A"]
