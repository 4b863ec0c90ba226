"""Offline checks of infra/*.bicep: parsed with pycep-parser, policy-checked with checkov.

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

from gateway import protocol
from gateway.settings import Settings
from tests.infra.helpers import (
    BICEP_FILES,
    BLOB_READ,
    BLOB_WRITE_ACTIONS,
    CHECKOV,
    CHECKOV_INSTALL,
    CONFIG_BLOB_SUBJECT,
    EXPECTED_ROLE_ASSIGNMENTS,
    INFRA,
    README,
    REPO,
    ROLE_IDS,
    allowed_values,
    bicep,
    body,
    configmap_data,
    dotted,
    interpolate,
    k8s_object,
    module_param,
    only,
    parameters_file,
    readme_section,
    render,
    resolve,
    resources_of_type,
    role_condition,
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


# ---------------------------------------------------------------------------- roles


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


def test_readme_documents_the_role_matrix():
    """infra/README.md's identity/role matrix names every role the bicep assigns, with its GUID."""
    matrix = readme_section("Identity / role matrix")
    for role, guid in ROLE_IDS.items():
        assert role in matrix and guid in matrix, role


def test_function_host_storage_has_blob_owner_and_table_contributor():
    """The Functions host's identity-based AzureWebJobsStorage gets Blob Data Owner and Table Data Contributor on the host account."""
    roles = {
        role for (rel, _symbol), (role, scope, principal) in EXPECTED_ROLE_ASSIGNMENTS.items()
        if rel == "modules/functionapp.bicep" and scope == "hostStorage" and principal == "functionPrincipalId"
    }  # fmt: skip
    assert roles == {"Storage Blob Data Owner", "Storage Table Data Contributor"}
    app = body(only(resources_of_type(bicep("modules/functionapp.bicep"), "Microsoft.Web/sites")))
    settings = {s["name"]: s["value"] for s in app["properties"]["siteConfig"]["appSettings"]}
    assert dotted(settings["AzureWebJobsStorage__accountName"]) == "hostStorage.name"
    # The app waits for both assignments before the host starts against the account.
    assert {"functionHostBlobOwner", "functionHostTableContributor"} <= set(app["dependsOn"])


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


# ---------------------------------------------------------------------------- who writes what (ABAC)

# (writer, data action, blob path in the config container) -> allowed
WRITE_CASES = [
    ("operator", "write", "config.yaml", True),
    ("operator", "add/action", "config.yaml", True),
    ("operator", "delete", "config.yaml", True),
    ("operator", "write", protocol.CURRENT_BLOB, False),
    ("operator", "add/action", protocol.release_blob_name("00000000000000000000000000000042"), False),
    ("operator", "delete", protocol.CURRENT_BLOB, False),
    ("operator", "write", protocol.status_blob_name("config.yaml"), False),
    ("operator", "move/action", protocol.CURRENT_BLOB, False),
    ("operator", "write", "config.yaml.bak", False),
    ("operator", "write", "nested/config.yaml", False),
    ("operator", "read", protocol.CURRENT_BLOB, True),
    ("operator", "read", protocol.status_blob_name("config.yaml"), True),
    ("function", "write", protocol.CURRENT_BLOB, True),
    ("function", "add/action", protocol.release_blob_name("00000000000000000000000000000042"), True),
    ("function", "write", protocol.status_blob_name("config.yaml"), True),
    ("function", "write", "config.yaml", False),
    ("function", "delete", "config.yaml", False),
    ("function", "write", "other/notes.txt", False),
    ("function", "read", "config.yaml", True),
    ("gateway", "write", "status/replicas/replica-1.json", True),
    ("gateway", "add/action", "status/replicas/gw-0.w12.json", True),
    ("gateway", "write", protocol.status_blob_name("config.yaml"), False),
    ("gateway", "write", protocol.CURRENT_BLOB, False),
    ("gateway", "add/action", protocol.release_blob_name("00000000000000000000000000000042"), False),
    ("gateway", "write", "config.yaml", False),
    ("gateway", "delete", "config.yaml", False),
    ("gateway", "write", "status/replicas/notes.txt", False),
    ("gateway", "move/action", protocol.CURRENT_BLOB, False),
    ("gateway", "read", "config.yaml", True),
    ("gateway", "read", protocol.CURRENT_BLOB, True),
]
WRITERS = {"operator": "operatorConfigContributors", "function": "functionConfigContributor", "gateway": "gatewayReportWriter"}


