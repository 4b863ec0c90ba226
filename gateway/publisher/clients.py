"""The publisher's environment, and its Azure clients (built by the one seam, ``gateway.cloud``).

Variables (app settings of the Function App, or ``local.settings.json``)::

    BLOB_CONNECTION_STRING                 local/dev: Azurite or a storage account key
    BLOB_ACCOUNT_URL                       managed identity: https://<account>.blob.core.windows.net
    BLOB_AUTH_TYPE                         MI | CONNECTION_STRING (default: CONNECTION_STRING if one is set)
    BLOB_MI_CLIENT_ID                      identity for Blob (default AZURE_CLIENT_ID)
    BLOB_DOC_CONTAINER                     default litellm-config
    BLOB_CONFIG_NAME                       default config.yaml
    SERVICEBUS_CONNECTION_STRING           local/dev: emulator or SAS
    SERVICEBUS_FULLY_QUALIFIED_NAMESPACE   managed identity: <namespace>.servicebus.windows.net
    SERVICEBUS_AUTH_TYPE                   MI | CONNECTION_STRING (default: CONNECTION_STRING if one is set)
    SERVICEBUS_MI_CLIENT_ID                identity for Service Bus (default AZURE_CLIENT_ID)
    SERVICEBUS_TOPIC                       default config-updates
    AZURE_CLIENT_ID                        user-assigned identity's client id (none: DefaultAzureCredential)
    GATEWAY_ALLOWED_ENV                    optional comma-separated allow-list of os.environ/NAME references
    GATEWAY_ALLOWED_HOSTS                  optional comma-separated upstream hosts (*.openai.azure.com, ...)
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
from typing import Any, Literal

from gateway.cloud import clients
from gateway.cloud.credentials import Endpoint
from gateway.settings import DEFAULT_MAX_CONFIG_BYTES, EnvReader, Secret, allowed_hosts
from gateway.validation import ValidationOptions

_LOG = logging.getLogger(__name__)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CONTAINER = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")


AuthType = Literal["MI", "CONNECTION_STRING"]


@dataclass(frozen=True)
class PublisherSettings:
    """Everything the publisher reads from its environment, checked."""

    blob_auth: AuthType
    blob_account_url: str | None
    blob_connection_string: Secret | None
    container: str
    config_blob: str
    servicebus_auth: AuthType
    servicebus_namespace: str | None
    servicebus_connection_string: Secret | None
    topic: str
    blob_client_id: str | None = None
    servicebus_client_id: str | None = None
    allowed_env: frozenset[str] | None = None
    allowed_hosts: tuple[str, ...] | None = None
    allow_literal_secrets: bool = False
    max_config_bytes: int = DEFAULT_MAX_CONFIG_BYTES

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PublisherSettings:
        """Parse and check; raise one ``SettingsError`` naming every missing or malformed variable."""
        r = EnvReader(env)
        default_client_id = r.guid("AZURE_CLIENT_ID")

        blob_conn = r.secret("BLOB_CONNECTION_STRING")
        account_url = r.text("BLOB_ACCOUNT_URL")
        blob_auth = r.choice("BLOB_AUTH_TYPE", ("MI", "CONNECTION_STRING"), "CONNECTION_STRING" if blob_conn else "MI")
        if blob_auth == "CONNECTION_STRING":
            if blob_conn is None:
                r.problem("BLOB_CONNECTION_STRING", "required when BLOB_AUTH_TYPE=CONNECTION_STRING")
            elif "=" not in blob_conn.reveal():
                r.problem("BLOB_CONNECTION_STRING", "expected a connection string (AccountName=...;AccountKey=... or BlobEndpoint=...)")
        elif account_url is None:
            r.problem(
                "BLOB_ACCOUNT_URL",
                "required for managed identity (https://<account>.blob.core.windows.net); "
                "or set BLOB_CONNECTION_STRING for local development",
            )
        elif not re.match(r"^https?://[^/\s]+", account_url):
            r.problem("BLOB_ACCOUNT_URL", f"expected an http(s) URL, got {account_url!r}")

        sb_conn = r.secret("SERVICEBUS_CONNECTION_STRING")
        namespace = r.text("SERVICEBUS_FULLY_QUALIFIED_NAMESPACE")
        sb_auth = r.choice("SERVICEBUS_AUTH_TYPE", ("MI", "CONNECTION_STRING"), "CONNECTION_STRING" if sb_conn else "MI")
        if namespace:
            namespace = re.sub(r"^(sb|amqps|https)://", "", namespace).rstrip("/")
        if sb_auth == "CONNECTION_STRING":
            if sb_conn is None:
                r.problem("SERVICEBUS_CONNECTION_STRING", "required when SERVICEBUS_AUTH_TYPE=CONNECTION_STRING")
            elif "Endpoint=" not in sb_conn.reveal():
                r.problem("SERVICEBUS_CONNECTION_STRING", "expected a connection string with Endpoint=sb://...")
        elif not namespace:
            r.problem(
                "SERVICEBUS_FULLY_QUALIFIED_NAMESPACE",
                "required for managed identity (<namespace>.servicebus.windows.net); "
                "or set SERVICEBUS_CONNECTION_STRING for local development",
            )
        elif "/" in namespace:
            r.problem("SERVICEBUS_FULLY_QUALIFIED_NAMESPACE", f"expected a host name like <ns>.servicebus.windows.net, got {namespace!r}")

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
            blob_auth=blob_auth or "MI",  # type: ignore[arg-type]
            blob_account_url=account_url.rstrip("/") if account_url else None,
            blob_connection_string=blob_conn if blob_auth == "CONNECTION_STRING" else None,
            container=container,
            config_blob=r.text("BLOB_CONFIG_NAME") or "config.yaml",
            servicebus_auth=sb_auth or "MI",  # type: ignore[arg-type]
            servicebus_namespace=namespace,
            servicebus_connection_string=sb_conn if sb_auth == "CONNECTION_STRING" else None,
            topic=r.text("SERVICEBUS_TOPIC") or "config-updates",
            blob_client_id=r.guid("BLOB_MI_CLIENT_ID") or default_client_id,
            servicebus_client_id=r.guid("SERVICEBUS_MI_CLIENT_ID") or default_client_id,
            allowed_env=allowed,
            allowed_hosts=allowed_hosts(r),
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
            allowed_hosts=self.allowed_hosts,
            allow_literal_secrets=self.allow_literal_secrets,
            max_bytes=self.max_config_bytes,
        )

    def blob_endpoint(self) -> Endpoint:
        return Endpoint(self.blob_auth, self.blob_account_url, self.blob_connection_string, self.blob_client_id)

    def servicebus_endpoint(self) -> Endpoint:
        return Endpoint(self.servicebus_auth, self.servicebus_namespace, self.servicebus_connection_string, self.servicebus_client_id)

    def describe(self) -> str:
        """A log line without secrets: which endpoints and which kind of auth."""
        blob = self.blob_endpoint().describe("BLOB_CONNECTION_STRING")
        sb = self.servicebus_endpoint().describe("SERVICEBUS_CONNECTION_STRING")
        allow = "off" if self.allowed_env is None else f"{len(self.allowed_env)} names"
        return f"blob {self.container}/{self.config_blob} via {blob}; topic {self.topic} via {sb}; allow-list {allow}"


def container_client(settings: PublisherSettings) -> Any:
    """A sync ``ContainerClient`` for the config container (credential chosen in ``gateway.cloud``)."""
    return clients.container_client(settings.blob_endpoint(), settings.container, aio=False)


def servicebus_client(settings: PublisherSettings) -> Any:
    """A sync ``ServiceBusClient`` for the namespace (the topic sender is opened from it)."""
    return clients.servicebus_client(settings.servicebus_endpoint(), aio=False)
