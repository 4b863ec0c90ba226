"""Offline checks of infra/*.bicep, per service: Event Grid, Service Bus, storage, the Flex Function App, Redis.

The bicep CLI cannot be downloaded here, so the templates are checked from their parsed
structure (pycep-parser, the parser checkov itself uses) and with checkov's bicep framework.
checkov pins many libraries, so it lives in its own virtualenv (see CHECKOV_INSTALL).
"""

from __future__ import annotations

import re

from gateway.settings import Settings
from tests.infra.helpers import (
    BICEP_FILES,
    CONFIG_BLOB_SUBJECT,
    INFRA,
    README,
    allowed_values,
    bicep,
    body,
    dotted,
    module_param,
    only,
    render,
    resolve,
    resources_of_type,
)

GUID = "00000000-0000-0000-0000-000000000001"



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


