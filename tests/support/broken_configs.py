"""Broken configs, each with the YAML path and message fragment its rejection must name.

Shared by the validator's unit tests and the live-gateway test, which writes
each one over a serving config and checks the old config keeps serving.
"""

from __future__ import annotations

from dataclasses import dataclass

GOOD_DEPLOYMENT = "model_list:\n  - model_name: ok\n    litellm_params:\n      model: openai/ok\n      mock_response: fine\n"


@dataclass(frozen=True)
class Broken:
    id: str
    data: bytes
    path: str
    fragment: str


def _cfg(body: str) -> bytes:
    return body.encode()


def _alias_bomb() -> bytes:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        refs = ",".join([f"*a{i-1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return ("\n".join(lines) + "\nmodel_list: []\n").encode()


BROKEN: list[Broken] = [
    Broken("empty-file", b"", "", "empty"),
    Broken("whitespace-only", b"   \n\n  \n", "", "empty"),
    Broken("comments-only", b"# nothing here\n", "", "no YAML document"),
    Broken("syntax-error", _cfg("model_list:\n  - model_name: x\n    litellm_params: {model: openai/x\n"), "", "YAML syntax error at line"),
    Broken("tab-indentation", _cfg("model_list:\n\t- model_name: x\n"), "", "YAML syntax error"),
    Broken("top-level-list", _cfg("- model_name: x\n"), "", "top level must be a mapping"),
    Broken("top-level-scalar", _cfg("hello\n"), "", "top level must be a mapping"),
    Broken("binary", bytes(range(256)) * 4, "", "NUL bytes"),
    Broken("non-utf8", "model_list: []\nname: caf\xe9\n".encode("latin-1"), "", "not valid UTF-8"),
    Broken("too-large-50mb", b"model_list: []\n#" + b"x" * (50 * 1024 * 1024), "", "limit is"),
    Broken("alias-bomb", _alias_bomb(), "a5", "alias bomb"),
    Broken("duplicate-top-key", _cfg("model_list: []\nmodel_list: []\n"), "model_list", "duplicate key"),
    Broken(
        "duplicate-param-key",
        _cfg("model_list:\n  - model_name: x\n    litellm_params:\n      model: openai/a\n      model: openai/b\n"),
        "model_list[0].litellm_params.model",
        "duplicate key",
    ),
    Broken("no-model-list", _cfg("router_settings: {num_retries: 1}\n"), "model_list", "missing or empty"),
    Broken("empty-model-list", _cfg("model_list: []\n"), "model_list", "missing or empty"),
    Broken("model-list-mapping", _cfg("model_list: {model_name: x}\n"), "model_list", "expected a list"),
    Broken("entry-not-mapping", _cfg("model_list:\n  - just-a-string\n"), "model_list[0]", "expected a mapping"),
    Broken("missing-model-name", _cfg("model_list:\n  - litellm_params: {model: openai/x}\n"), "model_list[0].model_name", "required"),
    Broken("missing-litellm-params", _cfg("model_list:\n  - model_name: x\n"), "model_list[0].litellm_params", "required mapping"),
    Broken("missing-model", _cfg("model_list:\n  - model_name: x\n    litellm_params: {api_base: 'https://a'}\n"), "model_list[0].litellm_params.model", "required"),
    Broken("model-wrong-type", _cfg("model_list:\n  - model_name: x\n    litellm_params: {model: 42}\n"), "model_list[0].litellm_params.model", "required non-empty string"),
    Broken(
        "unquoted-api-version-date",
        _cfg(GOOD_DEPLOYMENT + "  - model_name: y\n    litellm_params:\n      model: azure/y\n      api_base: https://y.openai.azure.com\n      api_version: 2024-02-01\n"),
        "model_list[1].litellm_params.api_version",
        "quote it",
    ),
    Broken(
        "api-base-not-url",
        _cfg(GOOD_DEPLOYMENT + "  - model_name: y\n    litellm_params:\n      model: azure/y\n      api_base: eastus-openai\n"),
        "model_list[1].litellm_params.api_base",
        "expected an http(s) URL",
    ),
    Broken("rpm-negative", _cfg("model_list:\n  - model_name: x\n    litellm_params: {model: openai/x, rpm: -5}\n"), "model_list[0].litellm_params.rpm", "non-negative"),
    Broken("unknown-provider", _cfg("model_list:\n  - model_name: x\n    litellm_params: {model: notaprovider/x}\n"), "model_list[0].litellm_params.model", "unknown provider"),
    Broken(
        "missing-env-var",
        _cfg(GOOD_DEPLOYMENT + "  - model_name: y\n    litellm_params:\n      model: azure/y\n      api_base: https://y.openai.azure.com\n      api_key: os.environ/GATEWAY_TEST_SURELY_UNSET_VAR\n"),
        "model_list[1].litellm_params.api_key",
        "GATEWAY_TEST_SURELY_UNSET_VAR is not set on this replica (used by deployment model_list[1] (y))",
    ),
    Broken("malformed-env-ref", _cfg("model_list:\n  - model_name: x\n    litellm_params: {model: openai/x, api_key: 'os.environ/BAD-NAME'}\n"), "model_list[0].litellm_params.api_key", "malformed reference"),
    Broken("literal-api-key", _cfg("model_list:\n  - model_name: x\n    litellm_params: {model: openai/x, api_key: sk-live-secret}\n"), "model_list[0].litellm_params.api_key", "literal secret"),
    Broken(
        "literal-client-secret",
        _cfg("model_list:\n  - model_name: x\n    litellm_params: {model: databricks/x, api_base: 'https://w.databricks.com/serving-endpoints', client_id: a, client_secret: hunter2}\n"),
        "model_list[0].litellm_params.client_secret",
        "literal secret",
    ),
    Broken("router-unknown-key", _cfg(GOOD_DEPLOYMENT + "router_settings: {num_retriez: 2}\n"), "router_settings.num_retriez", "not a LiteLLM router setting"),
    Broken("router-wrong-type", _cfg(GOOD_DEPLOYMENT + "router_settings: {num_retries: many}\n"), "router_settings.num_retries", "non-negative integer"),
    Broken("router-bad-strategy", _cfg(GOOD_DEPLOYMENT + "router_settings: {routing_strategy: fastest-please}\n"), "router_settings", "Invalid routing_strategy"),
    Broken("settings-not-mapping", _cfg(GOOD_DEPLOYMENT + "litellm_settings: [cache]\n"), "litellm_settings", "expected a mapping"),
    Broken("cache-not-bool", _cfg(GOOD_DEPLOYMENT + "litellm_settings: {cache: sometimes}\n"), "litellm_settings.cache", "expected true or false"),
    Broken("request-timeout-zero", _cfg(GOOD_DEPLOYMENT + "litellm_settings: {request_timeout: 0}\n"), "litellm_settings.request_timeout", "positive number"),
    Broken(
        "per-deployment-unknown-setting",
        _cfg("model_list:\n  - model_name: x\n    litellm_params: {model: openai/x}\n    litellm_settings: {drop_params: true}\n"),
        "model_list[0].litellm_settings.drop_params",
        "not a per-deployment setting",
    ),
]