def _action(short: str) -> str:
    return BLOB_READ if short == "read" else f"Microsoft.Storage/storageAccounts/blobServices/containers/blobs/{short}"


@pytest.mark.parametrize(("writer", "action", "path", "allowed"), WRITE_CASES, ids=lambda v: str(v))
def test_only_the_function_writes_releases_and_status(writer: str, action: str, path: str, allowed: bool):
    """Operators/CI may write only config.yaml; only the Function writes releases/ and the verdict; replicas only their reports (ABAC)."""
    condition = role_condition("modules/storage.bicep", WRITERS[writer])
    assert condition.allows(_action(action), path) is allowed


def test_write_conditions_cover_every_write_action_of_the_role():
    """Each Contributor assignment on the config container limits every blob write action; nothing writes there unconditioned."""
    st = bicep("modules/storage.bicep")
    contributor = ROLE_IDS["Storage Blob Data Contributor"]
    for symbol, resource in resources_of_type(st, "Microsoft.Authorization/roleAssignments").items():
        conf = body(resource)
        role = resolve(st, conf["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"])
        if conf["scope"] == "configContainer" and role == contributor:
            assert role_condition("modules/storage.bicep", symbol).actions == set(BLOB_WRITE_ACTIONS), symbol
    # The blob operators may write is the one Event Grid listens to, as main.bicep wires it.
    assert module_param("configStorage", "configBlobName") == module_param("eventGrid", "configBlobName") == "config.yaml"


# ---------------------------------------------------------------------------- Event Grid


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

    dead = props["deadLetterWithResourceIdentity"]
    assert dead["identity"]["type"] == "SystemAssigned"
    assert dead["deadLetterDestination"]["endpointType"] == "StorageBlob"
    assert dead["deadLetterDestination"]["properties"]["blobContainerName"] == "deadLetterContainerName"


#: Event Grid's documented retry schedule (delay before attempt 2, 3, ...), then every 12 h.
EVENT_GRID_RETRY_DELAYS_S = [10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600] + [12 * 3600] * 30
#: Event Grid waits this long for an answer before it counts an attempt as failed.
EVENT_GRID_DELIVERY_TIMEOUT_S = 30


def attempts_within(ttl_minutes: int, *, answer_s: float) -> int:
    """How many attempts start before the event's time-to-live ends, when each failed attempt takes ``answer_s``."""
    start, attempts = 0.0, 0
    for delay in [0.0, *EVENT_GRID_RETRY_DELAYS_S]:
        start += delay + (answer_s if attempts else 0.0)
        if start >= ttl_minutes * 60:
            break
        attempts += 1
    return attempts


def test_event_grid_retry_numbers_agree():
    """maxDeliveryAttempts is what the schedule really delivers within eventTimeToLiveInMinutes, and the README says so."""
    eg = bicep("modules/eventgrid.bicep")
    props = body(only(resources_of_type(eg, "Microsoft.EventGrid/systemTopics/eventSubscriptions")))["properties"]
    attempts = resolve(eg, props["retryPolicy"]["maxDeliveryAttempts"])
    ttl = resolve(eg, props["retryPolicy"]["eventTimeToLiveInMinutes"])
    assert "maxDeliveryAttempts" not in body(bicep("main.bicep")["modules"]["eventGrid"])["params"]
    # Neither limit is dead: failing fast or timing out, exactly `attempts` attempts fit in the TTL.
    assert attempts_within(ttl, answer_s=0) == attempts
    assert attempts_within(ttl, answer_s=EVENT_GRID_DELIVERY_TIMEOUT_S) == attempts
    # The example in Event Grid's docs: 10 attempts / 60 minutes only ever delivers 7.
    assert attempts_within(60, answer_s=0) == 7
    text = README.read_text()
    assert f"{attempts} delivery attempts within {ttl} minutes" in text
    assert not re.search(r"retry \d+ attempts", text), "the flow diagram repeats retry numbers: keep them in one place"


