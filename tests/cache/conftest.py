"""Fixtures for the response-cache tests: real redis-server processes on free loopback ports."""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import pytest

from tests.cache.redis_server_support import RedisServer, redis_server_binary


@pytest.fixture
def redis_factory(tmp_path):
    """Start redis-server processes on demand; every one is stopped at the end of the test."""
    binary = redis_server_binary()
    if binary is None:
        pytest.fail(
            "redis-server not found on PATH: these tests need a real Redis. "
            "Install it with: apt-get update && apt-get install -y redis-server"
        )
    servers: list[RedisServer] = []

    def make(**kwargs) -> RedisServer:
        server = RedisServer(binary, workdir=tmp_path, **kwargs)
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def redis_server(redis_factory) -> RedisServer:
    """One running redis-server without auth."""
    return redis_factory()


@pytest.fixture
def fresh_litellm_cache():
    """Restore litellm.cache after the test (tests assign their own Cache)."""
    import litellm

    saved = litellm.cache
    yield
    litellm.cache = saved


@pytest.fixture(scope="session", autouse=True)
def _litellm_warmed_up():
    """Pay litellm's one-off first-request cost before any timed test."""
    from tests.cache.cache_test_helpers import warm_up_litellm

    warm_up_litellm()


def pytest_configure(config):
    """litellm's import emits pydantic 'ReadOnly qualifier' UserWarnings that say nothing about this code."""
    config.addinivalue_line("filterwarnings", "ignore:.*ReadOnly.*qualifier:UserWarning")
