"""Offline checks of infra/: bicep (pycep-parser + checkov), Kubernetes manifests, deploy.sh.

The bicep CLI cannot be downloaded here, so the templates are checked from their parsed
structure (pycep-parser, the parser checkov itself uses) and with checkov's bicep framework.
checkov pins many libraries, so it lives in its own virtualenv (see CHECKOV_INSTALL).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pycep import BicepParser

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
K8S = INFRA / "k8s"
DEPLOY_SH = INFRA / "deploy.sh"
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
CHECKOV_INSTALL = "python3 -m venv .venv-checkov && .venv-checkov/bin/pip install checkov"

BICEP_FILES = sorted(INFRA.rglob("*.bicep"))

# Built-in role definition IDs (identical in every Azure subscription).
ROLE_IDS = {
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Azure Service Bus Data Sender": "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39",
    "Azure Service Bus Data Receiver": "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0",
    "Azure Service Bus Data Owner": "090c5cfd-751d-490a-894a-3ce6f1109419",
    "Cognitive Services OpenAI User": "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
}

# The identity/role matrix of infra/README.md:
# (file, resource symbol) -> (role, scope resource symbol, principal parameter or None)
EXPECTED_ROLE_ASSIGNMENTS = {
    ("modules/storage.bicep", "gatewayConfigReader"): (
        "Storage Blob Data Reader", "configContainer", "gatewayPrincipalId"),
    ("modules/storage.bicep", "functionConfigContributor"): (
        "Storage Blob Data Contributor", "configContainer", "functionPrincipalId"),
    ("modules/storage.bicep", "operatorConfigContributors"): (
        "Storage Blob Data Contributor", "configContainer", "principalId"),
    ("modules/servicebus.bicep", "functionSender"): (
        "Azure Service Bus Data Sender", "topic", "functionPrincipalId"),
    ("modules/servicebus.bicep", "gatewayReceiver"): (
        "Azure Service Bus Data Receiver", "topic", "gatewayPrincipalId"),
    ("modules/servicebus.bicep", "gatewaySubscriptionManager"): (
        "Azure Service Bus Data Owner", "topic", "gatewayPrincipalId"),
    ("modules/functionapp.bicep", "functionHostBlobOwner"): (
        "Storage Blob Data Owner", "hostStorage", "functionPrincipalId"),
    ("modules/functionapp.bicep", "functionTelemetryPublisher"): (
        "Monitoring Metrics Publisher", "appInsights", "functionPrincipalId"),
    ("modules/eventgrid.bicep", "deadLetterWriter"): (
        "Storage Blob Data Contributor", "deadLetterContainer", None),
    ("modules/openai-role.bicep", "openAiUser"): (
        "Cognitive Services OpenAI User", "openAiAccount", "principalId"),
}

CONFIG_BLOB_SUBJECT = "/blobServices/default/containers/litellm-config/blobs/config.yaml"


# ---------------------------------------------------------------------------- helpers


@lru_cache(maxsize=None)
def bicep(rel: str) -> dict[str, Any]:
    """Parse infra/<rel> with pycep (cached)."""
    return BicepParser().parse(file_path=INFRA / rel)


def body(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource/module body, unwrapping `if (...)` conditions and `for` loops."""
    config = resource["config"]
    if "config" in config and ("condition" in config or "loop_type" in config):
        return config["config"]
    return config


def resolve(template: dict[str, Any], value: Any) -> Any:
    """Resolve a bare identifier to its variable value or parameter default (else as is)."""
    seen = set()
    while isinstance(value, str) and value not in seen:
        seen.add(value)
        if value in template.get("variables", {}):
            value = template["variables"][value]["value"]
        elif value in template.get("parameters", {}) and "default" in template["parameters"][value]:
            value = template["parameters"][value]["default"]
        else:
            break
    return value


def render(text: str, values: dict[str, Any]) -> str:
    """Substitute simple ${name} interpolations."""
    return re.sub(r"\$\{(\w+)\}", lambda m: str(values[m.group(1)]), text)


