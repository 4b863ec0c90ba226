"""Logging: text by default, JSON lines on request, secrets redacted, config lines carry version and sha256,
and (end to end) a real replica writing only JSON lines with no secret from its environment."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gateway import logs
from gateway.apply.litellm_proxy import ApplyResult
from gateway.errors import ConfigIssue
from gateway.status import ConfigStatus
from tests.support.processes import MASTER_KEY, GatewayProcess, wait_until

SECRET = "sk-from-env-0123456789abcdefABCDEF"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logs.set_serving(lambda: (None, None))


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("value", "tty", "expected"),
    [(None, False, "text"), ("json", True, "json"), ("JSON", False, "json"), ("auto", True, "text"), ("auto", False, "json"), ("text", False, "text")],
)
def test_format_choice(value: str | None, tty: bool, expected: str) -> None:
    """Plain text unless GATEWAY_LOG_FORMAT says json; auto is text on a terminal, JSON elsewhere."""
    env = {} if value is None else {"GATEWAY_LOG_FORMAT": value}
    assert logs.log_format(env, _Tty() if tty else io.StringIO()) == expected


def test_json_lines_redact_env_secrets_and_carry_the_release(restore_logging: None) -> None:
    """One object per line; a secret from the environment is replaced by its preview; config lines name the release."""
    stream = io.StringIO()
    logs.configure({"GATEWAY_LOG_FORMAT": "json", "DEMO_API_KEY": SECRET}, stream=stream)
    status = ConfigStatus()
    logs.watch_status(status)
    status.record_applied(ApplyResult("0001", "a" * 64, "servicebus:t/s", 1, ("gpt-4",), 1.0, 1.0, False))
    logging.getLogger("gateway.judge").warning("a line about config with %s in it", SECRET)
    status.record_rejected("0002", "b" * 64, [ConfigIssue("model_list[0].litellm_params.api_key", "X is not set")], "validate")
    logging.getLogger("some.library").info("unrelated %s", SECRET)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert SECRET not in stream.getvalue()
    by_message = {line["message"].split(":")[0]: line for line in lines}
    assert (by_message["config applied"]["version"], by_message["config applied"]["sha256"]) == ("0001", "a" * 64)
    assert (by_message["config rejected at validate"]["version"], by_message["config rejected at validate"]["sha256"]) == ("0002", "b" * 64)
    judge = next(line for line in lines if line["logger"] == "gateway.judge")
    assert (judge["version"], judge["sha256"]) == ("0001", "a" * 64)  # what this worker serves
    assert "version" not in next(line for line in lines if line["logger"] == "some.library")


def test_text_lines_redact_too(restore_logging: None) -> None:
    """The default text format redacts the same secrets."""
    stream = io.StringIO()
    assert logs.configure({"DEMO_PASSWORD": SECRET}, stream=stream) == "text"
    logging.getLogger("gateway.x").warning("password=%s", SECRET)
    assert SECRET not in stream.getvalue() and "WARNING gateway.x: password=" in stream.getvalue()


def test_litellm_lines_go_through_the_root_handler_once(restore_logging: None) -> None:
    """LiteLLM's own handler is removed (no double lines) and its per-request INFO lines are dropped."""
    import litellm._logging  # noqa: F401 - adds LiteLLM's own handler at import

    stream = io.StringIO()
    logs.configure({"GATEWAY_LOG_FORMAT": "json"}, stream=stream)
    router = logging.getLogger("LiteLLM Router")
    assert router.handlers == []
    router.info("litellm.acompletion(model=x) 200 OK")
    router.warning("a deployment is cooling down")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["message"] == "a deployment is cooling down"


def test_replica_writes_only_json_lines_without_env_secrets(tmp_path: Path) -> None:
    """A real replica (serve --config) with GATEWAY_LOG_FORMAT=json and a key from its env: every line parses,
    none holds the key or the master key, and the apply and the rejection lines carry version and sha256."""
    config = tmp_path / "config.yaml"

    def write(reply: str, extra: str = "") -> None:
        body = {"model_list": [{"model_name": "gpt-4", "litellm_params": {"model": "openai/gpt-4", "api_key": "os.environ/DEMO_API_KEY", "mock_response": reply}}]}
        config.write_text(yaml.safe_dump(body) + extra)

    write("first")
    gateway = GatewayProcess(
        ["serve", "--config", str(config)],
        {"GATEWAY_LOG_FORMAT": "json", "DEMO_API_KEY": SECRET, "LITELLM_MASTER_KEY": MASTER_KEY, "GATEWAY_FILE_POLL_INTERVAL": "0.2"},
        tmp_path / "gateway.log",
    ).start(timeout=300)
    try:
        time.sleep(0.5)  # a distinct mtime for the edit below
        write("second", extra="router_settings: {num_retires: 2}\n")  # a typo'd router key: rejected
        wait_until(lambda: gateway.health()["last_rejected"], timeout=60, what="the rejection")
    finally:
        gateway.stop()
    text = gateway.log_path.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert SECRET not in text and MASTER_KEY not in text
    applied = [line for line in lines if line["message"].startswith("config applied")]
    rejected = [line for line in lines if line["message"].startswith("config rejected")]
    assert applied and all(len(line["sha256"]) == 64 and line["version"] for line in applied)
    assert rejected and "router_settings.num_retires" in rejected[0]["message"] and len(rejected[0]["sha256"]) == 64
    assert all({"ts", "level", "logger", "message"} <= set(line) for line in lines)
