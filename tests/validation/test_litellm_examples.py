"""LiteLLM's own shipped example configs go through publisher mode as users would upload them.

The gateway must accept what LiteLLM accepts, except where it is stricter on
purpose. Each rejection is listed here with its reason (and in
docs/validation.md); a new rejection, or a listed one that starts passing,
fails this test so the list stays true.
"""

from __future__ import annotations

from pathlib import Path

import litellm
import pytest

from gateway.validation import ValidationOptions, validate

EXAMPLES = sorted((Path(litellm.__file__).parent / "proxy" / "example_config_yaml").glob("*.yaml"))

#: file -> fragment of the first error: why the gateway rejects it.
REJECTED = {
    # Literal API keys / database URLs in the file: the gateway wants os.environ/NAME references.
    "disable_schema_update.yaml": "literal secret",
    "enterprise_config.yaml": "literal secret",
    "load_balancer.yaml": "literal secret",
    # Reads os.environ/REDIS_PASSWORD, the gateway's own Redis password (gateway.validation.trust).
    "multi_instance_simple_config.yaml": "REDIS_PASSWORD is one of the gateway's own",
    "otel_test_config.yaml": "literal secret",
    "pass_through_config.yaml": "literal secret",
    "reject_clientside_metadata_tags_config.yaml": "literal secret",
    "spend_tracking_config.yaml": "literal secret",
    "store_model_db_config.yaml": "literal secret",
    "test_pipeline_config.yaml": "literal secret",
    # A deployment with no litellm_params: LiteLLM's load_config would crash on it at boot.
    "langfuse_config.yaml": "required mapping",
}


def test_examples_were_found() -> None:
    """The installed litellm ships its example configs where we look for them."""
    assert len(EXAMPLES) >= 20


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_litellm_example_in_publisher_mode(path: Path) -> None:
    """Accepted unless listed in REJECTED, and then rejected for the listed reason."""
    report = validate(path.read_bytes(), ValidationOptions(mode="publisher"))
    if path.name in REJECTED:
        assert not report.valid, f"{path.name} is listed as rejected but now validates"
        assert REJECTED[path.name] in report.errors[0].message, [str(e) for e in report.errors]
    else:
        assert report.valid, [str(e) for e in report.errors]


#: Rejected for a second reason once literal secrets are allowed.
ALSO_REJECTED = {
    # Its environment_variables (REDIS_HOST...) are referenced by nothing: LiteLLM exports them to the process
    # and reads them implicitly; the gateway does not (gateway.validation.envsection). Next it would be refused
    # because `mistralai/...` names no LiteLLM provider.
    "load_balancer.yaml": "environment_variables.REDIS_HOST: nothing in the config references",
    # general_settings LiteLLM reads only while booting from its own file, so never in force here
    # (gateway.validation.unenforced).
    "pass_through_config.yaml": "general_settings.custom_auth: refused",
    "reject_clientside_metadata_tags_config.yaml": "general_settings.database_url: refused",
    "store_model_db_config.yaml": "general_settings.store_model_in_db: refused",
}


@pytest.mark.parametrize("name", sorted(n for n, why in REJECTED.items() if why == "literal secret"))
def test_literal_secret_examples_when_literal_secrets_are_allowed(name: str) -> None:
    """With literal secrets allowed these examples pass, except the listed ones, for the listed reason."""
    path = next(p for p in EXAMPLES if p.name == name)
    report = validate(path.read_bytes(), ValidationOptions(mode="publisher", allow_literal_secrets=True))
    if name in ALSO_REJECTED:
        assert [e for e in report.errors if str(e).startswith(ALSO_REJECTED[name])], [str(e) for e in report.errors]
    else:
        assert report.valid, [str(e) for e in report.errors]
