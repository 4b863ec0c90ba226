"""The gateway's ASGI front: what every client sees before and after LiteLLM's proxy.

Layers, outermost first, each one module with one job::

    ErrorContract   every error in OpenAI's shape, upstream codes kept, retry-after on 429/503  (contract.py)
     └ RequestLimits  413 over max_request_size_mb, 429 over global_max_parallel_requests      (limits.py)
        └ (auth)       the caller's key check, passed in by the server
           └ RequestCheck  400 for non-UTF-8 / non-JSON bodies and malformed inference requests (body.py)
              └ LiteLLM's proxy app, its ProxyException handler recorded for the contract   (litellm_link.py)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp

from gateway.front import litellm_link
from gateway.front.body import RequestCheck
from gateway.front.contract import ErrorContract
from gateway.front.errors import OpenAIError, send_error
from gateway.front.limits import Limits, RequestLimits


def current_limits() -> Limits:
    """The caps of the config LiteLLM is serving now."""
    return Limits.from_general_settings(litellm_link.general_settings())


def build(proxy: ASGIApp, *, authenticate: Callable[[Any], Any] = lambda app: app) -> ASGIApp:
    """Wrap LiteLLM's app in the front; ``authenticate`` wraps the inner part (the key check).

    ``authenticate`` is typed loosely: the key check predates the front's Starlette types.
    """
    litellm_link.install(proxy)
    inner: ASGIApp = authenticate(RequestCheck(proxy))
    return ErrorContract(RequestLimits(inner, current_limits))


__all__ = ["ErrorContract", "Limits", "OpenAIError", "RequestCheck", "RequestLimits", "build", "current_limits", "send_error"]
