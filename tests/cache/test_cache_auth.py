"""Redis authentication: password and managed-identity (Entra ID token) auth, unit and against real redis-server."""

from __future__ import annotations

import base64
import json
import logging
import time

import pytest
import redis
from azure.core.credentials import AccessToken

from gateway.cache import (
    REDIS_ENTRA_SCOPE,
    EntraTokenCredentialProvider,
    FailoverCache,
    RedisConnection,
    build_response_cache,
    cache_status,
    start_response_cache,
    stop_response_cache,
)
from gateway.cache.credentials import object_id_from_token
from tests.cache.cache_test_helpers import ask, content, wait_backend, wait_for

pytestmark = pytest.mark.usefixtures("fresh_litellm_cache")

FAST = {"probe_interval": 0.3, "recovery_interval": 0.2}


def fake_jwt(oid: str, serial: int) -> str:
    """An unsigned JWT-shaped token carrying an oid claim (Redis only compares it as a password)."""

    def b64(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64({'oid': oid, 'aud': 'https://redis.azure.com', 'n': serial})}.sig{serial}"


class StubCredential:
    """Implements azure-core's get_token: hands out the next token from a list, recording the scopes asked for."""

    def __init__(self, tokens: list[str], lifetime_s: float) -> None:
        self.tokens = list(tokens)
        self.lifetime_s = lifetime_s
        self.scopes: list[tuple[str, ...]] = []
        self.index = 0

    def get_token(self, *scopes: str, **kwargs) -> AccessToken:
        self.scopes.append(scopes)
        token = self.tokens[min(self.index, len(self.tokens) - 1)]
        self.index += 1
        return AccessToken(token, int(time.time() + self.lifetime_s))


class AsyncStubCredential(StubCredential):
    """Async variant (like azure.identity.aio credentials)."""

    async def get_token(self, *scopes: str, **kwargs) -> AccessToken:  # type: ignore[override]
        return StubCredential.get_token(self, *scopes, **kwargs)


# --------------------------------------------------------------------------- unit: credential plumbing
def test_object_id_is_read_from_token_claims():
    """The oid claim of a JWT access token is extracted; non-JWT tokens give None."""
    assert object_id_from_token(fake_jwt("oid-1", 1)) == "oid-1"
    assert object_id_from_token("not-a-jwt") is None


async def test_provider_requests_redis_scope_and_uses_object_id():
    """The provider asks for the Azure Redis scope and returns (object id, token) as AUTH credentials."""
    credential = StubCredential([fake_jwt("oid-7", 1)], lifetime_s=3600)
    provider = EntraTokenCredentialProvider(credential)
    with pytest.raises(ConnectionError):
        provider.get_credentials()  # no token yet: never fetched on the request path
    assert await provider.refresh_if_needed() is True
    assert credential.scopes == [(REDIS_ENTRA_SCOPE,)] and REDIS_ENTRA_SCOPE == "https://redis.azure.com/.default"
    assert provider.get_credentials() == ("oid-7", fake_jwt("oid-7", 1))
    assert await provider.refresh_if_needed() is False  # still fresh
    explicit = EntraTokenCredentialProvider(StubCredential(["opaque-token"], 3600), username="object-id-from-env")
    await explicit.refresh_if_needed()
    assert explicit.get_credentials() == ("object-id-from-env", "opaque-token")
    assert "opaque-token" not in repr(explicit)


async def test_provider_refreshes_before_expiry():
    """A token is refreshed once it is within the refresh margin (capped at half its lifetime) of expiry."""
    now = [1_000.0]

    class ClockedCredential:
        def __init__(self) -> None:
            self.issued = 0

        def get_token(self, *scopes: str, **kwargs) -> AccessToken:
            self.issued += 1
            return AccessToken(f"t{self.issued}", int(now[0] + 3600))

    provider = EntraTokenCredentialProvider(
        ClockedCredential(), username="u", refresh_margin_s=300, clock=lambda: now[0]
    )
    await provider.refresh_if_needed()
    assert provider.token == "t1"
    now[0] += 3600 - 301
    assert provider.needs_refresh() is False
    now[0] += 2
    assert provider.needs_refresh() is True
    assert await provider.refresh_if_needed() is True
    assert provider.token == "t2"
    short = EntraTokenCredentialProvider(ClockedCredential(), username="u", refresh_margin_s=300, clock=lambda: now[0])
    await short.refresh_if_needed()
    short._expires_on = now[0] + 10  # a 10 s token: margin becomes 5 s, not 300 s
    assert short.needs_refresh() is False
    now[0] += 6
    assert short.needs_refresh() is True


async def test_provider_supports_async_credentials_and_rejects_tokens_without_object_id():
    """Async credentials work; a token without oid and no username is refused with a clear message."""
    provider = EntraTokenCredentialProvider(AsyncStubCredential([fake_jwt("oid-a", 1)], 3600))
    await provider.refresh_if_needed()
    assert provider.username == "oid-a"
    nameless = EntraTokenCredentialProvider(StubCredential(["opaque"], 3600))
    with pytest.raises(ValueError, match="REDIS_USERNAME"):
        await nameless.refresh_if_needed()


def test_mi_auth_uses_managed_identity_credential_with_client_id(monkeypatch):
    """auth MI without an injected credential builds azure-identity ManagedIdentityCredential(client_id=...)."""
    import azure.identity

    made: list[dict] = []

    class RecordingCredential:
        def __init__(self, **kwargs):
            made.append(kwargs)

        def get_token(self, *scopes, **kwargs):  # pragma: no cover - not called here
            raise AssertionError

    monkeypatch.setattr(azure.identity, "ManagedIdentityCredential", RecordingCredential)
    FailoverCache(RedisConnection("h", ssl=True, auth="MI", mi_client_id="client-abc", username="oid"))
    FailoverCache(RedisConnection("h", ssl=True, auth="MI"))
    assert made == [{"client_id": "client-abc"}, {}]


