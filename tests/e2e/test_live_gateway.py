"""A running gateway, driven with the OpenAI SDK, takes config edits live with no failed request.

One `genai-gateway serve --config FILE` process is shared by the module (LiteLLM
costs ~10 s to import); each test rewrites FILE and waits for /health/config
to report the new sha256 (or the rejection) before asserting.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import yaml

from tests.support.broken_configs import BROKEN, Broken
from tests.support.processes import MASTER_KEY, REPO, GatewayProcess, wait_until


def _deployment(name: str, reply: str) -> dict:
    return {"model_name": name, "litellm_params": {"model": f"openai/{name}", "mock_response": reply}}


def _config(*deployments: dict, router: dict | None = None) -> bytes:
    body: dict = {"model_list": list(deployments), "litellm_settings": {"cache": False}}
    if router:
        body["router_settings"] = router
    return yaml.safe_dump(body, sort_keys=False).encode()


BASE = _config(_deployment("gpt-4", "hello from v1"), _deployment("llama", "llama says hi"))


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayProcess, Path]]:
    workdir = tmp_path_factory.mktemp("live")
    config = workdir / "config.yaml"
    config.write_bytes(BASE)
    proc = GatewayProcess(
        args=["serve", "--config", str(config)],
        env={
            "LITELLM_MASTER_KEY": MASTER_KEY,
            "LITELLM_YAML_STORAGE_PATH": str(workdir / "applied" / "config.yaml"),
            "GATEWAY_FILE_POLL_INTERVAL": "0.1",
        },
        log_path=workdir / "gateway.log",
    ).start()
    try:
        yield proc, config
    finally:
        proc.stop()


@pytest.fixture
def client(gateway: tuple[GatewayProcess, Path]) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway[0].base_url}/v1", api_key=MASTER_KEY, max_retries=0, timeout=20)


def _swap(gateway: tuple[GatewayProcess, Path], data: bytes) -> dict:
    proc, path = gateway
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    return wait_until(lambda: (h := proc.health())["sha256"] == digest and h, timeout=30, what=f"apply of {digest[:12]}")


def _reply(client: openai.OpenAI, model: str = "gpt-4") -> str:
    result = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    return result.choices[0].message.content or ""


def test_chat_streaming_and_models(gateway: tuple[GatewayProcess, Path], client: openai.OpenAI) -> None:
    """Chat, streaming chat and /v1/models work through the OpenAI SDK."""
    _swap(gateway, BASE)
    assert _reply(client) == "hello from v1"
    chunks = client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}], stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "hello from v1"
    assert sorted(m.id for m in client.models.list()) == ["gpt-4", "llama"]


def test_health_config_reports_the_applied_release(gateway: tuple[GatewayProcess, Path]) -> None:
    """/health/config with the master key reports ready, version, sha256 of the file, source and time."""
    health = _swap(gateway, BASE)
    assert health["ready"] is True
    assert health["sha256"] == hashlib.sha256(BASE).hexdigest()
    assert health["version"] and health["applied_at"]
    assert health["source"].startswith("local:")
    assert "last_rejected" in health
    assert httpx.get(f"{gateway[0].base_url}/health/readiness").status_code == 200
    assert httpx.get(f"{gateway[0].base_url}/health/liveliness").status_code == 200


def test_wrong_key_gets_openai_401_on_every_route(gateway: tuple[GatewayProcess, Path]) -> None:
    """A wrong key is an AuthenticationError (401, invalid_api_key) on chat, models, embeddings, health and admin routes."""
    anonymous = openai.OpenAI(base_url=f"{gateway[0].base_url}/v1", api_key="sk-wrong-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        anonymous.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 401 and info.value.code == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        anonymous.models.list()
    base = gateway[0].base_url
    for method, route in (("POST", "/chat/completions"), ("POST", "/v1/embeddings"), ("GET", "/models"), ("GET", "/health"),
                          ("GET", "/key/info"), ("GET", "/model/info"), ("POST", "/v1/responses")):
        for header in ({"Authorization": "Bearer sk-wrong-key"}, {"api-key": "sk-wrong-key"}, {"x-api-key": "sk-wrong-key"}):
            response = httpx.request(method, base + route, headers=header, json={}, timeout=10)
            assert response.status_code == 401, (route, header, response.text)
            assert response.json()["error"]["code"] == "invalid_api_key"
    chat = {"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}
    assert httpx.post(f"{base}/v1/chat/completions", json=chat).status_code == 401  # no key at all


def test_added_model_appears(gateway: tuple[GatewayProcess, Path], client: openai.OpenAI) -> None:
    """A model added to the file is listed and served without a restart."""
    _swap(gateway, _config(_deployment("gpt-4", "hello from v1"), _deployment("llama", "x"), _deployment("mistral", "new one")))
    assert "mistral" in {m.id for m in client.models.list()}
    assert _reply(client, "mistral") == "new one"


def test_removed_model_gives_openai_error(gateway: tuple[GatewayProcess, Path], client: openai.OpenAI) -> None:
    """A model removed from the file is answered with an OpenAI-style error."""
    _swap(gateway, _config(_deployment("gpt-4", "hello from v1")))
    with pytest.raises(openai.BadRequestError) as info:
        _reply(client, "llama")
    assert "llama" in str(info.value)
    assert [m.id for m in client.models.list()] == ["gpt-4"]


def test_changed_mock_response_is_served(gateway: tuple[GatewayProcess, Path], client: openai.OpenAI) -> None:
    """A changed deployment answers with its new response."""
    _swap(gateway, _config(_deployment("gpt-4", "hello from v2")))
    assert _reply(client) == "hello from v2"


def test_router_settings_change_takes_effect(gateway: tuple[GatewayProcess, Path], client: openai.OpenAI) -> None:
    """A router_settings.model_group_alias added live makes a new model name routable."""
    _swap(gateway, _config(_deployment("gpt-4", "aliased")))
    with pytest.raises(openai.BadRequestError):
        _reply(client, "gpt-4o")
    _swap(gateway, _config(_deployment("gpt-4", "aliased"), router={"model_group_alias": {"gpt-4o": "gpt-4"}}))
    assert _reply(client, "gpt-4o") == "aliased"


@pytest.mark.parametrize("case", BROKEN, ids=[b.id for b in BROKEN])
def test_broken_config_is_rejected_and_old_config_keeps_serving(
    gateway: tuple[GatewayProcess, Path], client: openai.OpenAI, case: Broken
) -> None:
    """Writing a broken file is rejected with its YAML path in /health/config; the old config still answers."""
    proc, path = gateway
    good = _swap(gateway, _config(_deployment("gpt-4", "still serving")))
    path.write_bytes(case.data)
    digest = hashlib.sha256(case.data).hexdigest()
    health = wait_until(
        lambda: (h := proc.health())["last_rejected"] and h["last_rejected"]["sha256"] == digest and h,
        timeout=30,
        what=f"rejection of {case.id}",
    )
    errors = health["last_rejected"]["errors"]
    assert any(e["path"] == case.path and case.fragment in e["message"] for e in errors), errors
    assert health["sha256"] == good["sha256"] and health["version"] == good["version"]
    assert _reply(client) == "still serving"


def test_no_failed_request_while_config_flips(gateway: tuple[GatewayProcess, Path], client: openai.OpenAI) -> None:
    """Four clients keep calling while the config flips 10 times: every request succeeds."""
    a = _config(_deployment("gpt-4", "A"), _deployment("llama", "x"))
    b = _config(_deployment("gpt-4", "B"), _deployment("mistral", "y"))
    _swap(gateway, a)
    stop = threading.Event()
    failures: list[str] = []
    answers: set[str] = set()

    def hammer() -> None:
        local = openai.OpenAI(base_url=f"{gateway[0].base_url}/v1", api_key=MASTER_KEY, max_retries=0, timeout=20)
        while not stop.is_set():
            try:
                answers.add(_reply(local))
            except Exception as exc:  # noqa: BLE001 - any failure is what this test counts
                failures.append(repr(exc))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for i in range(10):
            _swap(gateway, b if i % 2 == 0 else a)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert failures == []
    assert answers == {"A", "B"}


BRIEF_KEYS = {"ready", "version", "sha256", "last_release_rejected"}


def test_health_config_without_a_key_is_brief(gateway: tuple[GatewayProcess, Path]) -> None:
    """Without a key /health/config says only ready, version, sha256 and last_release_rejected; a wrong key gets 401."""
    proc, _path = gateway
    detailed = _swap(gateway, BASE)
    brief = httpx.get(f"{proc.base_url}/health/config", timeout=5)
    assert brief.status_code == 200 and set(brief.json()) == BRIEF_KEYS, brief.text
    assert brief.json() == {key: detailed[key] for key in BRIEF_KEYS}
    for leak in ("gpt-4", "llama", "identities", "pid", "local:", "model_groups"):
        assert leak not in brief.text
    assert {"model_groups", "identities", "cache", "pid", "last_rejected"} <= set(detailed)
    wrong = httpx.get(f"{proc.base_url}/health/config", headers={"Authorization": "Bearer sk-wrong-key-0123456789"}, timeout=5)
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"


#: Not shaped like a provider key: only the field it sits in says it is a secret.
LITERAL_MASTER_KEY = "averylongliteralmasterkeyvalue"


def test_rejection_texts_never_echo_a_secret(gateway: tuple[GatewayProcess, Path]) -> None:
    """A rejected literal master key is shown as a redacted preview; the brief body says only that it was rejected."""
    proc, path = gateway
    _swap(gateway, BASE)
    data = yaml.safe_dump({**yaml.safe_load(BASE), "general_settings": {"master_key": LITERAL_MASTER_KEY}}).encode()
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    wait_until(lambda: (h := proc.health())["last_rejected"] and h["last_rejected"]["sha256"] == digest, timeout=30,
               what="rejection of the literal master key")
    detailed = httpx.get(f"{proc.base_url}/health/config", headers={"Authorization": f"Bearer {MASTER_KEY}"}, timeout=5)
    assert LITERAL_MASTER_KEY not in detailed.text and LITERAL_MASTER_KEY[:12] not in detailed.text
    assert any("general_settings.master_key" == e["path"] for e in detailed.json()["last_rejected"]["errors"])
    brief = httpx.get(f"{proc.base_url}/health/config", timeout=5).json()
    assert brief["last_release_rejected"] is True and set(brief) == BRIEF_KEYS
    assert _swap(gateway, _config(_deployment("gpt-4", "after")))["last_release_rejected"] is False  # a later apply clears it


def _concrete(path: str) -> str:
    """A request path for a route template: every ``{param}`` / ``{param:path}`` filled with ``x``."""
    return re.sub(r"\{[^}]+\}", "x", path)


def _litellm_routes() -> list[tuple[str, str]]:
    """``(method, path)`` for every HTTP route LiteLLM's app registers (mounts by their prefix)."""
    from litellm.proxy.proxy_server import app

    routes: set[tuple[str, str]] = set()
    flat = []
    for route in app.routes:  # FastAPI keeps included routers as one entry each; their routes are inside
        included = getattr(route, "effective_route_contexts", None)
        flat += list(included()) if callable(included) else [route]
    for route in flat:
        path = getattr(route, "path", None)
        if not isinstance(path, str):
            continue
        methods = sorted(getattr(route, "methods", None) or {"GET"})
        method = "GET" if "GET" in methods else methods[0]
        routes.add((method, _concrete(path) or "/"))
    return sorted(routes)


