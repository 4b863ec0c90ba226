"""Settings: the seed's environment table, defaults, and one error naming every bad variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import SettingsError
from gateway.settings import Secret, Settings

BLOB_MI = {"BLOB_ACCOUNT_URL": "https://acct.blob.core.windows.net"}


def test_defaults_match_the_seed_table() -> None:
    """With only BLOB_ACCOUNT_URL set, every default is the seed README's."""
    s = Settings.from_env(BLOB_MI)
    assert s.source == "blob"
    assert s.blob is not None
    assert (s.blob.auth_type, s.blob.container, s.blob.config_blob) == ("MI", "litellm-config", "config.yaml")
    assert (s.refresh_interval, s.storage_path, s.port) == (60.0, Path("config.yaml"), 8000)
    assert s.redis is None and s.servicebus is None and s.databricks is None


def test_every_problem_is_reported_at_once() -> None:
    """One SettingsError lists each missing or malformed variable by name."""
    env = {
        "BLOB_AUTH_TYPE": "KEY",
        "LITELLM_YAML_REFRESH_INTERVAL": "soon",
        "LITELLM_PORT": "99999",
        "EASTUS_MI_CLIENT_ID": "not-a-guid",
        "REDIS_HOST": "redis.local",
        "DATABRICKS_CLIENT_SECRET": "s",
        "LITELLM_MASTER_KEY": "sk-1234",
    }
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    names = {p.variable for p in info.value.problems}
    assert names == {
        "BLOB_AUTH_TYPE",
        "BLOB_ACCOUNT_URL",
        "LITELLM_YAML_REFRESH_INTERVAL",
        "LITELLM_PORT",
        "EASTUS_MI_CLIENT_ID",
        "REDIS_AUTH_TYPE",
        "DATABRICKS_CLIENT_ID",
        "LITELLM_MASTER_KEY",
    }
    assert "BLOB_ACCOUNT_URL" in str(info.value) and "LITELLM_PORT: must be between 1 and 65535" in str(info.value)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"BLOB_AUTH_TYPE": "CONNECTION_STRING"}, "BLOB_CONNECTION_STRING"),
        ({**BLOB_MI, "REDIS_HOST": "r", "REDIS_AUTH_TYPE": "PASSWORD"}, "REDIS_PASSWORD"),
        ({**BLOB_MI, "REDIS_HOST": "r", "REDIS_AUTH_TYPE": "MI"}, "REDIS_USERNAME"),
        ({**BLOB_MI, "SERVICEBUS_AUTH_TYPE": "MI", "SERVICEBUS_TOPIC": "t", "SERVICEBUS_CONNECTION_STRING": ""}, None),
        ({**BLOB_MI, "SERVICEBUS_CONNECTION_STRING": "Endpoint=sb://x", "SERVICEBUS_AUTH_TYPE": "MI"}, "SERVICEBUS_FULLY_QUALIFIED_NAMESPACE"),
        ({**BLOB_MI, "LITELLM_YAML_REFRESH_INTERVAL": "0"}, "LITELLM_YAML_REFRESH_INTERVAL"),
        ({**BLOB_MI, "AZURE_TENANT_ID": "contoso"}, "AZURE_TENANT_ID"),
    ],
)
def test_conditional_requirements_name_the_variable(env: dict[str, str], variable: str | None) -> None:
    """Each conditional requirement fails with the variable it needs (or passes when nothing is needed)."""
    if variable is None:
        Settings.from_env(env)
        return
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    assert variable in {p.variable for p in info.value.problems}


