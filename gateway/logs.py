"""Logging for the replica and the CLI: plain text on a terminal, JSON lines when asked.

``GATEWAY_LOG_FORMAT``: ``text`` (default), ``json`` (one object per line: ts, level,
logger, message, and for every line about a config ``version`` and ``sha256``), or
``auto`` (json unless stderr is a terminal). The Kubernetes manifests set ``json``.

Secrets are redacted from every line in both formats: the values of the replica's
secret-named environment variables (``*_KEY``, ``*_SECRET``, ``*PASSWORD*``, ``*TOKEN*``,
``*CONNECTION_STRING*``) and anything secret-shaped (``gateway.redact.scrub``).

Which release a line is about: ``extra={"config_version": ..., "config_sha256": ...}``
when the caller knows it (the "config applied"/"config rejected" event lines do);
otherwise, for the config pipeline's own loggers, the release this worker serves.
In JSON mode LiteLLM's and uvicorn's own handlers are replaced by the root one, so
every line of the process is JSON.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from gateway import redact

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Loggers whose lines are about a config (they get version/sha256 even without extras).
CONFIG_LOGGERS = ("gateway.judge", "gateway.watcher", "gateway.sources", "gateway.apply", "gateway.publisher", "gateway.reporting", "gateway.runtime", "gateway.status", "gateway.config")
_SECRET_NAME = re.compile(r"(KEY|SECRET|PASSWORD|TOKEN|CONNECTION_STRING)", re.IGNORECASE)
_serving: Callable[[], tuple[str | None, str | None]] = lambda: (None, None)  # noqa: E731 - replaced by set_serving


def set_serving(provider: Callable[[], tuple[str | None, str | None]]) -> None:
    """Where config lines without extras find the version/sha256 this worker serves."""
    global _serving
    _serving = provider


def secret_values(env: Mapping[str, str]) -> list[str]:
    return [v for k, v in env.items() if _SECRET_NAME.search(k) and v and not v.startswith("os.environ/")]


class RedactingFilter(logging.Filter):
    """Renders the message once, redacted; adds config_version/config_sha256 to config lines."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = redact.scrub(record.getMessage(), self.secrets)
        record.msg, record.args = message, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact.scrub(record.exc_text, self.secrets)
        if not hasattr(record, "config_version") and record.name.startswith(CONFIG_LOGGERS):
            try:
                record.config_version, record.config_sha256 = _serving()
            except Exception:  # noqa: BLE001 - a log line must never fail
                record.config_version, record.config_sha256 = None, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if hasattr(record, "config_version"):
            body["version"] = getattr(record, "config_version", None)
            body["sha256"] = getattr(record, "config_sha256", None)
        if record.exc_text:
            body["exception"] = record.exc_text
        return json.dumps(body, default=str)


def log_format(env: Mapping[str, str], stream: object = None) -> str:
    value = (env.get("GATEWAY_LOG_FORMAT") or "text").strip().lower()
    if value == "auto":
        isatty = getattr(stream or sys.stderr, "isatty", lambda: False)
        return "text" if isatty() else "json"
    return "json" if value == "json" else "text"


def configure(env: Mapping[str, str] | None = None, *, stream: object = None) -> str:
    """Install the root handler (text or JSON, redacting); returns the format chosen."""
    env = os.environ if env is None else env
    fmt = log_format(env, stream)
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.addFilter(RedactingFilter(secret_values(env)))
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel((env.get("GATEWAY_LOG_LEVEL") or "INFO").upper())
    adopt_library_loggers(json_mode=fmt == "json")
    return fmt


#: LiteLLM's loggers: its own stream handler (every line printed twice next to ours) and an INFO
#: line per chat request (8 lines per request in-process). WARNING and up, through the root handler
#: only, unless GATEWAY_LOG_LEVEL=DEBUG.
LITELLM_LOGGERS = ("LiteLLM", "LiteLLM Proxy", "LiteLLM Router")
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def adopt_library_loggers(*, json_mode: bool | None = None) -> None:
    """One handler per record: LiteLLM's (and in JSON mode uvicorn's) own handlers go, their lines go
    through the root handler (redacting, text or JSON). Call again once LiteLLM is imported: it adds
    its handler at import time."""
    root_level = logging.getLogger().level
    json_mode = log_format(os.environ) == "json" if json_mode is None else json_mode
    for name in (*LITELLM_LOGGERS, *(UVICORN_LOGGERS if json_mode else ())):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True
    for name in LITELLM_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if root_level <= logging.DEBUG else logging.WARNING)
    # azure-core logs every HTTP request at INFO (headers included); keep only its warnings.
    logging.getLogger("azure").setLevel(max(logging.WARNING, root_level))


def watch_status(status: object) -> None:
    """Log one event line per apply and rejection, carrying that release's version and sha256;
    other config lines carry what this worker serves (``set_serving``)."""
    from gateway.status import ConfigStatus

    assert isinstance(status, ConfigStatus)
    log = logging.getLogger("gateway.config")
    seen: dict[str, object] = {"applied": status.applied, "rejected": status.last_rejected}
    set_serving(lambda: (status.applied.version, status.applied.sha256) if status.applied else (None, None))

    def on_change() -> None:
        applied, rejected = status.applied, status.last_rejected
        if applied is not None and applied is not seen["applied"]:
            seen["applied"] = applied
            extra = {"config_version": applied.version, "config_sha256": applied.sha256}
            log.info("config applied: %d deployment(s) from %s", applied.deployments, applied.origin, extra=extra)
        if rejected is not None and rejected is not seen["rejected"]:
            seen["rejected"] = rejected
            extra = {"config_version": rejected.version, "config_sha256": rejected.sha256}
            errors = "; ".join(str(e) for e in rejected.errors)
            log.error("config rejected at %s: %s", rejected.stage, errors, extra=extra)

    status.listeners.append(on_change)
