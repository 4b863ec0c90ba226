"""The configs the seed README tells users to upload validate, in both modes."""

from __future__ import annotations

from pathlib import Path

from gateway.validation import ValidationOptions, validate

REPO = Path(__file__).resolve().parents[2]
SEED_ENV = {
    "AZURE_TENANT_ID": "33333333-3333-3333-3333-333333333333",
    "EASTUS_MI_CLIENT_ID": "11111111-1111-1111-1111-111111111111",
    "WESTUS_MI_CLIENT_ID": "22222222-2222-2222-2222-222222222222",
    "DATABRICKS_CLIENT_ID": "44444444-4444-4444-4444-444444444444",
    "DATABRICKS_CLIENT_SECRET": "not-a-real-secret",
    "DATABRICKS_TENANT_ID": "33333333-3333-3333-3333-333333333333",
}


def _example() -> bytes:
    return (REPO / "config.yaml.example").read_bytes()


def test_seed_config_validates_for_the_publisher() -> None:
    """The Function (no replica env) accepts the seed's Quick Start + Databricks config."""
    report = validate(_example(), ValidationOptions(mode="publisher"))
    assert report.valid, [str(e) for e in report.errors]


def test_seed_config_validates_on_a_replica_with_its_env() -> None:
    """A replica with every referenced variable set accepts it."""
    report = validate(_example(), ValidationOptions(mode="replica", env=SEED_ENV))
    assert report.valid, [str(e) for e in report.errors]


def test_seed_config_names_each_missing_variable_and_deployment() -> None:
    """A replica missing WESTUS_MI_CLIENT_ID rejects it, naming the variable and the deployment."""
    env = {k: v for k, v in SEED_ENV.items() if k != "WESTUS_MI_CLIENT_ID"}
    report = validate(_example(), ValidationOptions(mode="replica", env=env))
    assert [str(e) for e in report.errors] == [
        "model_list[1].litellm_params.client_id: environment variable WESTUS_MI_CLIENT_ID is not set on this "
        "replica (used by deployment model_list[1] (gpt-4)); LiteLLM would silently use None (or fall back to "
        "OPENAI_API_KEY)"
    ]


def test_publisher_allow_list_limits_env_names() -> None:
    """With an allow-list, the Function rejects references to variables the fleet does not define."""
    allowed = frozenset(SEED_ENV) - {"DATABRICKS_CLIENT_SECRET"}
    report = validate(_example(), ValidationOptions(mode="publisher", allowed_env=allowed))
    assert [e.path for e in report.errors] == ["model_list[2].litellm_params.client_secret"]


def test_embedded_default_config_validates() -> None:
    """examples/config.yaml (what `serve --config` runs) is valid with no env at all."""
    report = validate((REPO / "examples" / "config.yaml").read_bytes(), ValidationOptions(mode="replica"))
    assert report.valid, [str(e) for e in report.errors]
