"""A JSON Schema for config.yaml, generated from the validator's own rules.

The sections, deployment keys, number/string parameters, per-deployment settings and
secret keys come from ``gateway.validation`` (``structure``, ``secrets``) and the
``router_settings`` keys from LiteLLM itself (``semantics.router_setting_names``),
so the schema an editor checks against is the one a replica enforces, minus what
only a replica can know (its environment) or only LiteLLM can judge (providers).
``genai-gateway schema`` prints it; ``docs/config.schema.json`` is the checked-in copy
(a test keeps it current). Editors with yaml-language-server use it through a first line
``# yaml-language-server: $schema=<path or URL of config.schema.json>``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from gateway.validation import structure
from gateway.validation.envrefs import PREFIX
from gateway.validation.secrets import SECRET_KEYS

ENV_REF = rf"^{PREFIX.replace('.', chr(92) + '.')}[A-Za-z_][A-Za-z0-9_]*$"
SCHEMA_ID = "https://github.com/genai-gateway/genai-gateway/docs/config.schema.json"

EnvRef = Annotated[str, Field(pattern=ENV_REF, description="a reference to the replica's environment: os.environ/NAME")]
SecretRef = Annotated[
    str,
    Field(pattern=rf"({ENV_REF})|(^oidc/)", description="secrets are never literal: os.environ/NAME (or oidc/file/<token path>)"),
]
NonNegative = Annotated[float, Field(ge=0)]


def _litellm_params() -> type[BaseModel]:
    fields: dict[str, Any] = {"model": (str, Field(min_length=1, description="provider/model, e.g. azure/<deployment>"))}
    for key in structure._STRING_PARAMS:
        if key != "model":
            fields[key] = (str | None, None)
    fields["api_base"] = (Annotated[str, Field(pattern=rf"^(https?://|{PREFIX.replace('.', chr(92) + '.')})")] | None, None)
    for key in structure._NUMBER_PARAMS:
        fields[key] = (NonNegative | EnvRef | None, None)
    for key in sorted(SECRET_KEYS):
        fields[key] = (SecretRef | None, None)
    return create_model("LitellmParams", __config__=ConfigDict(extra="allow"), **fields)


def _deployment_settings() -> type[BaseModel]:
    fields: dict[str, Any] = {key: (bool | None, None) for key in sorted(structure.DEPLOYMENT_SETTINGS)}
    return create_model("DeploymentLitellmSettings", __config__=ConfigDict(extra="forbid"), **fields)


def _router_settings() -> type[BaseModel]:
    from gateway.validation.semantics import router_setting_names

    fields: dict[str, Any] = {key: (Any, None) for key in sorted(router_setting_names())}
    return create_model("RouterSettings", __config__=ConfigDict(extra="forbid"), **fields)


class LitellmSettings(BaseModel):
    model_config = ConfigDict(extra="allow")

    cache: bool | None = None
    drop_params: bool | None = None
    set_verbose: bool | None = None
    enable_azure_ad_token_refresh: bool | None = None
    cache_params: dict[str, Any] | None = None
    request_timeout: Annotated[float, Field(gt=0)] | EnvRef | None = None


def config_model() -> type[BaseModel]:
    """The pydantic model of a whole config.yaml (built on demand: it imports LiteLLM for the router keys)."""
    entry: dict[str, Any] = {
        "model_name": (str, Field(min_length=1, description="the model group clients ask for")),
        "litellm_params": (_litellm_params(), ...),
        "model_info": (dict[str, Any] | None, None),
        "litellm_settings": (_deployment_settings() | None, None),
    }
    deployment = create_model("Deployment", __config__=ConfigDict(extra="allow"), **entry)
    fields: dict[str, Any] = {
        "model_list": (list[deployment], ...),  # type: ignore[valid-type]
        "router_settings": (_router_settings() | None, None),
        "litellm_settings": (LitellmSettings | None, None),
        "general_settings": (dict[str, Any] | None, None),
    }
    for name in structure.MAPPING_SECTIONS:
        fields.setdefault(name, (dict[str, Any] | None, None))
    for name in structure.LIST_SECTIONS:
        fields.setdefault(name, (list[Any] | None, None))
    for name in sorted(structure.OTHER_KNOWN_SECTIONS):
        fields.setdefault(name, (Any, None))
    return create_model("GatewayConfig", __config__=ConfigDict(extra="forbid"), **fields)


def json_schema() -> dict[str, Any]:
    schema = config_model().model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "genai-gateway config.yaml (a LiteLLM proxy config, as the gateway validates it)",
        **schema,
    }


def render() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
