"""A config cannot read the gateway's own variables, nor send a credential to a host off GATEWAY_ALLOWED_HOSTS."""

from __future__ import annotations

import pytest
import yaml

from gateway.errors import SettingsError
from gateway.settings import Settings
from gateway.validation import ValidationOptions, validate

ENV = {"LITELLM_MASTER_KEY": "sk-" + "m" * 30, "BLOB_CONNECTION_STRING": "UseDevelopmentStorage=true", "UPSTREAM_KEY": "k",
       "REDIS_PASSWORD": "p", "AZURE_CLIENT_SECRET": "s", "SERVICEBUS_CONNECTION_STRING": "Endpoint=sb://x", "EVIL_BASE": "https://evil.example.com"}
HOSTS = ("*.openai.azure.com", "*.azuredatabricks.net")


def _deployment(**params: object) -> bytes:
    return yaml.safe_dump({"model_list": [{"model_name": "m", "litellm_params": {"model": "azure/m", **params}}]}).encode()


def _errors(data: bytes, **options: object) -> list[str]:
    report = validate(data, ValidationOptions(mode="replica", env=ENV, semantic=False, **options))  # type: ignore[arg-type]
    return [str(e) for e in report.errors]


@pytest.mark.parametrize("name", ["LITELLM_MASTER_KEY", "BLOB_CONNECTION_STRING", "REDIS_PASSWORD", "AZURE_CLIENT_SECRET", "SERVICEBUS_CONNECTION_STRING"])
@pytest.mark.parametrize("form", ["os.environ/", "oidc/env/"])
def test_gateway_variables_are_refused_by_default(name: str, form: str) -> None:
    """os.environ/NAME and oidc/env/NAME of the gateway's own variables are refused, unless GATEWAY_ALLOWED_ENV lists them."""
    data = _deployment(api_base="https://a.openai.azure.com", api_key=form + name)
    [error] = _errors(data)
    assert error.startswith("model_list[0].litellm_params.api_key:") and f"{name} is one of the gateway's own" in error
    assert _errors(data, allowed_env=frozenset({name})) == []


def test_master_key_variable_is_fine_as_the_master_key() -> None:
    """general_settings.master_key: os.environ/LITELLM_MASTER_KEY is what the variable is for."""
    data = yaml.safe_dump({"model_list": [{"model_name": "m", "litellm_params": {"model": "openai/m", "mock_response": "x"}}],
                           "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"}}).encode()
    assert _errors(data) == []


def test_allow_list_limits_every_reference_on_a_replica() -> None:
    """With GATEWAY_ALLOWED_ENV set, a replica refuses names it does not list (oidc/env/ included)."""
    data = _deployment(api_base="https://a.openai.azure.com", api_key="oidc/env/UPSTREAM_KEY")
    assert _errors(data, allowed_env=frozenset({"OTHER"})) == [
        "model_list[0].litellm_params.api_key: environment variable UPSTREAM_KEY is not in GATEWAY_ALLOWED_ENV (used by deployment model_list[0] (m))"
    ]
    assert _errors(data, allowed_env=frozenset({"UPSTREAM_KEY"})) == []


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"api_base": "https://evil.example.com", "api_key": "os.environ/UPSTREAM_KEY"}, "host evil.example.com is not in"),
        ({"api_base": "os.environ/EVIL_BASE", "api_key": "os.environ/UPSTREAM_KEY"}, "host evil.example.com is not in"),
        ({"api_base": "https://openai.azure.com.evil.example", "api_key": "os.environ/UPSTREAM_KEY"}, "is not in"),
        ({"api_key": "os.environ/UPSTREAM_KEY"}, "required with GATEWAY_ALLOWED_HOSTS"),
    ],
    ids=["literal-url", "url-from-env", "suffix-trick", "no-api-base"],
)
def test_credentials_go_only_to_allowed_hosts(params: dict, fragment: str) -> None:
    """Every credentialed deployment's api_base (resolved on a replica) must be on GATEWAY_ALLOWED_HOSTS."""
    [error] = _errors(_deployment(**params), allowed_hosts=HOSTS)
    assert error.startswith("model_list[0].litellm_params.api_base:") and fragment in error
    assert _errors(_deployment(**params)) == []  # no list, no host check


def test_allowed_host_passes() -> None:
    """A sub-domain of a listed *.domain passes."""
    assert _errors(_deployment(api_base="https://eastus.openai.azure.com/", api_key="os.environ/UPSTREAM_KEY"), allowed_hosts=HOSTS) == []


def test_replica_settings_read_both_lists() -> None:
    """GATEWAY_ALLOWED_ENV / GATEWAY_ALLOWED_HOSTS reach the replica's settings; a malformed entry names its variable."""
    env = {"LITELLM_MASTER_KEY": "sk-" + "m" * 30, "GATEWAY_ALLOWED_ENV": "A, B", "GATEWAY_ALLOWED_HOSTS": "*.openai.azure.com, x.net"}
    settings = Settings.from_env({**env, "BLOB_ACCOUNT_URL": "https://a.blob.core.windows.net"})
    assert settings.allowed_env == frozenset({"A", "B"}) and settings.allowed_hosts == ("*.openai.azure.com", "x.net")
    with pytest.raises(SettingsError, match="GATEWAY_ALLOWED_HOSTS"):
        Settings.from_env({**env, "BLOB_ACCOUNT_URL": "https://a.blob.core.windows.net", "GATEWAY_ALLOWED_HOSTS": "https://x.net/"})
