"""Offline checks of infra/k8s: the manifests parse, agree with each other, with main.bicep and with the gateway."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.infra.helpers import (
    INFRA,
    K8S,
    README,
    REPO,
    bicep,
    configmap_data,
    gateway_container,
    k8s_docs,
    k8s_object,
    only,
    parameters_file,
    readme_section,
)

#: Prefixes of the gateway's own environment variables.
GATEWAY_ENV = re.compile(r"\b((?:BLOB|SERVICEBUS|REDIS|LITELLM|GATEWAY)_[A-Z0-9_]*[A-Z0-9])\b")


def _server_paths(name: str) -> frozenset[str]:
    """A path set the gateway's ASGI app answers itself (gateway/server.py), read without importing LiteLLM."""
    tree = ast.parse((REPO / "gateway" / "server.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return frozenset(ast.literal_eval(node.value.args[0]))
    raise AssertionError(f"gateway/server.py defines no {name}")


def test_k8s_yaml_files_parse():
    """Every manifest parses with yaml.safe_load_all and carries no namespace."""
    docs = k8s_docs()
    assert {"serviceaccount.yaml", "configmap.yaml", "statefulset.yaml", "service.yaml",
            "poddisruptionbudget.yaml", "kustomization.yaml"} <= set(docs)  # fmt: skip
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


def test_probes_point_at_the_gateways_health_endpoints():
    """Readiness hits a readiness path, liveness a liveness path, on port 8000, as gateway/server.py answers them."""
    c = gateway_container()
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["http"] == 8000 == int(configmap_data()["LITELLM_PORT"])
    assert c["readinessProbe"]["httpGet"]["path"] == "/health/readiness" in _server_paths("READINESS_PATHS")
    assert c["livenessProbe"]["httpGet"]["path"] == "/health/liveliness" in _server_paths("LIVENESS_PATHS")
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert ports.get(c[probe]["httpGet"]["port"], c[probe]["httpGet"]["port"]) == 8000, probe


#: The budget a pod has to apply its first valid config before the kubelet restarts it.
TIME_TO_FIRST_CONFIG_S = 600


def test_startup_probe_guards_time_to_first_config():
    """The startup probe waits on readiness (503 until the first valid config), for failureThreshold x period = 10 minutes."""
    startup = gateway_container()["startupProbe"]
    path = startup["httpGet"]["path"]
    # A liveness path answers at once, so it would never enforce the budget.
    assert path in _server_paths("READINESS_PATHS") and path not in _server_paths("LIVENESS_PATHS")
    assert startup["periodSeconds"] * startup["failureThreshold"] == TIME_TO_FIRST_CONFIG_S
    # Well above the startup fetch's 30 s retry cap, so a few failed fetches never restart a pod.
    assert TIME_TO_FIRST_CONFIG_S >= 10 * 30
    manifest = (K8S / "statefulset.yaml").read_text()
    assert "time to first config" in manifest and "10 minutes" in manifest
    assert "startup probe" in README.read_text() and "10 minutes" in readme_section("Kubernetes (AKS with workload identity)")


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
    assert data["GATEWAY_LOG_FORMAT"] == "json"  # one JSON object per log line in the cluster
    for key in ("BLOB_ACCOUNT_URL", "AZURE_TENANT_ID", "EASTUS_MI_CLIENT_ID", "WESTUS_MI_CLIENT_ID",
                "SERVICEBUS_FULLY_QUALIFIED_NAMESPACE"):  # fmt: skip
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
    assert replicas <= parameters_file()["replicaSubscriptionCount"]["value"]
    assert replicas <= bicep("main.bicep")["parameters"]["replicaSubscriptionCount"]["default"]


def test_master_key_comes_from_a_secret_without_a_value():
    """LITELLM_MASTER_KEY is a secretKeyRef, and no manifest contains a Secret or a literal key."""
    key = {e["name"]: e for e in gateway_container()["env"]}["LITELLM_MASTER_KEY"]
    assert "value" not in key
    assert key["valueFrom"]["secretKeyRef"]["name"] == "litellm-master-key"
    kinds = {d["kind"] for docs in k8s_docs().values() for d in docs}
    assert "Secret" not in kinds
    assert "kubectl create secret generic litellm-master-key" in README.read_text()


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


def _read_by_the_code() -> set[str]:
    """Every gateway-prefixed variable name the replica or the Function reads (as a string literal)."""
    names: set[str] = set()
    for path in [*(REPO / "gateway").rglob("*.py"), REPO / "function_app" / "function_app.py"]:
        names |= set(re.findall(r"[\"']((?:BLOB|SERVICEBUS|REDIS|LITELLM|GATEWAY)_[A-Z0-9_]+)[\"']", path.read_text()))
    return names


def test_documented_gateway_variables_are_read_by_the_code():
    """Every BLOB_/SERVICEBUS_/REDIS_/LITELLM_/GATEWAY_ variable the infra docs, manifests or outputs name is one the code reads."""
    read = _read_by_the_code()
    sources = [README, *K8S.glob("*.yaml"), INFRA / "main.bicep", *INFRA.glob("modules/*.bicep")]
    for path in sources:
        named = set(GATEWAY_ENV.findall(path.read_text())) - {"GATEWAY_MI_CLIENT_ID", "GATEWAY_MI_PRINCIPAL_ID"}
        assert named <= read, f"{path.relative_to(REPO)} names variables no code reads: {sorted(named - read)}"

