"""The one retry policy for everything that waits on Azure: capped exponential backoff, full jitter.

Built on tenacity; every loop in the gateway that retries a remote call (the
blob startup fetch, the Service Bus reconnect, the in-message retry of a
transient failure, the publisher's compare-and-swap) takes its waits from
``backoff()``, so the policy is written once:

* the n-th wait (n = 0, 1, ...) is drawn uniformly from ``[0, min(cap, base * 2**n)]``
  seconds ("full jitter", AWS Architecture Blog, *Exponential Backoff And
  Jitter*, 2015): a fleet of replicas that lost the same dependency at the same
  moment spreads its retries instead of retrying in lockstep;
* defaults: ``base`` 0.5 s, ``cap`` 30 s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    stop_never,
    wait_random_exponential,
)

from gateway.errors import describe

#: Seconds: the first wait is drawn below BASE, waits grow x2 per attempt up to CAP.
BASE_SECONDS = 0.5
CAP_SECONDS = 30.0


def backoff(*, base: float = BASE_SECONDS, cap: float = CAP_SECONDS) -> wait_random_exponential:
    """Full-jitter exponential wait: uniform in [0, min(cap, base * 2**attempt)] seconds."""
    return wait_random_exponential(multiplier=base, max=cap)


def delay_for(attempt: int, *, base: float = BASE_SECONDS, cap: float = CAP_SECONDS) -> float:
    """Seconds to wait after failure number ``attempt`` (1-based), for loops that schedule their own retry."""
    state = RetryCallState(Retrying(), None, (), {})
    state.attempt_number = max(1, attempt)
    return float(backoff(base=base, cap=cap)(state))


def _log_before_sleep(logger: logging.Logger, what: str, level: int) -> Callable[[RetryCallState], None]:
    def log_it(state: RetryCallState) -> None:
        outcome = state.outcome
        reason = describe(outcome.exception()) if outcome is not None and outcome.failed else "not done yet"  # type: ignore[arg-type]  # failed => exception() is set
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        logger.log(level, "%s (attempt %d): %s; retrying in %.1fs", what, state.attempt_number, reason, delay)

    return log_it


def retrying_async(what: str, logger: logging.Logger, **policy: Any) -> AsyncRetrying:
    """An ``AsyncRetrying`` with the gateway's policy (keyword arguments: see ``_arguments``).

    Forever unless ``max_seconds``/``max_attempts`` is given; each failure is logged as
    ``"<what> (attempt n): <reason>; retrying in s"`` (``what`` names the failure); when a limit is reached the last
    exception is re-raised.
    """
    return AsyncRetrying(**_arguments(what, logger, **policy))


def retrying(what: str, logger: logging.Logger, **policy: Any) -> Retrying:
    """The synchronous twin of ``retrying_async`` (the publisher runs in a synchronous Function)."""
    return Retrying(**_arguments(what, logger, **policy))


def _arguments(
    what: str,
    logger: logging.Logger,
    *,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] = Exception,
    base: float = BASE_SECONDS,
    cap: float = CAP_SECONDS,
    max_seconds: float | None = None,
    max_attempts: int | None = None,
    level: int = logging.WARNING,
) -> dict[str, Any]:
    """tenacity arguments: retry ``retry_on`` with ``backoff(base, cap)`` (seconds) until a limit, if any."""
    stop: Any = stop_never
    if max_seconds is not None:
        stop = stop_after_delay(max_seconds)
    if max_attempts is not None:
        stop = stop | stop_after_attempt(max_attempts) if stop is not stop_never else stop_after_attempt(max_attempts)
    return {
        "wait": backoff(base=base, cap=cap),
        "stop": stop,
        "retry": retry_if_exception_type(retry_on),
        "before_sleep": _log_before_sleep(logger, what, level),
        "reraise": True,
    }