def resources_of_type(template: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    """Resources of one type, by symbolic name."""
    return {k: v for k, v in template.get("resources", {}).items() if v["type"] == rtype}


def only(mapping: dict[str, Any]) -> Any:
    """The single value of a one-entry mapping."""
    assert len(mapping) == 1, sorted(mapping)
    return next(iter(mapping.values()))


def module_param(module: str, name: str) -> Any:
    """Value main.bicep passes to a module parameter, resolved within main.bicep."""
    main = bicep("main.bicep")
    return resolve(main, body(main["modules"][module])["params"][name])


def k8s_docs() -> dict[str, list[dict[str, Any]]]:
    """All Kubernetes manifests, by file name."""
    return {
        p.name: [d for d in yaml.safe_load_all(p.read_text()) if d is not None]
        for p in sorted(K8S.glob("*.yaml"))
    }


def k8s_object(kind: str, name: str | None = None) -> dict[str, Any]:
    """The one manifest object of a kind (and name)."""
    found = [
        d for docs in k8s_docs().values() for d in docs
        if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def gateway_container() -> dict[str, Any]:
    """The gateway container of the StatefulSet."""
    return only({c["name"]: c for c in k8s_object("StatefulSet")["spec"]["template"]["spec"]["containers"]})


def configmap_data() -> dict[str, str]:
    """Data of the gateway env ConfigMap."""
    return k8s_object("ConfigMap", "litellm-gateway-env")["data"]


# ---------------------------------------------------------------------------- bicep


def test_bicep_files_exist():
    """main.bicep and the modules it is split into are present."""
    names = {p.relative_to(INFRA).as_posix() for p in BICEP_FILES}
    assert {
        "main.bicep", "modules/identities.bicep", "modules/storage.bicep",
        "modules/servicebus.bicep", "modules/functionapp.bicep", "modules/eventgrid.bicep",
        "modules/redis.bicep", "modules/openai-role.bicep",
    } <= names


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


def test_role_assignments_use_expected_builtin_roles():
    """Every role assignment uses the expected built-in role GUID, scope and principal, and there are no others."""
    found = {}
    for path in BICEP_FILES:
        rel = path.relative_to(INFRA).as_posix()
        template = bicep(rel)
        for symbol, resource in resources_of_type(template, "Microsoft.Authorization/roleAssignments").items():
            found[(rel, symbol)] = (template, body(resource))
    assert set(found) == set(EXPECTED_ROLE_ASSIGNMENTS)

    for key, (role, scope, principal) in EXPECTED_ROLE_ASSIGNMENTS.items():
        template, conf = found[key]
        role_def = conf["properties"]["roleDefinitionId"]["function"]
        assert role_def["type"] == "subscription_resource_id", key
        assert role_def["parameters"]["resource_type"] == "Microsoft.Authorization/roleDefinitions", key
        assert resolve(template, role_def["parameters"]["resource_name_1"]) == ROLE_IDS[role], key
        # Scoped to one resource, never to the resource group or subscription.
        assert conf["scope"] == scope, key
        if principal is not None:
            assert conf["properties"]["principalId"] == principal, key
        # Deterministic, idempotent names that include the role.
        name = conf["name"]["function"]
        assert name["type"] == "guid", key
        assert role_def["parameters"]["resource_name_1"] in name["parameters"].values(), key


def test_service_bus_data_owner_is_optional_and_off_by_default():
    """The gateway only gets Service Bus Data Owner when gatewayCanManageSubscriptions is set (default false)."""
    sb = bicep("modules/servicebus.bicep")
    owner = sb["resources"]["gatewaySubscriptionManager"]["config"]
    assert owner["condition"] == "gatewayCanManageSubscriptions"
    assert sb["parameters"]["gatewayCanManageSubscriptions"]["default"] is False
    assert bicep("main.bicep")["parameters"]["gatewayCanManageSubscriptions"]["default"] is False
    assert module_param("serviceBus", "gatewayCanManageSubscriptions") is False


def test_openai_role_assigned_per_region_on_the_account():
    """Each Azure OpenAI region gets its own identity and an OpenAI User assignment at the account's resource group."""
    main = bicep("main.bicep")
    roles = main["modules"]["openAiRoles"]
    assert roles["config"]["loop_type"]["detail"]["array_name"] == "openAiRegions"
    assert roles["detail"]["path"] == "modules/openai-role.bicep"
    assert body(roles)["scope"]["function"]["type"] == "resource_group"
    ids = bicep("modules/identities.bicep")
    regional = ids["resources"]["regionalIdentities"]
    assert regional["type"] == "Microsoft.ManagedIdentity/userAssignedIdentities"
    assert regional["config"]["loop_type"]["detail"]["array_name"] == "openAiRegions"
    account = bicep("modules/openai-role.bicep")["resources"]["openAiAccount"]
    assert account["existing"] is True
    assert account["type"] == "Microsoft.CognitiveServices/accounts"


def test_event_subscription_filters_the_config_blob():
    """The Event Grid subscription delivers only Microsoft.Storage.BlobCreated for litellm-config/config.yaml."""
    eg = bicep("modules/eventgrid.bicep")
    sub = only(resources_of_type(eg, "Microsoft.EventGrid/systemTopics/eventSubscriptions"))
    filt = body(sub)["properties"]["filter"]
    assert filt["includedEventTypes"] == ["Microsoft.Storage.BlobCreated"]
    subject = resolve(eg, filt["subjectBeginsWith"])
    # With the module's defaults and with what main.bicep passes in.
    defaults = {p: spec.get("default") for p, spec in eg["parameters"].items()}
    assert render(subject, defaults) == CONFIG_BLOB_SUBJECT
    passed = {p: module_param("eventGrid", p) for p in ("configContainerName", "configBlobName")}
    assert render(subject, {**defaults, **passed}) == CONFIG_BLOB_SUBJECT
    assert CONFIG_BLOB_SUBJECT.endswith(render(filt["subjectEndsWith"], {**defaults, **passed}))
    assert filt["isSubjectCaseSensitive"] is True


def test_event_subscription_targets_the_function_with_retry_and_dead_letter():
    """Delivery goes to the AzureFunction on_config_blob_created, with a retry policy and a dead-letter container."""
    eg = bicep("modules/eventgrid.bicep")
    topic = only(resources_of_type(eg, "Microsoft.EventGrid/systemTopics"))
    assert body(topic)["properties"]["topicType"] == "Microsoft.Storage.StorageAccounts"
    assert body(topic)["identity"]["type"] == "SystemAssigned"

    props = body(only(resources_of_type(eg, "Microsoft.EventGrid/systemTopics/eventSubscriptions")))["properties"]
    dest = props["destination"]
    assert dest["endpointType"] == "AzureFunction"
    assert dest["properties"]["resourceId"].endswith("/functions/${functionName}")
    assert eg["parameters"]["functionName"]["default"] == "on_config_blob_created"
    assert module_param("eventGrid", "functionName") == "on_config_blob_created"

    retry = props["retryPolicy"]
    assert resolve(eg, retry["maxDeliveryAttempts"]) >= 1
    assert resolve(eg, retry["eventTimeToLiveInMinutes"]) >= 1

    dead = props["deadLetterWithResourceIdentity"]
    assert dead["identity"]["type"] == "SystemAssigned"
    assert dead["deadLetterDestination"]["endpointType"] == "StorageBlob"
    assert dead["deadLetterDestination"]["properties"]["blobContainerName"] == "deadLetterContainerName"


def test_service_bus_is_entra_only_with_deduplicating_topic():
    """The namespace is Standard with disableLocalAuth, and config-updates has duplicate detection on."""
    sb = bicep("modules/servicebus.bicep")
    ns = body(only(resources_of_type(sb, "Microsoft.ServiceBus/namespaces")))
    assert ns["sku"]["name"] == "Standard"
    assert ns["properties"]["disableLocalAuth"] is True
    topic = body(only(resources_of_type(sb, "Microsoft.ServiceBus/namespaces/topics")))
    assert topic["properties"]["requiresDuplicateDetection"] is True
    assert resolve(sb, topic["name"]) == "config-updates"
    assert module_param("serviceBus", "topicName") == "config-updates"


def test_replica_subscriptions_are_pre_provisioned_without_auto_delete():
    """Subscriptions replica-0..N-1 are created in a loop and never auto-delete on idle."""
    sb = bicep("modules/servicebus.bicep")
    subs = only(resources_of_type(sb, "Microsoft.ServiceBus/namespaces/topics/subscriptions"))
    loop = subs["config"]["loop_type"]["detail"]
    assert loop["array_name"]["function"]["type"] == "range"
    assert loop["array_name"]["function"]["parameters"]["count"] == "replicaSubscriptionCount"
    conf = body(subs)
    assert conf["name"] == "replica-${%s}" % loop["item_name"]
    assert "autoDeleteOnIdle" not in conf["properties"]


def test_storage_is_entra_only_by_default():
    """Shared key access is off by default (config and host storage), blobs are private, TLS 1.2."""
    st = bicep("modules/storage.bicep")
    props = body(st["resources"]["storage"])["properties"]
    assert resolve(st, props["allowSharedKeyAccess"]) is False
    assert bicep("main.bicep")["parameters"]["allowSharedKeyAccess"]["default"] is False
    assert props["allowBlobPublicAccess"] is False
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert resolve(st, body(st["resources"]["configContainer"])["name"]) == "litellm-config"
    assert module_param("configStorage", "configContainerName") == "litellm-config"
    assert "isVersioningEnabled" in body(st["resources"]["blobService"])["properties"]

    host = body(bicep("modules/functionapp.bicep")["resources"]["hostStorage"])["properties"]
    assert host["allowSharedKeyAccess"] is False


def test_function_app_uses_identity_based_connections():
    """The Function is Linux Python 3.11 on Flex Consumption with a user-assigned identity and no connection strings."""
    fa = bicep("modules/functionapp.bicep")
    plan = body(only(resources_of_type(fa, "Microsoft.Web/serverfarms")))
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    app = body(only(resources_of_type(fa, "Microsoft.Web/sites")))
    assert "linux" in app["kind"]
    assert app["identity"]["type"] == "UserAssigned"
    assert app["properties"]["httpsOnly"] is True
    cfg = app["properties"]["functionAppConfig"]
    assert cfg["runtime"] == {"name": "python", "version": "3.11"}
    assert cfg["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"

    settings = {s["name"]: s["value"] for s in app["properties"]["siteConfig"]["appSettings"]}
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == "functionClientId"
    assert "AzureWebJobsStorage__accountName" in settings
    assert settings["SERVICEBUS__fullyQualifiedNamespace"] == "serviceBusFullyQualifiedNamespace"
    assert settings["SERVICEBUS__credential"] == "managedidentity"
    assert settings["SERVICEBUS_TOPIC"] == "serviceBusTopicName"
    assert "AzureWebJobsStorage" not in settings  # no connection string
    assert not any(k.endswith(("CONNECTIONSTRING", "ConnectionString")) for k in settings)


def test_redis_is_optional_entra_only_and_tls_only():
    """Redis is off by default; when on, access keys are disabled, TLS only, and the gateway gets an access policy."""
    assert bicep("main.bicep")["parameters"]["enableRedis"]["default"] is False
    assert bicep("main.bicep")["modules"]["redis"]["config"]["condition"] == "enableRedis"
    rd = bicep("modules/redis.bicep")
    props = body(only(resources_of_type(rd, "Microsoft.Cache/redis")))["properties"]
    assert props["enableNonSslPort"] is False
    assert props["disableAccessKeyAuthentication"] is True
    # pycep keeps the quotes of quoted object keys.
    redis_config = {k.strip("'"): v for k, v in props["redisConfiguration"].items()}
    assert redis_config["aad-enabled"] == "true"
    access = body(only(resources_of_type(rd, "Microsoft.Cache/redis/accessPolicyAssignments")))
    assert access["properties"]["objectId"] == "gatewayPrincipalId"
    assert access["properties"]["accessPolicyName"] == "Data Contributor"


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


def test_main_outputs_cover_the_gateway_env():
    """main.bicep outputs the URLs and client IDs the gateway needs, and every configmap key is covered."""
    main = bicep("main.bicep")
    outputs = main["outputs"]
    for name in ("BLOB_ACCOUNT_URL", "SERVICEBUS_FULLY_QUALIFIED_NAMESPACE", "AZURE_TENANT_ID",
                 "GATEWAY_MI_CLIENT_ID", "SERVICEBUS_TOPIC", "BLOB_DOC_CONTAINER", "gatewayEnv",
                 "regionalIdentities", "serviceBusSubscriptions", "storageAccountName", "functionAppName"):
        assert name in outputs, name

    env = outputs["gatewayEnv"]["value"]["function"]
    assert env["type"] == "concat"
    args = list(env["parameters"].values())
    static_names = {item["name"] for item in args[0]}
    redis_names = {item["name"] for item in args[2]["operator"]["operands"]["true_value"]}
    ids = bicep("modules/identities.bicep")
    assert ids["outputs"]["regionalEnv"]["value"]["config"]["name"] == "${toUpper(region.name)}_MI_CLIENT_ID"
    params = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    regional_names = {f"{r['name'].upper()}_MI_CLIENT_ID" for r in params["openAiRegions"]["value"]}

    fixed = {"LITELLM_YAML_REFRESH_INTERVAL", "LITELLM_YAML_STORAGE_PATH", "LITELLM_PORT"}
    keys = set(configmap_data())
    assert keys - fixed <= static_names | regional_names
    assert static_names | regional_names <= keys
    assert {"REDIS_HOST", "REDIS_AUTH_TYPE", "REDIS_MI_CLIENT_ID", "REDIS_USERNAME"} == redis_names
    # The gateway validates every *_MI_CLIENT_ID as a GUID at start: placeholders must be GUIDs too.
    for key, value in configmap_data().items():
        if key.endswith("_MI_CLIENT_ID"):
            assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", value), key


def test_parameters_file_matches_main_and_has_no_secrets():
    """main.parameters.json only sets declared parameters, sets the required ones, and holds no secrets."""
    main_params = bicep("main.bicep")["parameters"]
    doc = json.loads((INFRA / "main.parameters.json").read_text())
    params = doc["parameters"]
    assert set(params) <= set(main_params)
    assert {p for p, spec in main_params.items() if "default" not in spec} <= set(params)
    assert "deployEventSubscription" not in params  # deploy.sh decides
    assert not any(re.search(r"secret|password|key$", p, re.I) for p in params)
    assert [r["name"] for r in params["openAiRegions"]["value"]] == ["eastus", "westus"]
    assert not any(
        spec.get("decorators") and any(d["type"] == "secure" for d in spec["decorators"])
        for spec in main_params.values()
    )


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
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
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
    for skipped in report["results"]["skipped_checks"]:
        reason = skipped["check_result"].get("suppress_comment", "")
        assert reason and reason != "No comment provided", skipped["check_id"]


# ---------------------------------------------------------------------------- Kubernetes


def test_k8s_yaml_files_parse():
    """Every manifest parses with yaml.safe_load_all and carries no namespace."""
    docs = k8s_docs()
    assert {"serviceaccount.yaml", "configmap.yaml", "statefulset.yaml", "service.yaml",
            "poddisruptionbudget.yaml", "kustomization.yaml"} <= set(docs)
    for name, objects in docs.items():
        assert objects, name
        for obj in objects:
            assert obj.get("apiVersion") and obj.get("kind"), name
            assert "namespace" not in obj.get("metadata", {}), name


def test_kustomization_lists_every_manifest():
    """kustomization.yaml lists exactly the manifests in infra/k8s."""
    kust = only({n: d for n, d in k8s_docs().items() if n == "kustomization.yaml"})[0]
    assert kust["kind"] == "Kustomization"
    listed = kust["resources"]
    assert sorted(listed) == sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    assert "namespace" not in kust


def test_probes_point_at_litellm_health_endpoints():
    """Readiness hits /health/readiness, liveness /health/liveliness, on port 8000, with a generous startup probe."""
    c = gateway_container()
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["http"] == 8000 == int(configmap_data()["LITELLM_PORT"])
    assert c["readinessProbe"]["httpGet"]["path"] == "/health/readiness"
    assert c["livenessProbe"]["httpGet"]["path"] == "/health/liveliness"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert ports.get(c[probe]["httpGet"]["port"], c[probe]["httpGet"]["port"]) == 8000, probe
    startup = c["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300


def test_statefulset_uses_workload_identity_and_service_account():
    """Pods carry azure.workload.identity/use "true" and run as the annotated service account."""
    sts = k8s_object("StatefulSet")
    pod = sts["spec"]["template"]
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    sa = k8s_object("ServiceAccount")
    assert pod["spec"]["serviceAccountName"] == sa["metadata"]["name"]
    assert re.fullmatch(r"[0-9a-f-]{36}", sa["metadata"]["annotations"]["azure.workload.identity/client-id"])
    assert set(sts["spec"]["selector"]["matchLabels"].items()) <= set(pod["metadata"]["labels"].items())


def test_statefulset_is_hardened_with_writable_config_volume():
    """Non-root, read-only root filesystem, and an emptyDir mounted where LITELLM_YAML_STORAGE_PATH points."""
    sts = k8s_object("StatefulSet")
    spec = sts["spec"]["template"]["spec"]
    c = gateway_container()
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert spec["terminationGracePeriodSeconds"] == 30
    assert c["resources"]["requests"] and c["resources"]["limits"]

    config_dir = str(Path(configmap_data()["LITELLM_YAML_STORAGE_PATH"]).parent)
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert config_dir in mounts
    assert "emptyDir" in volumes[mounts[config_dir]]
    assert not any(m.get("readOnly") for m in c["volumeMounts"] if m["mountPath"] == config_dir)


def test_configmap_holds_the_env_table():
    """The ConfigMap sets the environment table values and is loaded by the gateway container."""
    data = configmap_data()
    assert data["BLOB_AUTH_TYPE"] == "MI"
    assert data["BLOB_DOC_CONTAINER"] == "litellm-config"
    assert data["LITELLM_YAML_REFRESH_INTERVAL"] == "60"
    assert data["LITELLM_YAML_STORAGE_PATH"] == "/var/run/litellm/config.yaml"
    assert data["LITELLM_PORT"] == "8000"
    assert data["SERVICEBUS_TOPIC"] == "config-updates"
    for key in ("BLOB_ACCOUNT_URL", "AZURE_TENANT_ID", "EASTUS_MI_CLIENT_ID", "WESTUS_MI_CLIENT_ID",
                "SERVICEBUS_FULLY_QUALIFIED_NAMESPACE"):
        assert data[key], key
    assert all(isinstance(v, str) for v in data.values())
    refs = [e["configMapRef"]["name"] for e in gateway_container()["envFrom"]]
    assert "litellm-gateway-env" in refs


def test_servicebus_subscription_follows_pod_ordinal():
    """SERVICEBUS_SUBSCRIPTION is replica-<pod index>, matching the pre-provisioned replica-0..N-1."""
    env = gateway_container()["env"]
    names = [e["name"] for e in env]
    by_name = {e["name"]: e for e in env}
    index = by_name["POD_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert index == "metadata.labels['apps.kubernetes.io/pod-index']"
    assert by_name["SERVICEBUS_SUBSCRIPTION"]["value"] == "replica-$(POD_INDEX)"
    assert names.index("POD_INDEX") < names.index("SERVICEBUS_SUBSCRIPTION")
    replicas = k8s_object("StatefulSet")["spec"]["replicas"]
    params = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert replicas <= params["replicaSubscriptionCount"]["value"]
    assert replicas <= bicep("main.bicep")["parameters"]["replicaSubscriptionCount"]["default"]


def test_master_key_comes_from_a_secret_without_a_value():
    """LITELLM_MASTER_KEY is a secretKeyRef, and no manifest contains a Secret or a literal key."""
    key = {e["name"]: e for e in gateway_container()["env"]}["LITELLM_MASTER_KEY"]
    assert "value" not in key
    assert key["valueFrom"]["secretKeyRef"]["name"] == "litellm-master-key"
    kinds = {d["kind"] for docs in k8s_docs().values() for d in docs}
    assert "Secret" not in kinds
    assert "kubectl create secret generic litellm-master-key" in (INFRA / "README.md").read_text()


def test_service_and_pdb_select_the_gateway_pods():
    """The Services and the PodDisruptionBudget select the StatefulSet pods; the headless Service backs serviceName."""
    sts = k8s_object("StatefulSet")
    labels = sts["spec"]["template"]["metadata"]["labels"]
    svc = k8s_object("Service", "litellm-gateway")
    assert set(svc["spec"]["selector"].items()) <= set(labels.items())
    assert svc["spec"]["ports"][0]["targetPort"] == "http"
    headless = k8s_object("Service", sts["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    pdb = k8s_object("PodDisruptionBudget")
    assert set(pdb["spec"]["selector"]["matchLabels"].items()) <= set(labels.items())
    assert "maxUnavailable" in pdb["spec"] or "minAvailable" in pdb["spec"]


# ---------------------------------------------------------------------------- deploy.sh

FAKE_AZ = textwrap.dedent(
    r"""
    #!/usr/bin/env bash
    # Stand-in for the Azure CLI: records each call, answers the queries deploy.sh makes.
    printf '%s\n' "$*" >> "$FAKE_AZ_LOG"
    args="$*"
    case "$args" in
      "account show"*) exit 0 ;;
      "group "*) exit 0 ;;
      "functionapp function show"*) [[ "${FAKE_FUNCTION_EXISTS:-0}" == 1 ]]; exit $? ;;
      "deployment group create"*) exit 0 ;;
      *"gatewayEnv.value"*)
        printf 'BLOB_AUTH_TYPE\tMI\r\nBLOB_ACCOUNT_URL\thttps://litellmgwcfgabc.blob.core.windows.net\n'
        printf 'EASTUS_MI_CLIENT_ID\t11111111-1111-1111-1111-111111111111\n' ;;
      *"outputs.functionAppName.value"*) echo "litellmgw-cfgfn-abc" ;;
      *"outputs.storageAccountName.value"*) echo "litellmgwcfgabc" ;;
      *"outputs.GATEWAY_MI_CLIENT_ID.value"*) echo "33333333-3333-3333-3333-333333333333" ;;
      *"outputs.serviceBusSubscriptions.value"*) printf 'replica-0\nreplica-1\nreplica-2\n' ;;
      *) echo "fake az: unexpected: $args" >&2; exit 9 ;;
    esac
    """
).lstrip()


def run_deploy(tmp_path: Path, *args: str, function_exists: bool = False) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run infra/deploy.sh with a fake az on PATH; returns the process and the recorded az calls."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    fake = bindir / "az"
    fake.write_text(FAKE_AZ)
    fake.chmod(0o755)
    log = tmp_path / "az.log"
    log.write_text("")
    env = {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_AZ_LOG": str(log),
        "FAKE_FUNCTION_EXISTS": "1" if function_exists else "0",
        "LITELLM_MASTER_KEY": "sk-must-never-be-printed",
    }
    proc = subprocess.run(
        ["bash", str(DEPLOY_SH), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    return proc, log.read_text().splitlines()


def test_deploy_script_syntax():
    """deploy.sh passes bash -n and runs in strict mode."""
    bash = shutil.which("bash")
    assert bash, "bash is required"
    proc = subprocess.run([bash, "-n", str(DEPLOY_SH)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = DEPLOY_SH.read_text()
    assert text.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in text
    assert os.access(DEPLOY_SH, os.X_OK)


def test_deploy_script_what_if_deploys_nothing(tmp_path: Path):
    """--what-if runs az deployment group create --what-if with main.bicep and the parameters file, and nothing else."""
    proc, calls = run_deploy(tmp_path, "-g", "rg-test", "--what-if")
    assert proc.returncode == 0, proc.stderr
    creates = [c for c in calls if c.startswith("deployment group create")]
    assert len(creates) == 1
    create = creates[0]
    assert "--what-if" in create
    assert "--resource-group rg-test" in create
    assert "--template-file infra/main.bicep" in create
    assert "--parameters @infra/main.parameters.json" in create
    assert "deployEventSubscription=false" in create
    assert not any(c.startswith("group create") for c in calls)


def test_deploy_script_deploys_and_prints_env_without_secrets(tmp_path: Path):
    """A real run deploys, prints the gateway env and the blob upload command, and never prints secrets."""
    env_file = tmp_path / "gateway.env"
    proc, calls = run_deploy(tmp_path, "-g", "rg-test", "-l", "eastus", "--env-file", str(env_file),
                             function_exists=True)
    assert proc.returncode == 0, proc.stderr
    create = only({c: c for c in calls if c.startswith("deployment group create")})
    assert "--what-if" not in create
    assert "deployEventSubscription=true" in create
    assert any(c.startswith("group create --name rg-test --location eastus") for c in calls)
    out = proc.stdout
    assert "BLOB_ACCOUNT_URL=https://litellmgwcfgabc.blob.core.windows.net" in out
    assert "EASTUS_MI_CLIENT_ID=11111111-1111-1111-1111-111111111111" in out
    assert "az storage blob upload --auth-mode login" in out
    assert "--account-name litellmgwcfgabc --container-name litellm-config" in out
    assert "sk-must-never-be-printed" not in out + proc.stderr
    lines = env_file.read_text().splitlines()
    assert lines[0] == "BLOB_AUTH_TYPE=MI"
    assert all("\r" not in line for line in lines)


def test_deploy_script_skips_event_subscription_until_function_is_published(tmp_path: Path):
    """In auto mode the Event Grid subscription is only requested once the function exists."""
    proc, calls = run_deploy(tmp_path, "-g", "rg-test")
    assert proc.returncode == 0, proc.stderr
    create = only({c: c for c in calls if c.startswith("deployment group create")})
    assert "deployEventSubscription=false" in create
    assert "func azure functionapp publish litellmgw-cfgfn-abc" in proc.stdout


def test_deploy_script_rejects_bad_arguments(tmp_path: Path):
    """Missing resource group or an unknown flag fails before any deployment."""
    for args in ((), ("-g", "rg", "--bogus"), ("-g", "rg", "--event-subscription", "maybe")):
        proc, calls = run_deploy(tmp_path, *args)
        assert proc.returncode != 0, args
        assert not any(c.startswith("deployment group create") for c in calls), args


# ---------------------------------------------------------------------------- README


def test_readme_documents_roles_deploy_and_offline_checks():
    """infra/README.md has the role matrix, the deploy command, the env mapping and the offline-check note."""
    text = (INFRA / "README.md").read_text()
    for role in ROLE_IDS:
        assert role in text, role
    for needle in ("infra/deploy.sh", "az deployment group create", "pycep", "checkov",
                   "BLOB_ACCOUNT_URL", "SERVICEBUS_FULLY_QUALIFIED_NAMESPACE", "replica-0",
                   "SERVICEBUS_SUBSCRIPTION_MODE=per-replica", CHECKOV_INSTALL):
        assert needle in text, needle
