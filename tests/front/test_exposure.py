"""The public surface: no LiteLLM route without a key, closed routes closed, a brief /health/config without a key."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from gateway.apply.litellm_proxy import ApplyResult
from gateway.errors import ConfigIssue
from gateway.front.exposure import CLOSED_PATHS, RequireKey, config_view, last_release_rejected
from gateway.status import ConfigStatus


def _call(path: str, headers: list[tuple[bytes, bytes]] = ()) -> tuple[int, dict, list[str]]:  # type: ignore[assignment]
    reached: list[str] = []
    sent: list[dict[str, Any]] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "headers": list(headers), "query_string": b""}
    asyncio.run(RequireKey(inner)(scope, receive, send))
    return sent[0]["status"], json.loads(sent[1]["body"]), reached


@pytest.mark.parametrize("path", ["/", "/routes", "/config/yaml", "/public/model_hub", "/v1/models", "/anything/new"])
def test_no_key_never_reaches_litellm(path: str) -> None:
    """Without a key every path gets an OpenAI-style 401 and the app behind is never called."""
    status, body, reached = _call(path)
    assert (status, body["error"]["code"], reached) == (401, "invalid_api_key", [])


def test_a_key_goes_through_and_closed_paths_stay_closed() -> None:
    """With a key the request reaches the app (it checks the value); CLOSED_PATHS are 404 even then."""
    auth = [(b"authorization", b"Bearer some-key")]
    assert _call("/v1/models", auth)[0::2] == (200, ["/v1/models"])
    for path in CLOSED_PATHS:
        status, _body, reached = _call(path, auth)
        assert (status, reached) == (404, [])


def _applied() -> ApplyResult:
    return ApplyResult("0001", "ab" * 32, "local:/srv/config.yaml", 2, ("gpt-4",), 1.0, 0.1, False)


def test_brief_view_says_only_four_things() -> None:
    """Without a key: ready, version, sha256, last_release_rejected; with it, the details."""
    status = ConfigStatus()
    status.extras["identities"] = lambda: {"gpt-4": "client 1111"}
    status.record_applied(_applied())
    brief = config_view(status, detailed=False)
    assert brief == {"ready": True, "version": "0001", "sha256": "ab" * 32, "last_release_rejected": False}
    detailed = config_view(status, detailed=True)
    assert detailed["model_groups"] == ["gpt-4"] and detailed["identities"] == {"gpt-4": "client 1111"} and "pid" in detailed


def test_last_release_rejected_follows_the_latest_verdict() -> None:
    """A rejection after the apply counts; an apply after the rejection clears it."""
    status = ConfigStatus()
    assert last_release_rejected(status) is False
    status.record_applied(_applied())
    status.record_rejected("0002", "cd" * 32, [ConfigIssue("model_list", "bad")], "validate")
    assert last_release_rejected(status) is True
    status.record_applied(_applied())
    assert last_release_rejected(status) is False
