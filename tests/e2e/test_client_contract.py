"""What an OpenAI client sees from a real gateway in front of a fake Azure OpenAI (issue 13, item 3 and 2).

One ``genai-gateway serve --config FILE`` process is shared by the module; two fake
Azure endpoints on loopback (east, west) serve deployments ``d-east`` and ``d-west``
and record every request. Each test writes the config it needs and waits until
/health/config reports it applied.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from tests.fakes.fake_llm_server import FakeLLMServer, Fault
from tests.support.file_gateway import apply_config, azure_deployment, file_gateway
from tests.support.processes import MASTER_KEY, GatewayProcess, wait_until

AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}
HI = [{"role": "user", "content": "hi"}]
CONTENT_FILTER = {
    "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
    "type": None,
    "param": "prompt",
    "code": "content_filter",
    "status": 400,
    "innererror": {"code": "ResponsibleAIPolicyViolation"},
}


@dataclass
class Stack:
    gateway: GatewayProcess
    config: Path
    east: FakeLLMServer
    west: FakeLLMServer

    def upstream_calls(self) -> int:
        return len(self.east.requests) + len(self.west.requests)

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.gateway.base_url}/v1", api_key=MASTER_KEY, max_retries=0, timeout=30)

    def post(self, body: Any = None, *, content: bytes | None = None, path: str = "/v1/chat/completions",
             headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.post(f"{self.gateway.base_url}{path}", json=body, content=content,
                          headers={**AUTH, **(headers or {})}, timeout=30)


def deployment(fake: FakeLLMServer, name: str, group: str = "gpt-4") -> dict[str, Any]:
    return azure_deployment(fake.base_url, name, group)


def config_bytes(stack: Stack, *, both: bool = True, router: dict[str, Any] | None = None,
                 general: dict[str, Any] | None = None) -> bytes:
    models = [deployment(stack.east, "d-east")] + ([deployment(stack.west, "d-west")] if both else [])
    body: dict[str, Any] = {"model_list": models, "litellm_settings": {"cache": False},
                            "router_settings": {"num_retries": 0, **(router or {})}}
    if general:
        body["general_settings"] = general
    return yaml.safe_dump(body, sort_keys=False).encode()


def apply(stack: Stack, data: bytes) -> None:
    """Write the config, wait until it is applied, and forget earlier upstream calls and cooldowns."""
    apply_config(stack.gateway, stack.config, data, (stack.east, stack.west))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("contract")
    with FakeLLMServer("east") as east, FakeLLMServer("west") as west, file_gateway(work) as proc:
        result = Stack(proc, work / "config.yaml", east, west)
        result.config.write_bytes(config_bytes(result))
        proc.start(timeout=240)
        yield result


# -- the schema every error body must match -------------------------------------------------------

_LEAKS = re.compile(r"Traceback|File \"|site-packages|\.py\b|/work/|/usr/|/tmp/|/root/|/home/")


def assert_openai_error(response: httpx.Response) -> dict[str, Any]:
    """The body is exactly OpenAI's error object, with JSON null where absent, and leaks nothing."""
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"].strip(), error
    assert isinstance(error["type"], str) and error["type"] not in ("", "None"), error
    assert error["param"] is None or (isinstance(error["param"], str) and error["param"] not in ("", "None")), error
    assert error["code"] is None or (isinstance(error["code"], str) and error["code"] not in ("", "None")), error
    assert error["code"] != str(response.status_code), "a code that only repeats the status must be null"
    assert not _LEAKS.search(response.text), response.text
    return error


# -- item 3: retry-after ------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_upstream_retry_after_reaches_the_sdk(stack: Stack, stream: bool) -> None:
    """Azure's 429 retry-after: 17 reaches the OpenAI SDK as retry-after and retry-after-ms."""
    apply(stack, config_bytes(stack, both=False))
    stack.east.enqueue(Fault(status=429, headers=(("retry-after", "17"),)))
    with pytest.raises(openai.RateLimitError) as info:
        stack.client().chat.completions.create(model="gpt-4", messages=HI, stream=stream)  # type: ignore[call-overload]
    headers = info.value.response.headers
    assert headers["retry-after"] == "17" and headers["retry-after-ms"] == "17000"
    assert_openai_error(info.value.response)


def test_upstream_503_wait_in_milliseconds_is_passed_on(stack: Stack) -> None:
    """An upstream 503 with retry-after-ms: 2500 gives retry-after-ms 2500 and retry-after 3 (rounded up)."""
    apply(stack, config_bytes(stack, both=False))
    stack.east.enqueue(Fault(status=503, headers=(("retry-after-ms", "2500"),)))
    response = stack.post({"model": "gpt-4", "messages": HI})
    assert response.status_code == 503
    assert response.headers["retry-after-ms"] == "2500" and response.headers["retry-after"] == "3"
    assert_openai_error(response)


