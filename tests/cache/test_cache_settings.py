"""RedisConnection: a plain value with defaults, validation, env/cache_params parsing and a masked password."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.cache import RedisConnection
from gateway.cache.responses import redis_connection
from gateway.errors import SettingsError
from gateway.settings import Settings


def test_port_defaults_follow_ssl():
    """Port defaults to 6379 without TLS and 6380 with TLS; an explicit port wins."""
    assert RedisConnection("h").port == 6379
    assert RedisConnection("h", ssl=True).port == 6380
    assert RedisConnection("h", port=10000, ssl=True).port == 10000
    assert RedisConnection("h", port="7000").port == 7000


def test_azure_managed_redis_defaults_to_port_10000():
    """An Azure Managed Redis host defaults to port 10000 with or without TLS; Azure Cache for Redis keeps 6380."""
    assert RedisConnection("gw.eastus.redis.azure.net", ssl=True).port == 10000
    assert RedisConnection("gw.eastus.redis.azure.net", ssl=False).port == 10000
    assert RedisConnection("gw.eastus.redis.azure.net", port=6380, ssl=True).port == 6380
    assert RedisConnection("gw.redis.cache.windows.net", ssl=True).port == 6380


@pytest.mark.parametrize(
    ("params", "ssl", "port"),
    [
        ({"host": "gw.eastus.redis.azure.net"}, True, 10000),
        ({"host": "gw.eastus.redis.azure.net", "ssl": False}, False, 10000),
        ({"url": "rediss://gw.eastus.redis.azure.net"}, True, 10000),
        ({"host": "gw.redis.cache.windows.net"}, True, 6380),
        ({"host": "GW.REDIS.CACHE.WINDOWS.NET"}, True, 6380),
        ({"host": "127.0.0.1"}, False, 6379),
    ],
)
def test_cache_params_tls_and_port_follow_the_azure_service(params, ssl, port):
    """cache_params without ssl/port take TLS and the port from the host: Managed Redis 10000, Cache for Redis 6380."""
    conn = RedisConnection.from_cache_params(params)
    assert conn is not None and (conn.ssl, conn.port) == (ssl, port)


def test_from_env_azure_managed_redis_with_managed_identity():
    """REDIS_HOST on Azure Managed Redis with MI gives TLS on 10000, the client id and the object id as user name."""
    client_id = "11111111-1111-1111-1111-111111111111"
    conn = _from_env(
        {
            "REDIS_HOST": "gw-redis.westeurope.redis.azure.net",
            "REDIS_AUTH_TYPE": "MI",
            "REDIS_MI_CLIENT_ID": client_id,
            "REDIS_USERNAME": "object-456",
        }
    )
    assert conn == RedisConnection(
        "gw-redis.westeurope.redis.azure.net", port=10000, ssl=True, auth="MI", username="object-456", mi_client_id=client_id
    )


def test_connection_is_frozen_and_comparable():
    """RedisConnection is immutable and equal when all fields are equal."""
    conn = RedisConnection("h", auth="PASSWORD", password="pw")
    with pytest.raises(dataclasses.FrozenInstanceError):
        conn.host = "other"  # type: ignore[misc]
    assert conn == RedisConnection("h", auth="PASSWORD", password="pw")
    assert conn != RedisConnection("h", auth="PASSWORD", password="pw2")


def test_password_is_masked_in_repr_and_str():
    """The password never shows in repr() or str()."""
    conn = RedisConnection("cache.example", auth="PASSWORD", password="s3cr3t-value", username="app")
    for text in (repr(conn), str(conn), f"{conn}", repr([conn])):
        assert "s3cr3t-value" not in text
        assert "'***'" in text
    assert "password=None" in repr(RedisConnection("h"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"host": ""}, "host"),
        ({"host": "h", "auth": "KERBEROS"}, "auth"),
        ({"host": "h", "auth": "PASSWORD"}, "needs a password"),
        ({"host": "h", "password": "x"}, "auth='PASSWORD'"),
        ({"host": "h", "auth": "PASSWORD", "password": "x", "mi_client_id": "c"}, "mi_client_id"),
        ({"host": "h", "port": 70000}, "out of range"),
        ({"host": "h", "port": "abc"}, "integer"),
    ],
)
def test_inconsistent_values_are_rejected(kwargs, message):
    """Inconsistent settings raise ValueError naming the problem."""
    with pytest.raises(ValueError, match=message):
        RedisConnection(**kwargs)


def test_auth_is_case_insensitive():
    """auth accepts lower case and is normalised to upper case."""
    assert RedisConnection("h", auth="mi").auth == "MI"


def _from_env(env: dict[str, str]) -> RedisConnection | None:
    """The environment is parsed once, by gateway.settings; the cache takes its Redis section."""
    return redis_connection(Settings.from_env({"BLOB_ACCOUNT_URL": "https://a.blob.core.windows.net", **env}).redis)


def test_from_env_unset_host_means_no_redis():
    """Without REDIS_HOST there is no Redis connection."""
    assert _from_env({}) is None
    assert _from_env({"REDIS_HOST": "  "}) is None


def test_from_env_azure_managed_identity():
    """An Azure host with REDIS_AUTH_TYPE=MI gives TLS on 6380, the MI client id and the object id username."""
    client_id = "11111111-1111-1111-1111-111111111111"
    conn = _from_env(
        {
            "REDIS_HOST": "gw.redis.cache.windows.net",
            "REDIS_AUTH_TYPE": "MI",
            "REDIS_MI_CLIENT_ID": client_id,
            "REDIS_USERNAME": "object-456",
            "REDIS_PASSWORD": "leftover",
        }
    )
    assert conn == RedisConnection(
        "gw.redis.cache.windows.net", ssl=True, auth="MI", username="object-456", mi_client_id=client_id
    )
    assert conn.port == 6380 and conn.password is None


def test_from_env_password_and_explicit_ssl():
    """REDIS_AUTH_TYPE=PASSWORD uses REDIS_PASSWORD; REDIS_SSL and REDIS_PORT are honoured."""
    conn = _from_env(
        {"REDIS_HOST": "10.0.0.5", "REDIS_AUTH_TYPE": "PASSWORD", "REDIS_PASSWORD": "pw", "REDIS_SSL": "false", "REDIS_PORT": "6390"}
    )
    assert (conn.auth, conn.password, conn.ssl, conn.port) == ("PASSWORD", "pw", False, 6390)
    with pytest.raises(SettingsError, match="REDIS_SSL"):
        _from_env({"REDIS_HOST": "h", "REDIS_AUTH_TYPE": "NONE", "REDIS_SSL": "maybe"})


def test_unused_credentials_do_not_stop_the_replica():
    """A REDIS_MI_CLIENT_ID beside PASSWORD auth (or a password beside NONE) is ignored, not fatal."""
    conn = _from_env(
        {
            "REDIS_HOST": "h",
            "REDIS_AUTH_TYPE": "NONE",
            "REDIS_PASSWORD": "old",
            "REDIS_MI_CLIENT_ID": "11111111-1111-1111-1111-111111111111",
        }
    )
    assert (conn.auth, conn.password, conn.mi_client_id) == ("NONE", None, None)


def test_from_cache_params_host_and_url():
    """litellm cache_params host/port/password or a redis[s]:// url become a RedisConnection."""
    assert RedisConnection.from_cache_params({"type": "redis"}) is None
    conn = RedisConnection.from_cache_params({"type": "redis", "host": "127.0.0.1", "port": "6390", "password": "pw"})
    assert (conn.host, conn.port, conn.auth, conn.password) == ("127.0.0.1", 6390, "PASSWORD", "pw")
    url_conn = RedisConnection.from_cache_params({"url": "rediss://user:p%40ss@cache.example:6380/2"})
    assert (url_conn.host, url_conn.port, url_conn.ssl, url_conn.username, url_conn.password, url_conn.db) == (
        "cache.example",
        6380,
        True,
        "user",
        "p@ss",
        2,
    )
    with pytest.raises(ValueError, match="redis://"):
        RedisConnection.from_cache_params({"url": "http://x"})
