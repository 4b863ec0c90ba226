"""Literal secrets are caught by value shape wherever they sit, and no error text carries a whole secret."""

from __future__ import annotations

import pytest
import yaml

from gateway.redact import preview, scrub
from gateway.secret_shapes import secret_shape
from gateway.validation import ValidationOptions, validate

AZURE_KEY = "3f9a1c7e5b2d4f6a8c0e1b3d5f7a9c2e"
MOCK = [{"model_name": "m", "litellm_params": {"model": "openai/m", "mock_response": "hi"}}]


def _file(document: dict) -> bytes:
    return yaml.safe_dump({"model_list": MOCK, **document}).encode()

SECRETS = {
    "openai-key-in-environment_variables": ({"environment_variables": {"UPSTREAM": "sk-proj-" + "Ab3dEf5hIj7lMn9pQr1tUv"}},
                                            "environment_variables.UPSTREAM", "sk-"),
    "redis-url-with-password": ({"litellm_settings": {"cache": True, "cache_params": {"type": "redis", "url": "rediss://:Hunter2Hunter2@r.example.net:6380/0"}}},
                                "litellm_settings.cache_params.url", "a URL with a password"),
    "aws_access_key_id": ({"model_list": [{"model_name": "m", "litellm_params": {"model": "bedrock/x", "aws_access_key_id": "AKIAIOSFODNN7EXAMPLE"}}]},
                          "model_list[0].litellm_params.aws_access_key_id", "aws_access_key_id"),
    "vertex_credentials": ({"model_list": [{"model_name": "m", "litellm_params": {"model": "vertex_ai/x", "vertex_credentials": '{"type": "service_account"}'}}]},
                           "model_list[0].litellm_params.vertex_credentials", "vertex_credentials"),
    "langfuse_secret": ({"litellm_settings": {"langfuse_secret": "lf-plain-value-here"}}, "litellm_settings.langfuse_secret", "langfuse_secret"),
    "storage-account-key": ({"general_settings": {"store_location": "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=cGxhaW4ta2V5LXZhbHVlLWhlcmU=;EndpointSuffix=core.windows.net"}},
                            "general_settings.store_location", "AccountKey="),
    "servicebus-sas": ({"general_settings": {"bus": "Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=abc123def456"}},
                       "general_settings.bus", "SharedAccessKey="),
    "pem-block": ({"general_settings": {"tls": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"}},
                  "general_settings.tls", "PEM"),
    "azure-key-under-an-innocent-name": ({"model_list": [{"model_name": "m", "litellm_params": {"model": "azure/x", "extra_key": AZURE_KEY}}]},
                                         "model_list[0].litellm_params.extra_key", "random token"),
}
NOT_SECRETS = [
    "https://eastus-openai.openai.azure.com/", "azure/gpt-4-eastus", "2024-02-01", "Meta-Llama-3.1-405B-Instruct-FP8",
    "arn:aws:iam::888602223428:role/service-role/AmazonBedrockExecutionRoleForAgents_BB9HNW6V4CV",
    "0f3c9a1e-7b2d-4c5e-9f8a-1b2c3d4e5f60", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "redis://r.example.net:6379", "https://user@host.example.com/path",
]


@pytest.mark.parametrize("case", SECRETS, ids=list(SECRETS))
def test_literal_secret_is_refused_by_shape_or_key(case: str) -> None:
    """Each secret is refused at its YAML path, and no error message contains its value."""
    document, path, fragment = SECRETS[case]
    report = validate(_file(document), ValidationOptions(mode="publisher", semantic=False))
    hits = [e for e in report.errors if e.path == path and "literal secret" in e.message]
    assert hits and fragment in hits[0].message, [str(e) for e in report.errors]
    text = str(report.as_dict())
    for _path, value in _leaves(document):
        if len(value) >= 12:
            assert value not in text


@pytest.mark.parametrize("value", NOT_SECRETS)
def test_ordinary_values_are_not_secrets(value: str) -> None:
    """URLs without passwords, model names, ARNs, GUIDs and digests do not look like secrets."""
    assert secret_shape(value) is None


def test_literal_secrets_allowed_for_local_use() -> None:
    """GATEWAY_ALLOW_LITERAL_SECRETS turns the shape check off too."""
    document, _path, _ = SECRETS["redis-url-with-password"]
    options = ValidationOptions(mode="publisher", semantic=False, allow_literal_secrets=True)
    assert validate(_file(document), options).valid


def test_errors_that_echo_a_secret_field_show_only_a_preview() -> None:
    """A literal master key (no tell-tale shape) is never echoed whole: other checks' messages are redacted too."""
    key = "averylongliteralmasterkeyvalue"
    report = validate(_file({"general_settings": {"master_key": key}}),
                      ValidationOptions(mode="publisher", semantic=False))
    assert report.errors and all(key not in e.message for e in report.errors), [str(e) for e in report.errors]
    assert preview(key) == "'aver…' (30 chars)"
    assert scrub(f"got {key!r}", [key]) == "got ''aver…' (30 chars)'"


def _leaves(value: object, path: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, f"{path}[{i}]")]
    return [(path, value)] if isinstance(value, str) else []


def test_publisher_versions_are_not_secrets() -> None:
    """Event Grid sequencers (32 hex digits, leading zeros) pass through redaction: /health/config keeps versions."""
    version = "000000000000000018ec92f816756d16"
    assert secret_shape(version) is None and scrub(f"release {version} applied") == f"release {version} applied"
