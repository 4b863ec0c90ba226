"""A running gateway, driven with the OpenAI SDK, takes config edits live with no failed request.

One `genai-gateway serve --config FILE` process is shared by the module (LiteLLM
costs ~10 s to import); each test rewrites FILE and waits for /health/config
to report the new sha256 (or the rejection) before asserting.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import yaml

from tests.support.broken_configs import BROKEN, Broken
from tests.support.processes import MASTER_KEY, GatewayProcess, wait_until


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
    """/health/config needs no key and reports ready, version, sha256 of the file, source and time."""
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
    assert httpx.post(f"{base}/v1/chat/completions", json={}).status_code == 401  # no key at all


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
