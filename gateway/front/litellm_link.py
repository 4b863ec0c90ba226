"""The front's only contact with LiteLLM's internals: the exception behind an error, and the live settings.

Why: by the time LiteLLM's proxy has turned an error into a response body, two facts
are gone: the upstream's own error code (Azure's ``content_filter`` becomes ``"400"``)
and how long the cooling deployments still need (LiteLLM sends the configured cooldown,
not what is left of it). Both are still on the exception. LiteLLM answers every
``ProxyException`` through one FastAPI handler; wrapping that handler puts the exception
into the request's ASGI scope, where the front's ``ErrorContract`` finds it. The raised
``ProxyException`` keeps the LiteLLM exception it was built from as ``__context__``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

#: Where the recorded exception lives in the ASGI scope of the request it failed.
SCOPE_KEY = "gateway.proxy_exception"
_MARK = "_gateway_records_exception"


@dataclass(frozen=True)
class ErrorFacts:
    """What the exception behind an error response says that its body no longer does."""

    upstream_code: str | None = None
    upstream_param: str | None = None
    cooldown_s: float | None = None  # seconds until the first cooling deployment returns


def install(app: Any) -> None:
    """Record every ``ProxyException`` LiteLLM's app answers into the request scope. Idempotent."""
    from litellm.proxy._types import ProxyException

    original = app.exception_handlers.get(ProxyException)
    if original is None or getattr(original, _MARK, False):
        return

    async def record(request: Any, exc: Exception) -> Any:
        request.scope[SCOPE_KEY] = exc
        return await original(request, exc)

    setattr(record, _MARK, True)
    app.exception_handlers[ProxyException] = record
    app.middleware_stack = None  # Starlette copies the handlers when it builds the stack: rebuild on first call


def _chain(exc: BaseException | None, limit: int = 8) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen and len(seen) < limit:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def facts(exc: BaseException | None) -> ErrorFacts:
    """Read the upstream's code and param and the remaining cooldown off a recorded exception.

    LiteLLM wraps the upstream's error more than once (Azure's ``content_filter`` 400 becomes
    a ``ContentPolicyViolationError`` with ``param`` dropped); the deepest exception that
    carries a parsed error body is the upstream's own answer, so it is asked first.
    """
    chain = list(_chain(exc))
    code = param = None
    for item in reversed(chain):
        body = getattr(item, "body", None)
        if isinstance(body, dict):
            code = code or _present(body.get("code"))
            param = param or _present(body.get("param"))
    for item in chain:
        code = code or _present(getattr(item, "openai_code", None))
    cooldown = next((_remaining_cooldown(i) for i in chain if hasattr(i, "cooldown_list")), None)
    return ErrorFacts(upstream_code=code, upstream_param=param, cooldown_s=cooldown)


def _present(value: Any) -> str | None:
    """A real code or param: a non-empty string that is not LiteLLM's "None" nor a bare HTTP status."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    return None if not text or text == "None" or text.isdigit() else text


def _remaining_cooldown(exc: BaseException) -> float | None:
    """Seconds until the first deployment named by a ``RouterRateLimitError`` leaves cooldown."""
    from litellm.proxy import proxy_server as ps

    router = ps.llm_router
    ids = [str(i) for i in getattr(exc, "cooldown_list", None) or []]
    if router is None or not ids:
        return None
    try:
        active = router.cooldown_cache.get_active_cooldowns(model_ids=ids, parent_otel_span=None)
    except Exception:
        log.debug("could not read LiteLLM's cooldowns", exc_info=True)
        return None
    now = time.time()
    ends = [
        float(value["timestamp"]) + float(value["cooldown_time"])
        for _id, value in active or ()
        if isinstance(value, dict) and "timestamp" in value and "cooldown_time" in value
    ]
    return max(min(ends) - now, 0.0) if ends else None


def general_settings() -> dict[str, Any]:
    """The ``general_settings`` LiteLLM's proxy is serving with right now (the applier keeps them current)."""
    from litellm.proxy import proxy_server as ps

    settings = ps.general_settings
    return settings if isinstance(settings, dict) else {}