def test_only_the_listed_routes_answer_without_a_key(gateway: tuple[GatewayProcess, Path]) -> None:
    """Every route LiteLLM registers gets 401 without a key except PUBLIC_PATHS, also with a config that makes more public.

    The config switches on what LiteLLM would serve anonymously (``public_routes``, detailed
    readiness, the drain endpoint); this test runs last in the module because, were
    ``/health/drain`` reachable, it would take the gateway out of rotation. The README's
    endpoint table must list exactly PUBLIC_PATHS as needing no key.
    """
    from gateway.front.exposure import CLOSED_PATHS, PUBLIC_PATHS

    proc, _path = gateway
    opened = {
        **yaml.safe_load(BASE),
        "general_settings": {
            "enable_drain_endpoint": True,
            "allow_public_health_readiness_details": True,
            "public_routes": ["LiteLLMRoutes.public_routes", "/v1/models", "/model/info", "/health"],
        },
    }
    _swap(gateway, yaml.safe_dump(opened).encode())
    routes = _litellm_routes()
    assert len(routes) > 100, routes  # LiteLLM's app, not an empty stand-in
    answered = {}
    with httpx.Client(base_url=proc.base_url, timeout=10) as http:
        for method, path in routes:
            response = http.request(method, path)
            if response.status_code != 401:
                answered[f"{method} {path}"] = response.status_code
        for path in PUBLIC_PATHS:
            assert http.get(path).status_code == 200, path
        for path in CLOSED_PATHS:
            assert http.get(path, headers={"Authorization": f"Bearer {MASTER_KEY}"}).status_code == 404, path
        assert http.get("/v1/models", headers={"Authorization": f"Bearer {MASTER_KEY}"}).status_code == 200
    closed = {f"GET {path}": 404 for path in CLOSED_PATHS}
    assert {k: v for k, v in answered.items() if k.split(" ", 1)[1] not in PUBLIC_PATHS} == closed
    assert httpx.get(f"{proc.base_url}/health/readiness", timeout=5).status_code == 200  # still in rotation

    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("## Endpoints") : readme.index("## Environment")]
    documented = {p for row in table.splitlines() if "| none |" in row for p in re.findall(r"(/[\w/.-]+)", row.split("|")[1])}
    assert documented == set(PUBLIC_PATHS)


def test_chat_requests_write_no_log_lines(gateway: tuple[GatewayProcess, Path], client: openai.OpenAI) -> None:
    """Item 12: LiteLLM's per-request INFO lines are gone (they were printed twice: 8 lines per request)."""
    _swap(gateway, _config(_deployment("gpt-4", "quiet")))
    log = gateway[0].log_path
    before = log.stat().st_size
    for _ in range(5):
        assert _reply(client) == "quiet"
    written = log.read_bytes()[before:].decode(errors="replace").splitlines()
    assert written == [], written
