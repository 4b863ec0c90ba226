"""The config.yaml JSON Schema: generated from the validator's rules, checked in current, and it flags what the validator flags."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from gateway.schema import render

REPO = Path(__file__).resolve().parents[1]
CHECKED_IN = REPO / "docs" / "config.schema.json"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(render())


def _errors(schema: dict[str, Any], config: Any) -> set[str]:
    """Paths of every error, including those inside anyOf branches (what an editor underlines)."""
    validator = jsonschema.Draft202012Validator(schema)
    paths: set[str] = set()
    pending = list(validator.iter_errors(config))
    while pending:
        error = pending.pop()
        paths.add(".".join(str(p) for p in error.absolute_path))
        pending.extend(error.context or ())
    return paths


def test_checked_in_schema_is_current(schema: dict[str, Any]) -> None:
    """docs/config.schema.json is what `genai-gateway schema` prints today (regenerate it when the validator changes)."""
    assert json.loads(CHECKED_IN.read_text()) == schema, "run: genai-gateway schema > docs/config.schema.json"


@pytest.mark.parametrize("name", ["examples/config.yaml", "config.yaml.example"])
def test_shipped_configs_conform(schema: dict[str, Any], name: str) -> None:
    """The configs the repository ships raise no schema error."""
    assert _errors(schema, yaml.safe_load((REPO / name).read_text())) == set()


BROKEN = [
    ({"model_list": [{"litellm_params": {"model": "openai/x"}}]}, "model_list.0"),
    ({"model_list": [{"model_name": "x", "litellm_params": {"model": "openai/x", "rpm": -1}}]}, "model_list.0.litellm_params.rpm"),
    ({"model_list": [{"model_name": "x", "litellm_params": {"model": "openai/x", "api_key": "sk-literal"}}]}, "model_list.0.litellm_params.api_key"),
    ({"model_list": [{"model_name": "x", "litellm_params": {"model": "openai/x", "api_base": "ftp://x"}}]}, "model_list.0.litellm_params.api_base"),
    ({"model_list": [], "router_settings": {"num_retires": 2}}, "router_settings"),
    ({"model_list": [], "litellm_settings": {"cache": "yes"}}, "litellm_settings.cache"),
    ({"model_list": [], "model_lists": []}, ""),
]


@pytest.mark.parametrize(("config", "path"), BROKEN, ids=[p or "top-level" for _, p in BROKEN])
def test_broken_configs_are_flagged_at_their_path(schema: dict[str, Any], config: dict[str, Any], path: str) -> None:
    """Each mistake the validator rejects (missing model_name, negative rpm, literal secret, typo'd router key, ...) is a schema error at its path."""
    assert path in _errors(schema, config)


def test_env_references_pass(schema: dict[str, Any]) -> None:
    """os.environ/NAME is accepted wherever a secret or number may come from the environment."""
    config = {"model_list": [{"model_name": "x", "litellm_params": {"model": "azure/x", "api_key": "os.environ/KEY", "rpm": "os.environ/RPM"}}]}
    assert _errors(schema, config) == set()