def test_all_sections_parse() -> None:
    """A full production environment parses into typed sections; *_MI_CLIENT_ID are collected."""
    env = {
        **BLOB_MI,
        "BLOB_MI_CLIENT_ID": "11111111-1111-1111-1111-111111111111",
        "EASTUS_MI_CLIENT_ID": "22222222-2222-2222-2222-222222222222",
        "WESTUS_MI_CLIENT_ID": "33333333-3333-3333-3333-333333333333",
        "SERVICEBUS_FULLY_QUALIFIED_NAMESPACE": "bus.servicebus.windows.net",
        "SERVICEBUS_SUBSCRIPTION": "replica-1",
        "REDIS_HOST": "cache.redis.cache.windows.net",
        "REDIS_AUTH_TYPE": "MI",
        "REDIS_USERNAME": "44444444-4444-4444-4444-444444444444",
        "DATABRICKS_CLIENT_ID": "dbx",
        "DATABRICKS_CLIENT_SECRET": "dbx-secret",
        "LITELLM_MASTER_KEY": "sk-" + "k" * 30,
    }
    s = Settings.from_env(env)
    assert s.servicebus is not None and s.servicebus.auth_type == "MI" and s.servicebus.topic == "config-updates"
    assert s.redis is not None and s.redis.ssl and s.redis.port == 6380
    assert s.databricks is not None and s.databricks.client_secret.reveal() == "dbx-secret"
    assert set(s.mi_client_ids) == {"BLOB_MI_CLIENT_ID", "EASTUS_MI_CLIENT_ID", "WESTUS_MI_CLIENT_ID"}


@pytest.mark.parametrize(
    ("host", "extra", "ssl", "port"),
    [
        ("gw-cache.eastus.redis.azure.net", {}, True, 10000),  # Azure Managed Redis: TLS on 10000
        ("GW-Cache.EastUS.Redis.Azure.Net", {}, True, 10000),  # host names are case-insensitive
        ("gw-cache.eastus.redis.azure.net", {"REDIS_SSL": "false"}, False, 10000),  # Plaintext database, same port
        ("gw-cache.eastus.redis.azure.net", {"REDIS_PORT": "6380"}, True, 6380),  # an explicit port wins
        ("cache.redis.cache.windows.net", {}, True, 6380),  # Azure Cache for Redis keeps TLS on 6380
        ("cache.redis.cache.windows.net", {"REDIS_SSL": "false"}, False, 6379),
        ("redis.local", {}, False, 6379),
        ("redis.local", {"REDIS_SSL": "true"}, True, 6380),
        ("evil.redis.azure.net.example.com", {}, False, 6379),  # only a real suffix counts
    ],
)
def test_redis_tls_and_port_follow_the_azure_service(host: str, extra: dict[str, str], ssl: bool, port: int) -> None:
    """REDIS_SSL and REDIS_PORT default by host: 10000/TLS for Azure Managed Redis, 6380/TLS for Azure Cache for Redis."""
    env = {**BLOB_MI, "REDIS_HOST": host, "REDIS_AUTH_TYPE": "MI", "REDIS_USERNAME": "44444444-4444-4444-4444-444444444444", **extra}
    redis = Settings.from_env(env).redis
    assert redis is not None and (redis.ssl, redis.port) == (ssl, port)


def test_secrets_are_masked_in_repr() -> None:
    """No secret value appears in the repr of the settings."""
    env = {**BLOB_MI, "LITELLM_MASTER_KEY": "sk-supersecretvalue123", "REDIS_HOST": "r", "REDIS_AUTH_TYPE": "PASSWORD", "REDIS_PASSWORD": "hunter2"}
    text = repr(Settings.from_env(env))
    assert "supersecretvalue" not in text and "hunter2" not in text
    assert repr(Secret("x")) == "Secret('**********')"


def test_local_file_mode_needs_no_blob(tmp_path: Path) -> None:
    """`serve --config FILE` needs none of the BLOB_* variables and keeps its file apart from the seed default."""
    config = tmp_path / "c.yaml"
    config.write_text("model_list: []\n")
    s = Settings.from_env({}, local_config=config)
    assert s.source == "file" and s.blob is None and s.storage_path == Path(".gateway/config.yaml")


def test_local_file_must_exist(tmp_path: Path) -> None:
    """A missing --config file is reported by name."""
    with pytest.raises(SettingsError, match="no such file"):
        Settings.from_env({}, local_config=tmp_path / "missing.yaml")
