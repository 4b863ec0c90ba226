"""Gateway settings: the seed README's environment table, parsed once and checked.

Settings are plain values: reading the environment happens here and nowhere
else, every problem is collected so one ``SettingsError`` names every missing or
malformed variable at once, secrets are wrapped in ``Secret`` so they never show
up in a repr or a log line, and no client is created here (sources and caches
connect later, in their own start steps).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

from gateway.errors import SettingProblem, SettingsError

T = TypeVar("T")

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DEFAULT_MAX_CONFIG_BYTES = 1024 * 1024


class Secret:
    """A string that masks itself in ``repr``/``str``; call ``reveal()`` where the value is really needed."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class BlobSettings:
    """Where the config lives in Blob Storage and how to authenticate (BLOB_*)."""

    auth_type: Literal["MI", "CONNECTION_STRING"]
    account_url: str | None
    connection_string: Secret | None
    container: str
    config_blob: str
    mi_client_id: str | None


@dataclass(frozen=True)
class ServiceBusSettings:
    """The push channel (SERVICEBUS_*); absent means the gateway relies on the blob poll alone."""

    auth_type: Literal["MI", "CONNECTION_STRING"]
    fully_qualified_namespace: str | None
    connection_string: Secret | None
    topic: str
    subscription: str | None
    mi_client_id: str | None


#: Azure Cache for Redis (``Microsoft.Cache/redis``, retiring): TLS on 6380, plain text on 6379.
AZURE_CACHE_FOR_REDIS_HOST_SUFFIX = ".redis.cache.windows.net"
#: Azure Managed Redis (``Microsoft.Cache/redisEnterprise``): one port, 10000, TLS unless the
#: database was created with ``clientProtocol: Plaintext``.
AZURE_MANAGED_REDIS_HOST_SUFFIX = ".redis.azure.net"
AZURE_MANAGED_REDIS_PORT = 10000


def redis_tls_by_default(host: str) -> bool:
    """True for Azure's Redis services (both only accept TLS unless told otherwise); False elsewhere."""
    name = host.strip().rstrip(".").lower()
    return name.endswith((AZURE_CACHE_FOR_REDIS_HOST_SUFFIX, AZURE_MANAGED_REDIS_HOST_SUFFIX))


def default_redis_port(host: str, ssl: bool) -> int:
    """The port to use when none is given: 10000 for Azure Managed Redis, else 6380 with TLS and 6379 without."""
    if host.strip().rstrip(".").lower().endswith(AZURE_MANAGED_REDIS_HOST_SUFFIX):
        return AZURE_MANAGED_REDIS_PORT
    return 6380 if ssl else 6379


@dataclass(frozen=True)
class RedisSettings:
    """The shared response cache (REDIS_*); the gateway falls back to memory when it is unreachable.

    ``ssl`` (REDIS_SSL) defaults to true for Azure Managed Redis (``*.redis.azure.net``) and Azure
    Cache for Redis (``*.redis.cache.windows.net``); ``port`` (REDIS_PORT) defaults to 10000 for
    Azure Managed Redis, else 6380 with TLS and 6379 without (``default_redis_port``).
    """

    host: str
    port: int
    auth_type: Literal["PASSWORD", "MI", "NONE"]
    password: Secret | None
    username: str | None
    mi_client_id: str | None
    ssl: bool


@dataclass(frozen=True)
class DatabricksSettings:
    """The default Databricks service principal (DATABRICKS_*), used by deployments that reference it."""

    client_id: str
    client_secret: Secret
    tenant_id: str | None