def test_all_deployments_cooling_gives_the_time_until_the_first_returns(stack: Stack) -> None:
    """Both deployments cooled by a 429 (retry-after 20): the next 429 says at most 20 s, not LiteLLM's nothing."""
    apply(stack, config_bytes(stack, router={"cooldown_time": 20, "allowed_fails": 0}))
    for fake in (stack.east, stack.west):
        fake.enqueue(Fault(status=429, headers=(("retry-after", "20"),)))
    for _ in range(2):  # each request cools the deployment it reached; shuffle skips cooled ones
        assert stack.post({"model": "gpt-4", "messages": HI}).status_code == 429
    assert stack.upstream_calls() == 2, "each deployment was tried once"
    response = stack.post({"model": "gpt-4", "messages": HI})
    assert response.status_code == 429 and stack.upstream_calls() == 2
    seconds, ms = int(response.headers["retry-after"]), int(response.headers["retry-after-ms"])
    assert 0 < seconds <= 20 and 0 < ms <= 20_000 and seconds == -(-ms // 1000)
    assert_openai_error(response)


# -- item 3: error shape --------------------------------------------------------------------------------


def test_azure_content_filter_code_is_kept_and_not_retried(stack: Stack) -> None:
    """Azure's content_filter 400 reaches the SDK with code content_filter and param prompt, tried once."""
    apply(stack, config_bytes(stack, router={"num_retries": 2}))
    for fake in (stack.east, stack.west):
        fake.enqueue(Fault(status=400, error=CONTENT_FILTER))
    with pytest.raises(openai.BadRequestError) as info:
        stack.client().chat.completions.create(model="gpt-4", messages=HI)
    assert info.value.code == "content_filter" and info.value.param == "prompt"
    assert stack.upstream_calls() == 1
    assert_openai_error(info.value.response)


def test_auth_error_param_is_json_null(stack: Stack) -> None:
    """LiteLLM's 401 for a missing user (enforce_user_param) has param null, not the string "None"."""
    apply(stack, config_bytes(stack, general={"enforce_user_param": True}))
    response = stack.post({"model": "gpt-4", "messages": HI})
    assert response.status_code == 401
    assert assert_openai_error(response)["param"] is None


@dataclass(frozen=True)
class Malformed:
    id: str
    status: int
    body: Any = None
    raw: bytes | None = None
    path: str = "/v1/chat/completions"
    method: str = "POST"
    headers: tuple[tuple[str, str], ...] = ()
    fragment: str = ""


CORPUS = [
    Malformed("messages-string", 400, {"model": "gpt-4", "messages": "hi"}, fragment="messages"),
    Malformed("messages-empty", 400, {"model": "gpt-4", "messages": []}, fragment="messages"),
    Malformed("messages-missing", 400, {"model": "gpt-4"}, fragment="messages"),
    Malformed("message-not-object", 400, {"model": "gpt-4", "messages": ["hi"]}, fragment="messages[0]"),
    Malformed("message-without-role", 400, {"model": "gpt-4", "messages": [{"content": "x"}]}, fragment="role"),
    Malformed("role-not-string", 400, {"model": "gpt-4", "messages": [{"role": 5, "content": "x"}]}, fragment="role"),
    Malformed("model-missing", 400, {"messages": HI}, fragment="model"),
    Malformed("model-not-string", 400, {"model": 4, "messages": HI}, fragment="model"),
    Malformed("body-array", 400, [1, 2], fragment="JSON object"),
    Malformed("body-string", 400, "hi", fragment="JSON object"),
    Malformed("body-empty", 400, raw=b"", headers=(("content-type", "application/json"),), fragment="empty"),
    Malformed("json-truncated", 400, raw=b'{"model": "gpt-4", "messages": [', headers=(("content-type", "application/json"),),
              fragment="not valid JSON"),
    Malformed("not-utf8", 400, raw=b'{"model": "gpt-4", "messages": [{"role": "user", "content": "\xff\xfe"}]}',
              headers=(("content-type", "application/json"),), fragment="not valid UTF-8 JSON"),
    Malformed("latin1-declared-json", 400, raw='{"model": "gpt-4", "messages": "é"}'.encode("latin-1"),
              headers=(("content-type", "application/json; charset=latin-1"),), fragment="UTF-8"),
    Malformed("embeddings-no-input", 400, {"model": "gpt-4"}, path="/v1/embeddings", fragment="input"),
    Malformed("unknown-model", 400, {"model": "no-such-model", "messages": HI}, fragment="no-such-model"),
    Malformed("azure-path-messages-string", 400, {"messages": "hi"},
              path="/openai/deployments/gpt-4/chat/completions?api-version=2024-06-01", fragment="messages"),
    Malformed("wrong-method", 405, method="GET"),
    Malformed("unknown-route", 404, {"x": 1}, path="/v1/no-such-route"),
    Malformed("missing-key", 401, {"model": "gpt-4", "messages": HI}, headers=(("authorization", ""),)),
    Malformed("wrong-key", 401, {"model": "gpt-4", "messages": HI}, headers=(("authorization", "Bearer sk-wrong"),)),
]


@pytest.fixture(scope="module")
def corpus_config(stack: Stack) -> None:
    apply(stack, config_bytes(stack, router={"num_retries": 2}))


@pytest.mark.parametrize("case", CORPUS, ids=[c.id for c in CORPUS])
def test_malformed_request_gets_an_openai_error_and_no_upstream_call(stack: Stack, corpus_config: None,
                                                                      case: Malformed) -> None:
    """Every malformed request: the expected 4xx, OpenAI's schema, no traceback or path, no upstream call."""
    before = stack.upstream_calls()
    headers = {"authorization": AUTH["Authorization"], **dict(case.headers)}
    if case.raw is not None:
        content = case.raw
    elif case.body is not None:
        content = json.dumps(case.body).encode()
        headers.setdefault("content-type", "application/json")
    else:
        content = None
    response = httpx.request(case.method, f"{stack.gateway.base_url}{case.path}", content=content,
                             headers={k: v for k, v in headers.items() if v}, timeout=30)
    assert response.status_code == case.status, response.text
    error = assert_openai_error(response)
    assert case.fragment in error["message"] or case.fragment == error["param"], error
    assert stack.upstream_calls() == before, "a client error must never reach the upstream"


# -- item 2: settings LiteLLM accepts but does not enforce, enforced at the front --------------------


def test_max_request_size_mb_is_enforced_with_413(stack: Stack) -> None:
    """With max_request_size_mb: 1, a 3 MB body gets 413 before any upstream call; a small one passes."""
    apply(stack, config_bytes(stack, general={"max_request_size_mb": 1}))
    big = {"model": "gpt-4", "messages": [{"role": "user", "content": "x" * 3_000_000}]}
    response = stack.post(big)
    assert response.status_code == 413
    assert assert_openai_error(response)["code"] == "request_too_large"
    chunked = httpx.post(f"{stack.gateway.base_url}/v1/chat/completions", headers={**AUTH, "content-type": "application/json"},
                         content=iter([json.dumps(big).encode()[i:i + 65536] for i in range(0, 3_000_100, 65536)]),
                         timeout=30)
    assert chunked.status_code == 413, "a body without content-length is counted too"
    assert stack.upstream_calls() == 0
    assert stack.post({"model": "gpt-4", "messages": HI}).status_code == 200


def test_global_max_parallel_requests_is_enforced_with_429(stack: Stack) -> None:
    """With global_max_parallel_requests: 2, a third request while two are in flight gets 429 and retry-after."""
    apply(stack, config_bytes(stack, general={"global_max_parallel_requests": 2}))
    for fake in (stack.east, stack.west):
        fake.enqueue(Fault(delay_s=6), Fault(delay_s=6))
    results: list[int] = []
    held = [threading.Thread(target=lambda: results.append(stack.post({"model": "gpt-4", "messages": HI}).status_code))
            for _ in range(2)]
    for thread in held:
        thread.start()
    wait_until(lambda: stack.upstream_calls() == 2, timeout=30, what="two requests held upstream")
    extra = [stack.post({"model": "gpt-4", "messages": HI}) for _ in range(3)]
    for thread in held:
        thread.join(timeout=30)
    assert [r.status_code for r in extra] == [429, 429, 429]
    assert all(r.headers["retry-after"] == "1" for r in extra)
    assert assert_openai_error(extra[0])["code"] == "rate_limit_exceeded"
    assert sorted(results) == [200, 200] and stack.upstream_calls() == 2


def test_per_deployment_max_parallel_requests_is_a_cap_not_a_queue(stack: Stack) -> None:
    """docs/differences.md: a request finding every slot of the group in use is answered 429 at once
    (after the router has tried the group's other deployments), not queued until a slot frees."""
    # Retries on: a request that picks the busy deployment first moves on to the free one.
    data = yaml.safe_load(config_bytes(stack, router={"num_retries": 2}))
    for model in data["model_list"]:
        model["litellm_params"]["max_parallel_requests"] = 1
    apply(stack, yaml.safe_dump(data, sort_keys=False).encode())
    for fake in (stack.east, stack.west):
        fake.enqueue(Fault(delay_s=6))
    results: list[int] = []
    held = [threading.Thread(target=lambda: results.append(stack.post({"model": "gpt-4", "messages": HI}).status_code))
            for _ in range(2)]
    for thread in held:
        thread.start()
    wait_until(lambda: len(stack.east.requests) == 1 and len(stack.west.requests) == 1, timeout=30,
               what="one request held on each deployment")
    extra = stack.post({"model": "gpt-4", "messages": HI})
    still_held = sum(thread.is_alive() for thread in held)
    for thread in held:
        thread.join(timeout=30)
    assert extra.status_code == 429, extra.text
    assert_openai_error(extra)  # an OpenAI-shaped body, like every other error
    assert still_held == 2, "the 429 came while both slots were still taken: it was not queued behind them"
    assert sorted(results) == [200, 200] and stack.upstream_calls() == 2
