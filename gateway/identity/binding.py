"""Attach per-deployment identities to a resolved ``model_list``.

Why: YAML cannot carry a token provider, and LiteLLM ignores what the seed
README promises (FACTS.md): a per-deployment ``client_id`` without a secret,
a per-entry ``litellm_settings: {enable_azure_ad_token_refresh: true}`` block,
and Databricks ``client_id``/``client_secret``. ``bind_identities`` turns those
into things LiteLLM does act on, after every apply:

* Azure OpenAI (``azure/``) and Azure AI (``azure_ai/``) deployments that ask
  for an identity (a ``client_id``, the per-entry flag, or the global
  ``litellm_settings.enable_azure_ad_token_refresh``) and carry no other
  credential get ``azure_ad_token_provider`` from the ``CredentialRegistry``;
  ``client_id``/``tenant_id``/``azure_federated_token_file`` are removed so
  LiteLLM's own (process-wide) identity logic cannot act on them.
* Databricks deployments with ``client_id`` + ``client_secret`` are registered
  with the ``DatabricksTokenCache`` and marked in ``model_info`` for
  ``DatabricksAuthHook``; the three credential keys are removed.

The input is never mutated; ``os.environ/`` references must already be resolved.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.errors import ConfigIssue, GatewayError
from gateway.identity.azure import (
    COGNITIVE_SERVICES_SCOPE,
    CredentialRegistry,
    IdentitySpec,
)
from gateway.identity.databricks import (
    MODEL_INFO_MARKER,
    DatabricksCredential,
    DatabricksTokenCache,
    workspace_url,
)
from gateway.identity.process_env import fallbacks_for

FLAG = "enable_azure_ad_token_refresh"
_AZURE_IDENTITY_KEYS = ("client_id", "tenant_id", "azure_federated_token_file")
_DATABRICKS_IDENTITY_KEYS = ("client_id", "client_secret", "tenant_id")
# Credentials LiteLLM already applies per deployment: such a deployment is left to LiteLLM.
_AZURE_OWN_CREDENTIALS = ("api_key", "azure_ad_token", "azure_ad_token_provider", "client_secret", "azure_password")

DeploymentKind = Literal[
    "managed_identity", "workload_identity", "system_assigned", "databricks_entra", "databricks_m2m", "unchanged"
]


class IdentityBindingError(GatewayError):
    """The model_list asks for identities that cannot be set up; lists every problem, names each deployment."""

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = tuple(issues)
        super().__init__("identity binding failed: " + "; ".join(issue.message for issue in self.issues))


@dataclass(frozen=True)
class DeploymentIdentity:
    """What identity one deployment uses; safe to log and to show on a health endpoint."""

    index: int
    model_name: str
    kind: DeploymentKind
    client_id: str | None = None
    reason: str = ""
    #: Where the deployment's credential comes from, decided by the gateway (never a process-wide fallback).
    credential: str = "none"
    #: The token source to ask for its state (an ``IdentitySpec`` or a Databricks key); not shown.
    source: object = field(default=None, compare=False, repr=False)
    warning: str = ""

    @property
    def label(self) -> str:
        return _label(self.index, self.model_name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.label,
            "model_name": self.model_name,
            "index": self.index,
            "identity": self.kind,
            "client_id": self.client_id,
            "credential": self.credential,
            "reason": self.reason,
            **({"warning": self.warning} if self.warning else {}),
        }


@dataclass(frozen=True)
class BoundModelList:
    """The model_list to hand to LiteLLM plus what was bound, for logging, health and prefetch."""

    model_list: list[dict[str, Any]]
    identities: tuple[DeploymentIdentity, ...]
    azure_specs: frozenset[IdentitySpec]
    databricks_keys: frozenset[str]
    warnings: tuple[str, ...] = ()


def bind_identities(
    model_list: list[dict[str, Any]],
    registry: CredentialRegistry,
    databricks: DatabricksTokenCache,
    *,
    litellm_settings: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> BoundModelList:
    """Return a new model_list with identities attached; raises ``IdentityBindingError`` listing every problem.

    ``litellm_settings`` is the config's global block (for ``enable_azure_ad_token_refresh``);
    ``environ`` defaults to ``os.environ`` (``AZURE_FEDERATED_TOKEN_FILE``, ``AZURE_TENANT_ID``,
    ``AZURE_CLIENT_ID``; and, for warnings only, the provider fallbacks of ``process_env`` that the
    gateway hides from LiteLLM). An identity-bound deployment needs its own ``api_base``: it never
    takes an endpoint (or a key) from the process.
    """
    env = os.environ if environ is None else environ
    global_flag = _truthy((litellm_settings or {}).get(FLAG))
    issues: list[ConfigIssue] = []
    warnings: list[str] = []
    out: list[dict[str, Any]] = []
    identities: list[DeploymentIdentity] = []
    specs: set[IdentitySpec] = set()
    dbx_keys: set[str] = set()

    for index, entry in enumerate(model_list):
        if not isinstance(entry, Mapping):
            issues.append(ConfigIssue(f"model_list[{index}]", f"model_list[{index}]: not a mapping"))
            continue
        new_entry = _copy_entry(entry)
        name = str(new_entry.get("model_name", "?"))
        local_settings = new_entry.pop("litellm_settings", None)
        params = new_entry.get("litellm_params")
        if not isinstance(params, dict):
            out.append(new_entry)
            identities.append(DeploymentIdentity(index, name, "unchanged", reason="no litellm_params"))
            continue
        provider = _provider(params)
        local_flag = local_settings.get(FLAG) if isinstance(local_settings, dict) else None
        if isinstance(local_settings, dict) and set(local_settings) - {FLAG}:
            ignored = ", ".join(sorted(str(k) for k in set(local_settings) - {FLAG}))
            warnings.append(f"{_label(index, name)}: per-deployment litellm_settings keys ignored: {ignored}")
        try:
            if provider in ("azure", "azure_ai"):
                ident = _bind_azure(index, name, params, local_flag, global_flag, registry, env, specs)
            elif provider == "databricks":
                ident = _bind_databricks(index, name, params, databricks, env, dbx_keys, new_entry)
            else:
                ident = DeploymentIdentity(index, name, "unchanged", reason=f"provider {provider or 'unknown'}",
                                           credential=_own_credential(params))
        except _Problem as problem:
            issues.append(ConfigIssue(problem.path, f"{_label(index, name)}: {problem.message}"))
            ident = DeploymentIdentity(index, name, "unchanged", reason="error")
        if ident.credential == "none" and (hidden := fallbacks_for(provider, env)):
            warning = (
                f"no credential of its own; LiteLLM would fall back to the process-wide {', '.join(hidden)}, "
                f"which the gateway does not allow: reference it in litellm_params (e.g. api_key: os.environ/{hidden[0]})"
            )
            warnings.append(f"{_label(index, name)}: {warning}")
            ident = dataclasses.replace(ident, warning=warning)
        out.append(new_entry)
        identities.append(ident)

    if dbx_keys and env.get("DATABRICKS_CLIENT_ID") and env.get("DATABRICKS_CLIENT_SECRET"):
        warnings.append(
            "DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET are set in the process environment: LiteLLM "
            "fetches an OAuth M2M token with them on every Databricks request (the deployment's own token "
            "still wins); remove them from the gateway's environment"
        )
    if issues:
        raise IdentityBindingError(issues)
    return BoundModelList(out, tuple(identities), frozenset(specs), frozenset(dbx_keys), tuple(warnings))


class _Problem(GatewayError):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def _bind_azure(
    index: int,
    name: str,
    params: dict[str, Any],
    local_flag: object,
    global_flag: bool,
    registry: CredentialRegistry,
    env: Mapping[str, str],
    specs: set[IdentitySpec],
) -> DeploymentIdentity:
    path = f"model_list[{index}].litellm_params"
    own = next((key for key in _AZURE_OWN_CREDENTIALS if params.get(key)), None)
    if own is not None:
        return DeploymentIdentity(index, name, "unchanged", params.get("client_id"), f"uses its own {own}", own)
    requested_by = _identity_request(params, local_flag, global_flag)
    if requested_by is None:
        return DeploymentIdentity(index, name, "unchanged", reason="no identity requested")
    if not isinstance(params.get("api_base"), str) or not params["api_base"]:
        raise _Problem(f"{path}.api_base", "a deployment bound to an identity needs its own api_base "
                       "(the gateway never lets it use a process-wide AZURE_API_BASE)")

    client_id = _optional_str(params, "client_id", path)
    token_file = _optional_str(params, "azure_federated_token_file", path) or env.get("AZURE_FEDERATED_TOKEN_FILE")
    if _optional_str(params, "azure_federated_token_file", path) and not client_id:
        client_id = env.get("AZURE_CLIENT_ID") or None
        if client_id is None:
            raise _Problem(f"{path}.client_id", "azure_federated_token_file needs a client_id (or AZURE_CLIENT_ID)")
    if client_id and token_file:
        tenant_id = _optional_str(params, "tenant_id", path) or env.get("AZURE_TENANT_ID")
        if not tenant_id:
            raise _Problem(f"{path}.tenant_id", "workload identity needs tenant_id (or AZURE_TENANT_ID)")
        spec = IdentitySpec("workload_identity", client_id, tenant_id, token_file)
    elif client_id:
        spec = IdentitySpec("managed_identity", client_id)
    else:
        spec = IdentitySpec("system_assigned")

    scope = params.get("azure_scope") or COGNITIVE_SERVICES_SCOPE
    params["azure_ad_token_provider"] = registry.token_provider(spec, scope)
    for key in _AZURE_IDENTITY_KEYS:
        params.pop(key, None)
    specs.add(spec)
    return DeploymentIdentity(index, name, spec.kind, spec.client_id, requested_by,
                              f"azure_ad_token_provider ({spec.kind})", spec)


def _identity_request(params: Mapping[str, Any], local_flag: object, global_flag: bool) -> str | None:
    """Why this deployment should use an identity token, or None when it should be left alone."""
    if local_flag is not None and not _truthy(local_flag):
        return None  # explicitly switched off for this deployment
    if "client_id" in params:
        return "client_id"
    if _truthy(local_flag):
        return f"deployment litellm_settings.{FLAG}"
    if global_flag:
        return f"litellm_settings.{FLAG}"
    return None


def _bind_databricks(
    index: int,
    name: str,
    params: dict[str, Any],
    cache: DatabricksTokenCache,
    env: Mapping[str, str],
    keys: set[str],
    entry: dict[str, Any],
) -> DeploymentIdentity:
    path = f"model_list[{index}].litellm_params"
    if "client_id" not in params and "client_secret" not in params:
        return DeploymentIdentity(index, name, "unchanged", reason="no service principal",
                                  credential=_own_credential(params))
    client_id = _optional_str(params, "client_id", path)
    client_secret = _optional_str(params, "client_secret", path)
    if not client_id or not client_secret:
        missing = "client_secret" if client_id else "client_id"
        raise _Problem(f"{path}.{missing}", f"Databricks service principal needs both client_id and client_secret; "
                       f"{missing} is missing or empty")
    if params.get("api_key"):
        raise _Problem(f"{path}.api_key", "set either api_key or client_id/client_secret, not both")
    api_base = params.get("api_base")  # never DATABRICKS_API_BASE: an identity-bound deployment names its endpoint
    if not isinstance(api_base, str) or not api_base:
        raise _Problem(f"{path}.api_base", "Databricks service principal needs api_base (the workspace URL)")
    try:
        workspace = workspace_url(api_base)
    except ValueError as exc:
        raise _Problem(f"{path}.api_base", str(exc)) from None
    tenant_id = _optional_str(params, "tenant_id", path)
    credential = DatabricksCredential(client_id, client_secret, tenant_id, workspace)
    key = cache.register(credential)
    for k in _DATABRICKS_IDENTITY_KEYS:
        params.pop(k, None)
    model_info = dict(entry.get("model_info") or {})
    model_info[MODEL_INFO_MARKER] = key
    if not model_info.get("id"):
        # LiteLLM derives a deployment's id from model_name + litellm_params. With the credentials
        # stripped, two deployments differing only by service principal would share an id, and the
        # Router would treat them as one (one cooldown, one deployment). Derive it from the identity too.
        model_info["id"] = _deployment_id(name, params, key)
    entry["model_info"] = model_info
    keys.add(key)
    kind: DeploymentKind = "databricks_entra" if credential.flow == "entra" else "databricks_m2m"
    return DeploymentIdentity(index, name, kind, client_id, "client_id/client_secret",
                              f"service principal token ({kind})", key)


def _deployment_id(model_name: str, params: Mapping[str, Any], identity_key: str) -> str:
    """Stable across applies and restarts; built from secret-free data only."""
    material = json.dumps([model_name, {k: v for k, v in params.items() if not callable(v)}, identity_key],
                          sort_keys=True, default=str)
    return hashlib.sha256(material.encode()).hexdigest()


def _own_credential(params: Mapping[str, Any]) -> str:
    """The credential a deployment names itself (a litellm_params key), or ``none``."""
    return next((key for key in _AZURE_OWN_CREDENTIALS if params.get(key)), "none")


def _optional_str(params: Mapping[str, Any], key: str, path: str) -> str | None:
    """Absent -> None; present must be a non-empty string (an unset os.environ/ resolves to None)."""
    if key not in params:
        return None
    value = params[key]
    if not isinstance(value, str) or not value.strip():
        raise _Problem(f"{path}.{key}", f"{key} is present but empty (unset environment variable?)")
    return value.strip()


def _provider(params: Mapping[str, Any]) -> str:
    explicit = params.get("custom_llm_provider")
    if isinstance(explicit, str) and explicit:
        return explicit
    model = params.get("model")
    return model.split("/", 1)[0] if isinstance(model, str) and "/" in model else ""


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return value is True


def _label(index: int, model_name: str) -> str:
    return f"model_list[{index}] ({model_name})"


def _copy_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Deep copy of plain YAML data; callables (a provider from an earlier bind) are shared, not copied."""
    out: dict[str, Any] = {}
    for key, value in entry.items():
        if key == "litellm_params" and isinstance(value, dict):
            out[key] = {k: v if callable(v) else copy.deepcopy(v) for k, v in value.items()}
        else:
            out[key] = copy.deepcopy(value)
    return out