# ---------------------------------------------------------------------------- Service Bus, storage


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
    assert conf["name"] == "replica-${" + loop["item_name"] + "}"
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


# ---------------------------------------------------------------------------- Function App (Flex)

#: Site properties the Flex Consumption documentation lists as deprecated or invalid for Flex
#: sites (ARM rejects some of them with BadRequest, e.g. "FtpsState for Flex Consumption
#: sites is invalid"); compared case-insensitively, on the site and on its siteConfig.
FLEX_UNSUPPORTED_SITE_PROPERTIES = {
    "ftpsState", "use32BitWorkerProcess", "isReserved", "reserved", "isXenon", "windowsFxVersion",
    "alwaysOn", "preWarmedInstanceCount", "functionAppScaleLimit", "containerSize", "javaVersion",
    "powerShellVersion", "netFrameworkVersion", "linuxFxVersion", "functionsRuntimeScaleMonitoringEnabled",
}  # fmt: skip
#: App settings the Flex Consumption deprecation list replaces with functionAppConfig.
FLEX_UNSUPPORTED_APP_SETTINGS = {
    "WEBSITE_NODE_DEFAULT_VERSION", "FUNCTIONS_EXTENSION_VERSION", "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_WORKER_RUNTIME_VERSION", "FUNCTIONS_MAX_HTTP_CONCURRENCY", "FUNCTIONS_WORKER_PROCESS_COUNT",
    "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED", "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_CONTENTSHARE", "WEBSITE_CONTENTOVERVNET", "WEBSITE_RUN_FROM_PACKAGE", "SCM_DO_BUILD_DURING_DEPLOYMENT",
    "ENABLE_ORYX_BUILD", "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT", "WEBSITE_SKIP_CONTENTSHARE_VALIDATION",
    "WEBSITES_CONTAINER_START_TIME_LIMIT", "WEBSITE_TIME_ZONE", "TZ",
}  # fmt: skip


def _flex_sites() -> list[tuple[str, dict]]:
    """Every Microsoft.Web/sites on a Flex Consumption (FC1) plan, with its body."""
    sites = []
    for path in BICEP_FILES:
        template = bicep(path.relative_to(INFRA).as_posix())
        plans = {
            symbol for symbol, plan in resources_of_type(template, "Microsoft.Web/serverfarms").items()
            if body(plan).get("sku", {}).get("tier") == "FlexConsumption"
        }  # fmt: skip
        for symbol, site in resources_of_type(template, "Microsoft.Web/sites").items():
            conf = body(site)
            if site.get("existing"):
                continue
            if dotted(conf["properties"]["serverFarmId"]) in {f"{p}.id" for p in plans}:
                sites.append((f"{path.name}:{symbol}", conf))
    return sites


def test_flex_sites_set_no_property_flex_rejects():
    """No Flex Consumption site sets a site property or app setting from Flex's deprecation list (siteConfig.ftpsState ...)."""
    sites = _flex_sites()
    assert [name for name, _ in sites] == ["functionapp.bicep:functionApp"]
    banned = {p.lower() for p in FLEX_UNSUPPORTED_SITE_PROPERTIES}
    for name, conf in sites:
        props = conf["properties"]
        used = {k.lower() for k in props} | {k.lower() for k in props.get("siteConfig", {})} | {k.lower() for k in conf}
        assert not used & banned, (name, sorted(used & banned))
        settings = {s["name"].upper() for s in props.get("siteConfig", {}).get("appSettings", [])}
        assert not settings & FLEX_UNSUPPORTED_APP_SETTINGS, (name, sorted(settings & FLEX_UNSUPPORTED_APP_SETTINGS))
        # What those settings did lives in functionAppConfig instead.
        assert {"runtime", "deployment", "scaleAndConcurrency"} <= set(props["functionAppConfig"])


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


# ---------------------------------------------------------------------------- Redis (Azure Managed Redis)


