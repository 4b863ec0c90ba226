"""Per-request failover inside a model group: a retry goes to a deployment this request has not failed on.

LiteLLM 1.108.7's Router retries a failed request (``num_retries``) by picking a
deployment again from the group's *healthy* list, and a deployment stays in that
list after a failure whenever the cooldown logic does not remove it at once (a 429
with ``Retry-After: 0`` cools it for zero seconds; refused connections leaked too). With
``simple-shuffle`` every retry is then a coin toss between the broken region and
the healthy one, so a request can fail on the broken region three times in a row
while the other region would have answered (measured: 4 of 20 requests with a
persistent 429 ``Retry-After: 0``, 1 of 20 with the port closed). LiteLLM's own
per-request exclusion (``_retry_skipped_deployment_ids``) covers only
non-retryable statuses, and ``enable_weighted_failover`` is opt-in and bounded by
``max_fallbacks``.

``FailoverRouter`` fixes the kind for every failure the Router retries (429 with or
without ``Retry-After``, 5xx, timeouts, refused connections):

* each request (the outermost ``async_function_with_fallbacks``) gets a set of the
  deployment ids that failed for it, held in a ``ContextVar`` so nested fallback
  and failover calls of the same request share it and concurrent requests do not;
* a failed attempt (``make_call`` raising) adds the deployment it used: the id the
  Router stamps on the exception (``failed_deployment_id``), else the deployment
  this request last picked;
* when the Router picks a deployment it drops the ones that failed for this
  request, unless that would leave none (then LiteLLM's own choice stands);
* when LiteLLM's retries are spent while the group still has a healthy deployment
  this request has not tried, the request is retried on it (at most once per
  deployment of the group), so it fails only when every deployment it could use
  has failed for it.

Nothing is kept between requests: a region that recovers is offered again as soon
as LiteLLM's cooldown (if any) ends. Only the async paths (the proxy's) are
covered; the gateway builds its routers with ``async_only_mode``.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Any

import litellm
import openai

__all__ = ["FailoverRouter", "failed_deployments"]


@dataclass
class _RequestAttempts:
    failed: set[str] = field(default_factory=set)
    picked: str | None = None


_ATTEMPTS: contextvars.ContextVar[_RequestAttempts | None] = contextvars.ContextVar(
    "gateway_failover_attempts", default=None
)


def failed_deployments() -> frozenset[str]:
    """The deployment ids that failed for the request being served in this context (tests, logs)."""
    state = _ATTEMPTS.get()
    return frozenset(state.failed) if state is not None else frozenset()


def _deployment_id(deployment: Any) -> str | None:
    if not isinstance(deployment, dict):
        return None
    info = deployment.get("model_info")
    value = info.get("id") if isinstance(info, dict) else None
    return value if isinstance(value, str) and value else None


def _retryable(error: BaseException) -> bool:
    """The failures LiteLLM's Router retries: connection errors, timeouts, 408/409/429/5xx."""
    if isinstance(error, (openai.APIConnectionError, openai.APITimeoutError, litellm.Timeout)):
        return True
    status = getattr(error, "status_code", None)
    return isinstance(status, int) and bool(litellm.should_retry(status))


class FailoverRouter(litellm.Router):
    """``litellm.Router`` whose retries never go back to a deployment that already failed for the request."""

    async def async_function_with_fallbacks(self, *args: Any, **kwargs: Any) -> Any:
        if _ATTEMPTS.get() is not None:  # a nested call (fallback / failover) of the same request
            return await super().async_function_with_fallbacks(*args, **kwargs)
        token = _ATTEMPTS.set(_RequestAttempts())
        try:
            return await super().async_function_with_fallbacks(*args, **kwargs)
        finally:
            _ATTEMPTS.reset(token)

    async def async_function_with_retries(self, *args: Any, **kwargs: Any) -> Any:
        state = _ATTEMPTS.get()
        model = kwargs.get("model")
        requested = kwargs.get("num_retries")
        retries = requested if isinstance(requested, int) else (self.num_retries or 0)
        # num_retries: 0 means no retry at all; otherwise at most one more round per deployment of the group.
        rounds = len(self.get_model_list(model_name=model) or []) if isinstance(model, str) and retries > 0 else 0
        while True:
            try:
                return await super().async_function_with_retries(*args, **kwargs)
            except Exception as exc:
                rounds -= 1
                if state is None or rounds <= 0 or not _retryable(exc) or not await self._untried(model, state):
                    raise

    async def _untried(self, model: Any, state: _RequestAttempts) -> bool:
        """Whether the group has a deployment, not cooling down, that has not failed for this request."""
        if not isinstance(model, str):
            return False
        try:
            healthy, _ = await self._async_get_healthy_deployments(model=model, parent_otel_span=None)
        except Exception:  # noqa: BLE001 - no answer means no further attempt; the original error stands
            return False
        return any((ident := _deployment_id(d)) is not None and ident not in state.failed for d in healthy)

    async def make_call(self, original_function: Any, *args: Any, **kwargs: Any) -> Any:
        state = _ATTEMPTS.get()
        if state is not None:
            state.picked = None
        try:
            return await super().make_call(original_function, *args, **kwargs)
        except Exception as exc:
            if state is not None:
                failed = getattr(exc, "failed_deployment_id", None) or state.picked
                if isinstance(failed, str) and failed:
                    state.failed.add(failed)
            raise

    async def async_get_available_deployment(self, *args: Any, **kwargs: Any) -> Any:
        deployment = await super().async_get_available_deployment(*args, **kwargs)
        state = _ATTEMPTS.get()
        if state is not None:
            state.picked = _deployment_id(deployment)
        return deployment

    async def async_callback_filter_deployments(self, *args: Any, **kwargs: Any) -> Any:
        deployments = await super().async_callback_filter_deployments(*args, **kwargs)
        state = _ATTEMPTS.get()
        if state is None or not state.failed or not isinstance(deployments, list):
            return deployments
        untried = [d for d in deployments if _deployment_id(d) not in state.failed]
        return untried or deployments
