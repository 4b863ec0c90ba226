"""Offline checks of infra/*.bicep: structure, identities and outputs, and checkov.

The bicep CLI cannot be downloaded here, so the templates are checked from their parsed
structure (pycep-parser, the parser checkov itself uses) and with checkov's bicep framework.
checkov pins many libraries, so it lives in its own virtualenv (see CHECKOV_INSTALL).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from gateway.settings import Settings
from tests.infra.helpers import (
    BICEP_FILES,
    CHECKOV,
    CHECKOV_INSTALL,
    INFRA,
    REPO,
    bicep,
    body,
    configmap_data,
    dotted,
    interpolate,
    k8s_object,
    only,
    parameters_file,
    readme_section,
    resolve,
    resources_of_type,
)

GUID = "00000000-0000-0000-0000-000000000001"



# ---------------------------------------------------------------------------- structure


def test_bicep_files_exist():
    """main.bicep and the modules it is split into are present."""
    names = {p.relative_to(INFRA).as_posix() for p in BICEP_FILES}
    assert {
        "main.bicep", "modules/identities.bicep", "modules/storage.bicep",
        "modules/servicebus.bicep", "modules/functionapp.bicep", "modules/eventgrid.bicep",
        "modules/redis.bicep", "modules/openai-role.bicep",
    } <= names  # fmt: skip


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(INFRA).as_posix())
def test_bicep_file_parses(path: Path):
    """Every .bicep file parses with pycep-parser into resources, modules or outputs."""
    template = bicep(path.relative_to(INFRA).as_posix())
    assert template.get("resources") or template.get("modules")
    assert template.get("outputs")


def test_main_modules_resolve_to_files():
    """Every module main.bicep references exists, and every module file is used."""
    main = bicep("main.bicep")
    used = {m["detail"]["path"] for m in main["modules"].values()}
    for path in used:
        assert (INFRA / path).is_file(), path
    assert used == {p.relative_to(INFRA).as_posix() for p in BICEP_FILES if p.parent.name == "modules"}


def test_module_params_exist_in_modules():
    """Each parameter main.bicep passes to a module is declared by that module, and required ones are passed."""
    main = bicep("main.bicep")
    for name, module in main["modules"].items():
        target = bicep(module["detail"]["path"])
        passed = set(body(module)["params"])
        declared = set(target["parameters"])
        assert passed <= declared, (name, passed - declared)
        required = {p for p, spec in target["parameters"].items() if "default" not in spec}
        assert required <= passed, (name, required - passed)


def test_parameters_file_matches_main_and_has_no_secrets():
    """main.parameters.json only sets declared parameters, sets the required ones, and holds no secrets."""
    main_params = bicep("main.bicep")["parameters"]
    params = parameters_file()
    assert set(params) <= set(main_params)
    assert {p for p, spec in main_params.items() if "default" not in spec} <= set(params)
    assert "deployEventSubscription" not in params  # deploy.sh decides
    assert not any(re.search(r"secret|password|key$", p, re.IGNORECASE) for p in params)
    assert [r["name"] for r in params["openAiRegions"]["value"]] == ["eastus", "westus"]
    assert not any(
        spec.get("decorators") and any(d["type"] == "secure" for d in spec["decorators"])
        for spec in main_params.values()
    )


# ---------------------------------------------------------------------------- identities, outputs


def test_federated_credentials_for_aks_workload_identity():
    """The gateway and regional identities trust the AKS service account when an OIDC issuer is given."""
    ids = bicep("modules/identities.bicep")
    creds = resources_of_type(ids, "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials")
    assert set(creds) == {"gatewayFederation", "regionalFederation"}
    assert creds["gatewayFederation"]["config"]["condition"] == "federate"
    for cred in creds.values():
        props = body(cred)["properties"]
        assert props["issuer"] == "aksOidcIssuerUrl"
        assert resolve(ids, props["subject"]) == "system:serviceaccount:${aksNamespace}:${aksServiceAccountName}"
        assert props["audiences"] == ["api://AzureADTokenExchange"]
    main_params = bicep("main.bicep")["parameters"]
    sa = k8s_object("ServiceAccount")
    assert main_params["aksServiceAccountName"]["default"] == sa["metadata"]["name"]


def regional_env_names(region_names: list[str]) -> list[str]:
    """The env var names identities.bicep outputs for these openAiRegions entries (both outputs)."""
    ids = bicep("modules/identities.bicep")
    expression = ids["variables"]["regionalEnvNames"]["value"]
    assert expression["loop_type"]["detail"] == {"item_name": "region", "array_name": "openAiRegions"}
    for output in ("regionalEnv", "regionalIdentities"):
        config = ids["outputs"][output]["value"]["config"]
        key = "name" if output == "regionalEnv" else "envVar"
        assert config[key]["operator"]["operands"] == {"operand_1": "regionalEnvNames", "operand_2": "i"}, output
    return [interpolate(expression["config"], {"region": {"name": name}}) for name in region_names]


@pytest.mark.parametrize(
    ("region", "env_name"),
    [
        ("eastus", "EASTUS_MI_CLIENT_ID"),
        ("westus", "WESTUS_MI_CLIENT_ID"),
        ("sweden-central", "SWEDEN_CENTRAL_MI_CLIENT_ID"),
        ("east-us-2-ptu", "EAST_US_2_PTU_MI_CLIENT_ID"),
        ("eastus.ptu", "EASTUS_PTU_MI_CLIENT_ID"),
    ],
)
def test_regional_env_names_are_valid_variable_names(region: str, env_name: str):
    """A region entry with '-' or '.' gives a valid env var name, which the gateway collects as a client id."""
    [name] = regional_env_names([region])
    assert name == env_name
    assert re.fullmatch(r"[A-Z_][A-Z0-9_]*", name)
    settings = Settings.from_env({"BLOB_ACCOUNT_URL": "https://acct.blob.core.windows.net", name: GUID})
    assert settings.mi_client_ids == {name: GUID}


def test_main_outputs_cover_the_gateway_env():
    """main.bicep outputs the URLs and client IDs the gateway needs, and every configmap key is covered."""
    main = bicep("main.bicep")
    outputs = main["outputs"]
    for name in ("BLOB_ACCOUNT_URL", "SERVICEBUS_FULLY_QUALIFIED_NAMESPACE", "AZURE_TENANT_ID",
                 "GATEWAY_MI_CLIENT_ID", "SERVICEBUS_TOPIC", "BLOB_DOC_CONTAINER", "gatewayEnv",
                 "regionalIdentities", "serviceBusSubscriptions", "storageAccountName", "functionAppName"):  # fmt: skip
        assert name in outputs, name

    env = outputs["gatewayEnv"]["value"]["function"]
    assert env["type"] == "concat"
    args = list(env["parameters"].values())
    static_names = {item["name"] for item in args[0]}
    assert dotted(args[1]) == "identities.outputs.regionalEnv"
    regional_names = set(regional_env_names([r["name"] for r in parameters_file()["openAiRegions"]["value"]]))

    fixed = {"LITELLM_YAML_REFRESH_INTERVAL", "LITELLM_YAML_STORAGE_PATH", "LITELLM_PORT", "GATEWAY_LOG_FORMAT", "GATEWAY_REPORT_INTERVAL"}
    keys = set(configmap_data())
    assert keys - fixed <= static_names | regional_names
    assert static_names | regional_names <= keys
    # The gateway validates every *_MI_CLIENT_ID as a GUID at start: placeholders must be GUIDs too.
    for key, value in configmap_data().items():
        if key.endswith("_MI_CLIENT_ID"):
            assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", value), key


# ---------------------------------------------------------------------------- checkov


def test_bicep_skip_comments_carry_reasons():
    """Every checkov skip inside the bicep names a check and explains why."""
    pattern = re.compile(r"checkov:skip=([A-Z0-9_]+)(:?)(.*)")
    for path in BICEP_FILES:
        for line in path.read_text().splitlines():
            m = pattern.search(line)
            if m:
                assert m.group(2) == ":" and len(m.group(3).strip()) > 20, f"{path.name}: {line.strip()}"


def test_checkov_bicep_passes():
    """checkov (framework bicep) parses every file and reports no failed checks; skips are documented in the bicep."""
    if not CHECKOV.exists():
        pytest.fail(f"checkov is not installed at {CHECKOV}; install it with: cd {REPO} && {CHECKOV_INSTALL}")
    env = {
        **os.environ,
        "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",
        "BC_SKIP_MAPPING": "TRUE",
        "LOG_LEVEL": "WARNING",
    }
    proc = subprocess.run(
        [str(CHECKOV), "-d", "infra", "--framework", "bicep", "--skip-download", "-o", "json"],
        check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.stdout.strip(), f"checkov printed nothing (exit {proc.returncode}): {proc.stderr[-2000:]}"
    report = json.loads(proc.stdout)
    if isinstance(report, list):
        report = only({r["check_type"]: r for r in report if r.get("check_type") == "bicep"})
    summary = report["summary"]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in report["results"]["failed_checks"]
    ]
    assert summary["parsing_errors"] == 0, report["results"].get("parsing_errors", summary)
    assert summary["failed"] == 0, "\n".join(failed)
    assert summary["passed"] > 0 and summary["resource_count"] > 0
    assert proc.returncode == 0, proc.stderr[-2000:]
    skipped = report["results"]["skipped_checks"]
    for check in skipped:
        reason = check["check_result"].get("suppress_comment", "")
        assert reason and reason != "No comment provided", check["check_id"]
    # Every skip is documented in infra/README.md's table.
    table = readme_section("Offline checks (CI)")
    for check_id in {c["check_id"] for c in skipped}:
        assert check_id in table, check_id