# --------------------------------------------------------------------------- real redis-server
async def test_password_auth_against_real_redis(redis_factory, caplog):
    """requirepass: the right password gives the shared cache; the password appears in no log, repr or status."""
    caplog.set_level(logging.DEBUG, logger="gateway.cache")
    password = "pw-Zx81-very-secret"
    server = redis_factory(requirepass=password)
    cache = build_response_cache(
        RedisConnection("127.0.0.1", server.port, auth="PASSWORD", password=password), {}, **FAST
    )
    await start_response_cache(cache)
    try:
        await wait_backend(cache, "redis")
        response, _ = await ask(cache, "auth question", "authed")
        assert content(response) == "authed"
        await wait_for(lambda: server.cli("DBSIZE") >= 1, 2.0)
        texts = [repr(cache.cache), repr(cache.cache.conn), str(cache_status(cache)), caplog.text]
        assert all(password not in t for t in texts)
    finally:
        await stop_response_cache(cache)


async def test_wrong_password_falls_back_without_leaking_it(redis_factory, caplog):
    """A wrong password leaves the cache on memory with an auth error, and the password is never logged."""
    caplog.set_level(logging.DEBUG)
    server = redis_factory(requirepass="the-real-one")
    wrong = "wrong-pw-Q93k"
    cache = build_response_cache(RedisConnection("127.0.0.1", server.port, auth="PASSWORD", password=wrong), {}, **FAST)
    await start_response_cache(cache)
    try:
        await wait_for(lambda: cache_status(cache)["last_error"], 2.0)
        status = cache_status(cache)
        assert status["backend"] == "memory"
        assert "Authentication" in status["last_error"] or "WRONGPASS" in status["last_error"]
        response, _ = await ask(cache, "still answered", "yes")
        assert content(response) == "yes"
        assert wrong not in caplog.text and "the-real-one" not in caplog.text
        assert wrong not in repr(cache.cache) and wrong not in str(status)
    finally:
        await stop_response_cache(cache)


def _acl_admin(server) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=server.port, username="admin", password="admin-pw", decode_responses=True)


async def test_managed_identity_token_auth_and_rotation_against_real_redis(redis_factory, caplog):
    """MI auth: AUTH <oid> <token> works against an ACL user, and a rotated token is used once the old one is revoked."""
    caplog.set_level(logging.DEBUG)
    server = redis_factory()
    oid = "7f0c6a38-1111-4222-8333-944445555666"
    token1, token2 = fake_jwt(oid, 1), fake_jwt(oid, 2)
    server.cli("ACL", "SETUSER", "admin", "on", ">admin-pw", "~*", "&*", "+@all")
    server.cli("ACL", "SETUSER", oid, "on", f">{token1}", "~*", "&*", "+@all")
    admin = _acl_admin(server)
    admin.execute_command("ACL", "SETUSER", "default", "off")

    credential = StubCredential([token1, token2], lifetime_s=2.0)  # refreshed ~1 s before expiry
    conn = RedisConnection("127.0.0.1", server.port, auth="MI", mi_client_id="client-xyz")  # username from oid claim
    cache = build_response_cache(conn, {"namespace": "mi"}, credential=credential, **FAST)
    await start_response_cache(cache)
    try:
        await wait_backend(cache, "redis", 3.0)
        assert credential.scopes[0] == (REDIS_ENTRA_SCOPE,)
        assert admin.execute_command("ACL", "WHOAMI") == "admin"
        response, _ = await ask(cache, "mi question", "mi-answer")
        assert content(response) == "mi-answer"
        await wait_for(lambda: admin.keys("mi:*"), 2.0)
        clients = admin.execute_command("CLIENT", "LIST")
        assert f"user={oid}" in clients

        # rotation: Redis accepts token2, then token1 is revoked and its connections are killed
        admin.execute_command("ACL", "SETUSER", oid, f">{token2}")
        await wait_for(lambda: cache.cache._token_provider.token == token2, 3.0)
        admin.execute_command("ACL", "SETUSER", oid, f"<{token1}")
        admin.execute_command("CLIENT", "KILL", "USER", oid)
        # the write meets a killed pooled connection, retries once on a fresh one, which AUTHs with token2
        key = "mi:after-rotation"
        await cache.cache.async_set_cache(key, {"v": 2})
        assert admin.get(key) is not None
        assert cache_status(cache)["backend"] == "redis" and cache_status(cache)["fallbacks"] == 0
        assert token1 not in caplog.text and token2 not in caplog.text
    finally:
        await stop_response_cache(cache)
        admin.close()


async def test_managed_identity_with_wrong_token_stays_on_memory(redis_factory):
    """A token Redis does not accept keeps the cache on memory with an auth error instead of failing requests."""
    server = redis_factory()
    server.cli("ACL", "SETUSER", "oid-x", "on", ">expected-token", "~*", "+@all")
    credential = StubCredential(["some-other-token"], lifetime_s=3600)
    conn = RedisConnection("127.0.0.1", server.port, auth="MI", username="oid-x")
    cache = build_response_cache(conn, {}, credential=credential, **FAST)
    await start_response_cache(cache)
    try:
        await wait_for(lambda: cache_status(cache)["last_error"], 2.0)
        assert cache_status(cache)["backend"] == "memory"
        assert "some-other-token" not in cache_status(cache)["last_error"]
        response, _ = await ask(cache, "mi wrong", "served")
        assert content(response) == "served"
    finally:
        await stop_response_cache(cache)
