"""Choose the Azure credential for Blob Storage or Service Bus, once, for every caller.

Order (first that applies):

1. a connection string (``*_CONNECTION_STRING``): no credential object at all;
2. a client id and AKS workload identity in the pod (``AZURE_FEDERATED_TOKEN_FILE``):
   ``WorkloadIdentityCredential`` for that client id;
3. a client id: the user-assigned managed identity (``ManagedIdentityCredential``);
4. nothing: ``DefaultAzureCredential`` without interactive browser login
   (environment, workload identity, managed identity, Azure CLI for a developer).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gateway.settings import Secret

AuthType = Literal["MI", "CONNECTION_STRING"]


@dataclass(frozen=True)
class Endpoint:
    """How to reach one Azure resource: a connection string, or an address plus an identity.

    ``address`` is a Blob account URL (``https://<account>.blob.core.windows.net``) or a
    Service Bus namespace (``<ns>.servicebus.windows.net``); ``client_id`` a user-assigned
    identity's client id (GUID) or None for the default chain.
    """

    auth_type: AuthType
    address: str | None
    connection_string: Secret | None
    client_id: str | None = None

    def describe(self, variable: str) -> str:
        """For a log line: which auth, never the secret."""
        if self.auth_type == "CONNECTION_STRING":
            return f"connection string ({variable})"
        who = f"managed identity {self.client_id}" if self.client_id else "DefaultAzureCredential"
        return f"{who} -> {self.address}"


def credential(client_id: str | None, *, aio: bool, env: Mapping[str, str] | None = None) -> Any:
    """The azure-identity credential for ``client_id`` (see the module docstring for the order)."""
    env = os.environ if env is None else env
    if aio:
        from azure.identity.aio import (
            DefaultAzureCredential,
            ManagedIdentityCredential,
            WorkloadIdentityCredential,
        )
    else:
        from azure.identity import (  # type: ignore[assignment]  # same names, sync flavour
            DefaultAzureCredential,
            ManagedIdentityCredential,
            WorkloadIdentityCredential,
        )
    if client_id and env.get("AZURE_FEDERATED_TOKEN_FILE"):
        return WorkloadIdentityCredential(
            client_id=client_id,
            tenant_id=env.get("AZURE_TENANT_ID"),
            token_file_path=env["AZURE_FEDERATED_TOKEN_FILE"],
        )
    if client_id:
        return ManagedIdentityCredential(client_id=client_id)
    return DefaultAzureCredential(exclude_interactive_browser_credential=True)