@dataclass(frozen=True)
class Settings:
    """Everything the gateway reads from its environment, validated."""

    source: Literal["blob", "file"]
    local_config: Path | None
    blob: BlobSettings | None
    servicebus: ServiceBusSettings | None
    redis: RedisSettings | None
    databricks: DatabricksSettings | None
    refresh_interval: float
    storage_path: Path
    host: str
    port: int
    workers: int
    master_key: Secret | None
    tenant_id: str | None
    mi_client_ids: Mapping[str, str] = field(default_factory=dict)
    max_config_bytes: int = DEFAULT_MAX_CONFIG_BYTES
    allow_literal_secrets: bool = False
    file_poll_interval: float = 1.0
    #: GATEWAY_ALLOWED_ENV / GATEWAY_ALLOWED_HOSTS (``gateway.validation.trust``); None = not set.
    allowed_env: frozenset[str] | None = None
    allowed_hosts: tuple[str, ...] | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, local_config: Path | None = None) -> Settings:
        """Parse and check the environment; raise one ``SettingsError`` listing every problem.

        ``local_config`` (``serve --config FILE``) selects the local file source,
        in which case the BLOB_* variables are not required.
        """
        r = EnvReader(env)
        source_name = r.choice("GATEWAY_CONFIG_SOURCE", ("blob", "file"), "file" if local_config else "blob")
        if local_config is None and source_name == "file":
            path = r.text("GATEWAY_CONFIG_FILE")
            if path is None:
                r.problem("GATEWAY_CONFIG_FILE", "required when GATEWAY_CONFIG_SOURCE=file")
            local_config = Path(path) if path else None
        if local_config is not None and not local_config.is_file():
            r.problem("--config", f"{local_config}: no such file")
        source: Literal["blob", "file"] = "file" if local_config is not None else "blob"

        blob = _blob(r, required=source == "blob")
        default_storage = ".gateway/config.yaml" if source == "file" else "config.yaml"
        settings = cls(
            source=source,
            local_config=local_config,
            blob=blob,
            servicebus=_servicebus(r),
            redis=_redis(r),
            databricks=_databricks(r),
            refresh_interval=r.number("LITELLM_YAML_REFRESH_INTERVAL", 60.0, minimum=1.0),
            storage_path=Path(r.text("LITELLM_YAML_STORAGE_PATH") or default_storage),
            host=r.text("LITELLM_HOST") or "0.0.0.0",
            port=int(r.number("LITELLM_PORT", 8000, minimum=1, maximum=65535, integer=True)),
            workers=int(r.number("GATEWAY_WORKERS", 1, minimum=1, maximum=64, integer=True)),
            master_key=_master_key(r),
            tenant_id=r.guid("AZURE_TENANT_ID"),
            mi_client_ids={
                name: value
                for name in sorted(env)
                if name.endswith("_MI_CLIENT_ID") and (value := r.guid(name)) is not None
            },
            max_config_bytes=int(
                r.number("GATEWAY_CONFIG_MAX_BYTES", DEFAULT_MAX_CONFIG_BYTES, minimum=1024, integer=True)
            ),
            allow_literal_secrets=r.flag("GATEWAY_ALLOW_LITERAL_SECRETS", False),
            file_poll_interval=r.number("GATEWAY_FILE_POLL_INTERVAL", 1.0, minimum=0.05, maximum=60),
            allowed_env=allowed_env(r),
            allowed_hosts=allowed_hosts(r),
        )
        r.raise_if_any()
        return settings


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def allowed_env(r: EnvReader) -> frozenset[str] | None:
    """GATEWAY_ALLOWED_ENV: the only names a config may reference (and how to allow a reserved one)."""
    raw = r.text("GATEWAY_ALLOWED_ENV")
    if raw is None:
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    bad = [n for n in names if not _ENV_NAME.match(n)]
    if bad:
        r.problem("GATEWAY_ALLOWED_ENV", f"not environment variable names: {', '.join(bad)}")
    return frozenset(names)


