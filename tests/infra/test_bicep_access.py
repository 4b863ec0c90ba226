"""Offline checks of infra/*.bicep, who may do what: role assignments and ABAC write conditions.

The bicep CLI cannot be downloaded here, so the templates are checked from their parsed
structure (pycep-parser, the parser checkov itself uses) and with checkov's bicep framework.
checkov pins many libraries, so it lives in its own virtualenv (see CHECKOV_INSTALL).
"""

from __future__ import annotations

import pytest

from gateway import protocol
from tests.infra.helpers import (
    BICEP_FILES,
    BLOB_READ,
    BLOB_WRITE_ACTIONS,
    EXPECTED_ROLE_ASSIGNMENTS,
    INFRA,
    ROLE_IDS,
    bicep,
    body,
    dotted,
    module_param,
    only,
    readme_section,
    resolve,
    resources_of_type,
    role_condition,
)

GUID = "00000000-0000-0000-0000-000000000001"



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


