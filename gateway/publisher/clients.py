"""The publisher's environment and the Azure clients built from it.

Variables (app settings of the Function App, or ``local.settings.json``)::

    BLOB_CONNECTION_STRING                 local/dev: Azurite or a storage account key (wins if set)
    BLOB_ACCOUNT_URL                       managed identity: https://<account>.blob.core.windows.net
    BLOB_DOC_CONTAINER                     default litellm-config
    BLOB_CONFIG_NAME                       default config.yaml
    SERVICEBUS_CONNECTION_STRING           local/dev: emulator or SAS (wins if set)
    SERVICEBUS_FULLY_QUALIFIED_NAMESPACE   managed identity: <namespace>.servicebus.windows.net
    SERVICEBUS_TOPIC                       default config-updates
    AZURE_CLIENT_ID                        user-assigned identity's client id (else DefaultAzureCredential)
    GATEWAY_ALLOWED_ENV                    optional comma-separated allow-list of os.environ/NAME references
    GATEWAY_ALLOW_LITERAL_SECRETS          default false
    GATEWAY_CONFIG_MAX_BYTES               default 1 MiB

Every problem names its variable; connection strings are ``Secret`` values and
never appear in a repr or a log line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.settings import DEFAULT_MAX_CONFIG_BYTES, Secret, _Reader
from gateway.validation import ValidationOptions

_LOG = logging.getLogger(__name__)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CONTAINER = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class PublisherSettings:
    """Everything the publisher reads from its environment, checked."""

    blob_account_url: str | None
    blob_connection_string: Secret | None
    container: str
    config_blob: str
    servicebus_namespace: str | None
    servicebus_connection_string: Secret | None
    topic: str
    client_id: str | None = None
    allowed_env: frozenset[str] | None = None
    allow_literal_secrets: bool = False
    max_config_bytes: int = DEFAULT_MAX_CONFIG_BYTES

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "PublisherSettings":
        """Parse and check; raise one ``SettingsError`` naming every missing or malformed variable."""
        r = _Reader(env)
        blob_conn = r.secret("BLOB_CONNECTION_STRING")
        account_url = r.text("BLOB_ACCOUNT_URL")
        if blob_conn is None and account_url is None:
            r.problem(
                "BLOB_ACCOUNT_URL",
                "required (managed identity: https://<account>.blob.core.windows.net), "
                "or set BLOB_CONNECTION_STRING for local development",
            )
        elif blob_conn is None and account_url and not re.match(r"^https?://[^/\s]+", account_url):
            r.problem("BLOB_ACCOUNT_URL", f"expected an http(s) URL, got {account_url!r}")

        sb_conn = r.secret("SERVICEBUS_CONNECTION_STRING")
        namespace = r.text("SERVICEBUS_FULLY_QUALIFIED_NAMESPACE")
        if sb_conn is None and namespace is None:
            r.problem(
                "SERVICEBUS_FULLY_QUALIFIED_NAMESPACE",
                "required (managed identity: <namespace>.servicebus.windows.net), "
                "or set SERVICEBUS_CONNECTION_STRING for local development",
            )
        if namespace:
            namespace = re.sub(r"^(sb|amqps|https)://", "", namespace).rstrip("/")
            if "/" in namespace or not namespace:
                r.problem("SERVICEBUS_FULLY_QUALIFIED_NAMESPACE", f"expected a host name like <ns>.servicebus.windows.net, got {namespace!r}")
        if sb_conn is not None and "Endpoint=" not in sb_conn.reveal():
            r.problem("SERVICEBUS_CONNECTION_STRING", "expected a connection string with Endpoint=sb://...")
        if blob_conn is not None and "=" not in blob_conn.reveal():
            r.problem("BLOB_CONNECTION_STRING", "expected a connection string (AccountName=...;AccountKey=... or BlobEndpoint=...)")

        container = r.text("BLOB_DOC_CONTAINER") or "litellm-config"
        if not _CONTAINER.match(container):
            r.problem("BLOB_DOC_CONTAINER", f"{container!r} is not a valid container name (3-63 of a-z, 0-9, -)")

        allowed: frozenset[str] | None = None
        raw_allowed = r.text("GATEWAY_ALLOWED_ENV")
        if raw_allowed is not None:
            names = [n.strip() for n in raw_allowed.split(",") if n.strip()]
            bad = [n for n in names if not _ENV_NAME.match(n)]
            if bad:
                r.problem("GATEWAY_ALLOWED_ENV", f"not environment variable names: {', '.join(bad)}")
            allowed = frozenset(names)

        settings = cls(
            blob_account_url=account_url.rstrip("/") if account_url else None,
            blob_connection_string=blob_conn,
            container=container,
            config_blob=r.text("BLOB_CONFIG_NAME") or "config.yaml",
            servicebus_namespace=namespace,
            servicebus_connection_string=sb_conn,
            topic=r.text("SERVICEBUS_TOPIC") or "config-updates",
            client_id=r.guid("AZURE_CLIENT_ID"),
            allowed_env=allowed,
            allow_literal_secrets=r.flag("GATEWAY_ALLOW_LITERAL_SECRETS", False),
            max_config_bytes=int(
                r.number("GATEWAY_CONFIG_MAX_BYTES", DEFAULT_MAX_CONFIG_BYTES, minimum=1024, integer=True)
            ),
        )
        r.raise_if_any()
        return settings

    def validation_options(self) -> ValidationOptions:
        return ValidationOptions(
            mode="publisher",
            allowed_env=self.allowed_env,
            allow_literal_secrets=self.allow_literal_secrets,
            max_bytes=self.max_config_bytes,
        )

    def describe(self) -> str:
        """A log line without secrets: which endpoints and which kind of auth."""
        blob = "connection string (BLOB_CONNECTION_STRING)" if self.blob_connection_string else f"managed identity -> {self.blob_account_url}"
        sb = (
            "connection string (SERVICEBUS_CONNECTION_STRING)"
            if self.servicebus_connection_string
            else f"managed identity -> {self.servicebus_namespace}"
        )
        who = f" (client id {self.client_id})" if self.client_id and not (self.blob_connection_string and self.servicebus_connection_string) else ""
        return (
            f"blob {self.container}/{self.config_blob} via {blob}; "
            f"topic {self.topic} via {sb}{who}; allow-list "
            f"{'off' if self.allowed_env is None else len(self.allowed_env)}"
        )


def credential(settings: PublisherSettings) -> Any:
    """Managed identity: the user-assigned identity ``AZURE_CLIENT_ID`` names, else ``DefaultAzureCredential``."""
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    if settings.client_id:
        return ManagedIdentityCredential(client_id=settings.client_id)
    return DefaultAzureCredential()


def container_client(settings: PublisherSettings, cred: Any = None) -> Any:
    """A sync ``ContainerClient`` for the config container."""
    from azure.storage.blob import BlobServiceClient

    if settings.blob_connection_string is not None:
        service = BlobServiceClient.from_connection_string(settings.blob_connection_string.reveal())
    else:
        service = BlobServiceClient(settings.blob_account_url, credential=cred or credential(settings))
    return service.get_container_client(settings.container)


def servicebus_client(settings: PublisherSettings, cred: Any = None) -> Any:
    """A sync ``ServiceBusClient`` for the namespace (the topic sender is opened from it)."""
    from azure.servicebus import ServiceBusClient

    if settings.servicebus_connection_string is not None:
        return ServiceBusClient.from_connection_string(settings.servicebus_connection_string.reveal())
    return ServiceBusClient(settings.servicebus_namespace, credential=cred or credential(settings))