def allowed_hosts(r: EnvReader) -> tuple[str, ...] | None:
    """GATEWAY_ALLOWED_HOSTS: the only hosts a config may send a credential to (``*.openai.azure.com``)."""
    from gateway.validation.trust import parse_hosts

    raw = r.text("GATEWAY_ALLOWED_HOSTS")
    if raw is None:
        return None
    patterns, bad = parse_hosts(raw)
    if bad or not patterns:
        r.problem("GATEWAY_ALLOWED_HOSTS", f"expected host names or *.domain patterns, comma-separated; got {', '.join(bad) or 'nothing'}")
    return patterns


#: Shorter keys, and the ones LiteLLM's docs publish, are refused (LiteLLM's own boot check refuses the latter).
MIN_MASTER_KEY_LENGTH = 16
PUBLIC_MASTER_KEYS = frozenset({"sk-1234", "sk-12345", "sk-123456789"})


def _master_key(r: EnvReader) -> Secret | None:
    key = r.secret("LITELLM_MASTER_KEY")
    if key is not None and (len(key.reveal()) < MIN_MASTER_KEY_LENGTH or key.reveal() in PUBLIC_MASTER_KEYS):
        r.problem("LITELLM_MASTER_KEY", f"too weak: use at least {MIN_MASTER_KEY_LENGTH} random characters, e.g. sk-$(openssl rand -hex 24)")
    return key


def _blob(r: EnvReader, *, required: bool) -> BlobSettings | None:
    present = any(r.text(n) for n in ("BLOB_ACCOUNT_URL", "BLOB_CONNECTION_STRING"))
    if not required and not present:
        return None
    auth = r.choice("BLOB_AUTH_TYPE", ("MI", "CONNECTION_STRING"), "MI")
    url = r.text("BLOB_ACCOUNT_URL")
    conn = r.secret("BLOB_CONNECTION_STRING")
    if auth == "MI" and not url:
        r.problem("BLOB_ACCOUNT_URL", "required when BLOB_AUTH_TYPE=MI (e.g. https://yourstorage.blob.core.windows.net)")
    elif url and not re.match(r"^https?://", url):
        r.problem("BLOB_ACCOUNT_URL", f"expected an http(s) URL, got {url!r}")
    if auth == "CONNECTION_STRING" and conn is None:
        r.problem("BLOB_CONNECTION_STRING", "required when BLOB_AUTH_TYPE=CONNECTION_STRING")
    return BlobSettings(
        auth_type=auth,  # type: ignore[arg-type]
        account_url=url,
        connection_string=conn,
        container=r.text("BLOB_DOC_CONTAINER") or "litellm-config",
        config_blob=r.text("BLOB_CONFIG_NAME") or "config.yaml",
        mi_client_id=r.guid("BLOB_MI_CLIENT_ID"),
    )


def _servicebus(r: EnvReader) -> ServiceBusSettings | None:
    namespace = r.text("SERVICEBUS_FULLY_QUALIFIED_NAMESPACE")
    conn = r.secret("SERVICEBUS_CONNECTION_STRING")
    if namespace is None and conn is None:
        return None
    auth = r.choice("SERVICEBUS_AUTH_TYPE", ("MI", "CONNECTION_STRING"), "CONNECTION_STRING" if conn else "MI")
    if auth == "MI" and not namespace:
        r.problem("SERVICEBUS_FULLY_QUALIFIED_NAMESPACE", "required when SERVICEBUS_AUTH_TYPE=MI")
    if auth == "CONNECTION_STRING" and conn is None:
        r.problem("SERVICEBUS_CONNECTION_STRING", "required when SERVICEBUS_AUTH_TYPE=CONNECTION_STRING")
    return ServiceBusSettings(
        auth_type=auth,  # type: ignore[arg-type]
        fully_qualified_namespace=namespace,
        connection_string=conn,
        topic=r.text("SERVICEBUS_TOPIC") or "config-updates",
        subscription=r.text("SERVICEBUS_SUBSCRIPTION"),
        mi_client_id=r.guid("SERVICEBUS_MI_CLIENT_ID"),
    )


