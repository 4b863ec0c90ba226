"""RefreshingToken edge cases on a controlled clock (the token source is a plain function, not azure-identity)."""

from __future__ import annotations

import time

import pytest

from gateway.identity.tokens import RefreshingToken, Token, TokenFetchError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def wait_for(predicate, timeout: float = 2.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_token_shorter_lived_than_the_margin_is_not_fetched_on_every_call() -> None:
    """A token living less than the 5-minute margin is refreshed at most every retry_delay, not per call."""
    clock = Clock()
    calls: list[float] = []

    def fetch() -> Token:
        calls.append(clock.now)
        return Token(f"t{len(calls)}", clock.now + 100)

    token = RefreshingToken(fetch, name="short", clock=clock)
    assert token.get() == "t1"
    for _ in range(20):
        clock.now += 1
        assert token.get() == "t1"
    assert len(calls) == 1

    clock.now += 11  # 31 s after the fetch: one background refresh is allowed
    assert token.get() == "t1"
    wait_for(lambda: len(calls) == 2)
    assert token.get() == "t2"
    assert token.stats.background_refreshes == 1


def test_failed_fetch_fails_fast_during_backoff_then_retries() -> None:
    """After a failure, callers get an error at once for failure_backoff_s instead of each retrying the IdP."""
    clock = Clock()
    attempts: list[float] = []

    def fetch() -> Token:
        attempts.append(clock.now)
        if len(attempts) < 3:
            raise ConnectionError("idp down")
        return Token("ok", clock.now + 3600)

    token = RefreshingToken(fetch, name="Azure managed_identity client_id=x", clock=clock)
    with pytest.raises(TokenFetchError) as first:
        token.get()
    assert "client_id=x: token fetch failed: ConnectionError: idp down" in first.value.detail
    assert "client_id" not in str(first.value)  # what a client could see names no identity
    assert token.stats.failing_since == clock.now
    clock.now += 1
    with pytest.raises(TokenFetchError) as second:
        token.get()
    assert "last token fetch failed 1.0s ago" in second.value.detail
    assert len(attempts) == 1

    clock.now += 5
    with pytest.raises(TokenFetchError):
        token.get()
    clock.now += 6
    assert token.get() == "ok"
    assert (token.stats.fetches, token.stats.failures, len(attempts)) == (1, 2, 3)
    assert token.stats.failing_since is None and token.stats.last_error is None
