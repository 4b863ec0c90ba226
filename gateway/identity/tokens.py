"""One cached bearer token that refreshes itself before it expires.

Why this exists: LiteLLM either shares one process-wide Azure identity or, for
Databricks, fetches a new token on every request (FACTS.md). The gateway keeps
one ``RefreshingToken`` per identity instead, shared by every request and
every config apply, so the identity provider sees one fetch per token lifetime.

Token providers are called synchronously from the proxy's event loop (the
OpenAI SDK calls ``azure_ad_token_provider()`` inline), so a fetch there stalls
every request. To keep that rare:

* a token inside its refresh window but still valid is returned at once and
  refreshed in a background thread (stale-while-revalidate);
* only a missing or almost-expired token is fetched inline, single-flight
  under a lock, and a failure is remembered for ``failure_backoff_s`` so a
  broken identity does not turn every request into a blocking retry storm;
* ``prefetch()`` lets the applier fetch in a worker thread before a config
  goes live.

Nothing here logs or returns a token except ``get()``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from gateway.errors import GatewayError

_LOG = logging.getLogger(__name__)

DEFAULT_REFRESH_MARGIN_S = 300.0
"""Refresh this long before expiry (azure-identity and MSAL use the same 5 minutes)."""


class TokenFetchError(GatewayError, RuntimeError):
    """A token could not be obtained. ``str()`` is what a client may see; ``detail`` is for logs and health.

    LiteLLM copies an exception's text into the HTTP response, so ``str()`` never
    names the identity (client ids, tenants, token URLs): only ``detail`` does.
    ``status_code = 503``: LiteLLM maps it to ``ServiceUnavailableError``, which
    makes the Router cool the deployment down at once and retry the request on
    another deployment of the group; when none is left the caller gets a 503, an
    upstream-credential failure, not a 401 that would blame the caller's own key.
    """

    status_code = 503
    PUBLIC_MESSAGE = (
        "the gateway could not obtain a credential for this deployment from its identity provider; "
        "the operator can see which on /health/config"
    )

    def __init__(self, detail: str) -> None:
        super().__init__(self.PUBLIC_MESSAGE)
        self.detail = detail


@dataclass(frozen=True)
class Token:
    """A bearer token and when it stops being usable (epoch seconds)."""

    value: str = field(repr=False)
    expires_on: float
    refresh_on: float | None = None


@dataclass(frozen=True)
class TokenStats:
    """Counters for tests, metrics and health; contains no token material."""

    fetches: int = 0
    failures: int = 0
    background_refreshes: int = 0
    last_fetch_at: float | None = None
    expires_on: float | None = None
    last_error: str | None = None
    #: When the current run of failures began (epoch seconds); None while the last fetch succeeded.
    failing_since: float | None = None


class RefreshingToken:
    """Caches the token returned by ``fetch`` and refreshes it ahead of expiry; thread-safe."""

    def __init__(
        self,
        fetch: Callable[[], Token],
        *,
        name: str,
        refresh_margin_s: float = DEFAULT_REFRESH_MARGIN_S,
        min_validity_s: float = 30.0,
        retry_delay_s: float = 30.0,
        failure_backoff_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fetch = fetch
        self.name = name
        self._margin = refresh_margin_s
        self._min_validity = min_validity_s
        self._retry_delay = retry_delay_s
        self._failure_backoff = failure_backoff_s
        self._clock = clock
        self._lock = threading.Lock()  # held while fetching: single flight
        self._flag_lock = threading.Lock()  # never held across I/O
        self._token: Token | None = None
        self._next_attempt_at = 0.0
        self._refreshing = False
        self._last_failure: tuple[float, str] | None = None
        self._stats = TokenStats()

    @property
    def stats(self) -> TokenStats:
        """A snapshot of the counters."""
        return self._stats

    def peek(self) -> str | None:
        """The cached token if it needs no inline fetch (it may start a background refresh), else None."""
        token = self._token
        if token is None:
            return None
        now = self._clock()
        if now >= token.expires_on - self._min_validity:
            return None
        if now >= self._refresh_at(token) and now >= self._next_attempt_at:
            self._start_background_refresh()
        return token.value

    def unavailable(self) -> bool:
        """True while a call would fail at once: no usable token and the last fetch failed within the backoff.

        Routing skips such a deployment while its group has another (``DatabricksAuthHook`` /
        ``IdentityRoutingHook``); once the backoff has passed one request tries the identity again.
        """
        token = self._token
        now = self._clock()
        if token is not None and now < token.expires_on - self._min_validity:
            return False
        failure = self._last_failure
        return failure is not None and now - failure[0] < self._failure_backoff

    def get(self) -> str:
        """Return a valid token, fetching inline only when none is cached or it is about to expire."""
        cached = self.peek()
        if cached is not None:
            return cached
        with self._lock:
            token = self._token
            now = self._clock()
            if token is not None and now < token.expires_on - self._min_validity:
                return token.value
            if self._last_failure is not None and now - self._last_failure[0] < self._failure_backoff:
                raise TokenFetchError(f"{self.name}: last token fetch failed {now - self._last_failure[0]:.1f}s ago: "
                                      f"{self._last_failure[1]}")
            return self._fetch_locked().value

    def _refresh_at(self, token: Token) -> float:
        due = token.expires_on - self._margin
        if token.refresh_on is not None:
            due = min(due, token.refresh_on)
        return due

    def _fetch_locked(self) -> Token:
        now = self._clock()
        try:
            token = self._fetch()
        except Exception as exc:  # translated: callers see one error type naming the identity
            self._next_attempt_at = now + self._retry_delay
            reason = _describe(exc)
            self._last_failure = (now, reason)
            self._stats = replace(
                self._stats,
                failures=self._stats.failures + 1,
                last_error=reason,
                failing_since=self._stats.failing_since or now,
            )
            raise TokenFetchError(f"{self.name}: token fetch failed: {reason}") from exc
        self._token = token
        self._last_failure = None
        # A lower cache may hand back a token that is already due for refresh (a lifetime
        # shorter than the margin): then wait retry_delay instead of refreshing on every call.
        self._next_attempt_at = now + self._retry_delay if self._refresh_at(token) <= now else 0.0
        self._stats = replace(
            self._stats,
            fetches=self._stats.fetches + 1,
            last_fetch_at=now,
            expires_on=token.expires_on,
            last_error=None,
            failing_since=None,
        )
        return token

    def _start_background_refresh(self) -> None:
        with self._flag_lock:
            if self._refreshing:
                return
            self._refreshing = True
            self._next_attempt_at = self._clock() + self._retry_delay
        threading.Thread(target=self._background_refresh, name=f"token-refresh {self.name}", daemon=True).start()

    def _background_refresh(self) -> None:
        try:
            with self._lock:
                self._stats = replace(self._stats, background_refreshes=self._stats.background_refreshes + 1)
                self._fetch_locked()
        except TokenFetchError as exc:
            _LOG.warning("background token refresh failed, keeping the current token: %s", exc.detail)
        finally:
            self._refreshing = False


def _describe(exc: BaseException) -> str:
    """Exception class and first line of its message, capped: enough to act on, no response bodies."""
    message = str(getattr(exc, "detail", None) or exc).strip()
    text = message.splitlines()[0] if message else ""
    if len(text) > 300:
        text = text[:300] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