def _redis(r: EnvReader) -> RedisSettings | None:
    host = r.text("REDIS_HOST")
    if host is None:
        return None
    auth = r.choice("REDIS_AUTH_TYPE", ("PASSWORD", "MI", "NONE"), None)
    if auth is None:
        r.problem("REDIS_AUTH_TYPE", "required when REDIS_HOST is set: PASSWORD or MI")
    password = r.secret("REDIS_PASSWORD")
    if auth == "PASSWORD" and password is None:
        r.problem("REDIS_PASSWORD", "required when REDIS_AUTH_TYPE=PASSWORD")
    username = r.text("REDIS_USERNAME")
    if auth == "MI" and username is None:
        r.problem("REDIS_USERNAME", "required when REDIS_AUTH_TYPE=MI: the managed identity's object (principal) id")
    ssl = r.flag("REDIS_SSL", redis_tls_by_default(host))
    return RedisSettings(
        host=host,
        port=int(r.number("REDIS_PORT", default_redis_port(host, ssl), minimum=1, maximum=65535, integer=True)),
        auth_type=auth or "NONE",  # type: ignore[arg-type]
        password=password,
        username=username,
        mi_client_id=r.guid("REDIS_MI_CLIENT_ID"),
        ssl=ssl,
    )


def _databricks(r: EnvReader) -> DatabricksSettings | None:
    client_id = r.text("DATABRICKS_CLIENT_ID")
    secret = r.secret("DATABRICKS_CLIENT_SECRET")
    tenant = r.guid("DATABRICKS_TENANT_ID")
    if client_id is None and secret is None:
        return None
    if client_id is None:
        r.problem("DATABRICKS_CLIENT_ID", "required when DATABRICKS_CLIENT_SECRET is set")
    if secret is None:
        r.problem("DATABRICKS_CLIENT_SECRET", "required when DATABRICKS_CLIENT_ID is set")
    if client_id is None or secret is None:
        return None
    return DatabricksSettings(client_id=client_id, client_secret=secret, tenant_id=tenant)


class EnvReader:
    """Reads typed values from a mapping, recording problems instead of raising on the first."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self._problems: list[SettingProblem] = []

    def problem(self, variable: str, message: str) -> None:
        if all(p.variable != variable for p in self._problems):
            self._problems.append(SettingProblem(variable, message))

    def raise_if_any(self) -> None:
        if self._problems:
            raise SettingsError(self._problems)

    def text(self, name: str) -> str | None:
        value = self._env.get(name, "").strip()
        return value or None

    def secret(self, name: str) -> Secret | None:
        value = self.text(name)
        return Secret(value) if value else None

    def choice(self, name: str, allowed: tuple[str, ...], default: str | None) -> str | None:
        value = self.text(name)
        if value is None:
            return default
        for option in allowed:
            if value.upper() == option.upper():
                return option
        self.problem(name, f"expected one of {', '.join(allowed)}, got {value!r}")
        return default

    def flag(self, name: str, default: bool) -> bool:
        value = self.text(name)
        if value is None:
            return default
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        self.problem(name, f"expected true or false, got {value!r}")
        return default

    def number(
        self,
        name: str,
        default: float,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        integer: bool = False,
    ) -> float:
        value = self.text(name)
        if value is None:
            return default
        parse: Callable[[str], float] = int if integer else float
        try:
            number = parse(value)
        except ValueError:
            self.problem(name, f"expected {'an integer' if integer else 'a number'}, got {value!r}")
            return default
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            bounds = f"between {minimum:g} and {maximum:g}" if maximum is not None else f"at least {minimum:g}"
            self.problem(name, f"must be {bounds}, got {value}")
            return default
        return number

    def guid(self, name: str) -> str | None:
        value = self.text(name)
        if value is not None and not _GUID.match(value):
            self.problem(name, f"expected a GUID like 11111111-1111-1111-1111-111111111111, got {value!r}")
            return None
        return value