def test_redis_is_optional_azure_managed_redis_entra_only_and_tls():
    """Redis is off by default; when on it is Azure Managed Redis: TLS on 10000, no access keys, an access policy for the gateway."""
    main = bicep("main.bicep")
    assert main["parameters"]["enableRedis"]["default"] is False
    assert main["modules"]["redis"]["config"]["condition"] == "enableRedis"
    for path in BICEP_FILES:  # the retiring Azure Cache for Redis is no longer created
        assert not resources_of_type(bicep(path.relative_to(INFRA).as_posix()), "Microsoft.Cache/redis"), path.name

    rd = bicep("modules/redis.bicep")
    cluster = body(only(resources_of_type(rd, "Microsoft.Cache/redisEnterprise")))
    assert cluster["properties"]["minimumTlsVersion"] == "1.2"
    database = only(resources_of_type(rd, "Microsoft.Cache/redisEnterprise/databases"))
    db = body(database)
    assert db["parent"] == "cluster"
    assert db["properties"]["clientProtocol"] == "Encrypted"  # TLS only
    assert db["properties"]["accessKeysAuthentication"] == "Disabled"  # Entra ID only
    assert db["properties"]["port"] == 10000
    # One endpoint behind a proxy: the gateway's plain (non-cluster) Redis client works.
    assert db["properties"]["clusteringPolicy"] == "EnterpriseCluster"

    access = body(only(resources_of_type(rd, "Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments")))
    assert access["parent"] == "database"
    assert access["properties"]["user"]["objectId"] == "gatewayPrincipalId"
    assert access["properties"]["accessPolicyName"] == "default"
    assert dotted(module_param("redis", "gatewayPrincipalId")) == "identities.outputs.gatewayPrincipalId"
    assert dotted(rd["outputs"]["hostName"]["value"]) == "cluster.properties.hostName"


def test_redis_sku_carries_its_size():
    """Azure Managed Redis SKUs name their size, so there is no capacity to contradict them; main and module allow the same SKUs."""
    main, rd = bicep("main.bicep"), bicep("modules/redis.bicep")
    skus = allowed_values(rd, "skuName")
    assert skus == allowed_values(main, "redisSkuName")
    assert all(re.fullmatch(r"(Balanced_B|MemoryOptimized_M|ComputeOptimized_X)\d+", s) for s in skus), skus
    assert main["parameters"]["redisSkuName"]["default"] in skus and rd["parameters"]["skuName"]["default"] in skus
    assert not any("capacity" in p.lower() for p in {**main["parameters"], **rd["parameters"]})
    cluster = body(only(resources_of_type(rd, "Microsoft.Cache/redisEnterprise")))
    assert set(cluster["sku"]) == {"name"}


def test_redis_env_from_the_outputs_reaches_the_database_port_over_tls():
    """The gateway env main.bicep outputs for Redis, parsed by gateway.settings, gives TLS on the database's port."""
    outputs = bicep("main.bicep")["outputs"]
    env_args = list(outputs["gatewayEnv"]["value"]["function"]["parameters"].values())
    redis_env = {item["name"]: item["value"] for item in env_args[2]["operator"]["operands"]["true_value"]}
    assert set(redis_env) == {"REDIS_HOST", "REDIS_AUTH_TYPE", "REDIS_MI_CLIENT_ID", "REDIS_USERNAME"}
    assert redis_env["REDIS_AUTH_TYPE"] == "MI"
    # Azure Managed Redis host names are <name>.<region>.redis.azure.net.
    env = {
        "BLOB_ACCOUNT_URL": "https://acct.blob.core.windows.net",
        "REDIS_HOST": "litellmgw-redis-abc.eastus.redis.azure.net",
        "REDIS_AUTH_TYPE": "MI",
        "REDIS_MI_CLIENT_ID": GUID,
        "REDIS_USERNAME": GUID,
    }
    redis = Settings.from_env(env).redis
    db = body(only(resources_of_type(bicep("modules/redis.bicep"), "Microsoft.Cache/redisEnterprise/databases")))
    assert redis is not None and redis.ssl is True and redis.port == db["properties"]["port"]


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
