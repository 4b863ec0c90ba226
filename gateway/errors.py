"""The gateway's exception hierarchy.

Every error a caller can act on is one of these, and each carries what it is
about (the environment variable, the release version, the YAML path), so a log
line or a health report can say exactly what to fix::

    GatewayError
     ├── SettingsError      the environment is missing or malformed (lists every problem)
     ├── ConfigRejected     a release failed validation; the last good config keeps serving
     │    └── IntegrityError  a release's bytes do not match its announced sha256
     │         └── UnbackedRelease  the publisher's store does not hold the release a notice claims
     ├── ApplyError         a valid config could not be applied to the running LiteLLM proxy
     ├── StartupError       the replica cannot start serving (no master key, LiteLLM's boot refused)
     ├── SourceError        a release source (file, Blob, Service Bus) failed; transient, retried
     │    ├── SourceUnavailable  unreachable, timed out, throttled, 5xx, or not authorised (yet)
     │    └── SourceNotFound     a blob that should be there is not (yet)
     └── MalformedNotice    a Service Bus message that can never become a release (dead-lettered)

Azure SDK errors are translated into the ``SourceError`` branch at one seam,
``gateway.cloud.errors``; errors of the other libraries underneath (litellm,
yaml) at the module that calls them, always with ``raise ... from exc``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


@dataclass(frozen=True)
class SettingProblem:
    """One environment variable that is missing or malformed."""

    variable: str
    message: str

    def __str__(self) -> str:
        return f"{self.variable}: {self.message}"


class SettingsError(GatewayError):
    """Raised at startup when the environment is invalid; names every bad variable at once."""

    def __init__(self, problems: Sequence[SettingProblem]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid environment ({len(self.problems)} problem(s)):\n{lines}")


@dataclass(frozen=True)
class ConfigIssue:
    """One thing wrong with a config, located by its YAML path (``model_list[2].litellm_params.api_base``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class ConfigRejected(GatewayError):
    """Raised when a release fails validation; carries the release version and every issue found."""

    def __init__(self, version: str | None, issues: Sequence[ConfigIssue]) -> None:
        self.version = version
        self.issues = tuple(issues)
        label = f"release {version}" if version else "config"
        first = "; ".join(str(i) for i in self.issues[:5])
        more = f" (+{len(self.issues) - 5} more)" if len(self.issues) > 5 else ""
        super().__init__(f"{label} rejected: {first}{more}")


class IntegrityError(ConfigRejected):
    """Raised when a release's bytes do not hash to the sha256 its publisher announced."""

    def __init__(self, version: str | None, expected: str, actual: str) -> None:
        super().__init__(
            version,
            [ConfigIssue("", f"sha256 mismatch: announced {expected[:12]}…, received {actual[:12]}…")],
        )


class UnbackedRelease(IntegrityError):
    """Raised when the publisher's store does not hold the release a notice claims (no such
    ``releases/<version>.yaml``, or one recorded with another sha256): a forged or mistaken notice."""

    def __init__(self, version: str | None, reason: str) -> None:
        ConfigRejected.__init__(self, version, [ConfigIssue("", f"not backed by the publisher's store: {reason}")])


class ApplyError(GatewayError):
    """Raised when a validated config cannot be applied in-process; the previous config stays live."""

    def __init__(self, version: str | None, message: str, issues: Sequence[ConfigIssue] = ()) -> None:
        self.version = version
        self.issues = tuple(issues) or (ConfigIssue("", message),)
        super().__init__(f"release {version}: apply failed: {message}" if version else f"apply failed: {message}")


class StartupError(GatewayError):
    """Raised when the replica cannot start serving a config (e.g. no master key anywhere)."""


class SourceError(GatewayError):
    """Raised when a release source cannot be read right now; callers retry with backoff."""


class SourceUnavailable(SourceError):
    """The store or broker did not answer usefully: connection, timeout, throttling, 5xx, auth."""


class SourceNotFound(SourceError):
    """A blob the source needs does not exist (yet); the next attempt may find it."""


class MalformedNotice(GatewayError):
    """A Service Bus message that is not a well-formed release notice; retrying cannot help."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (or its type when it has none), at most 300 characters."""
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def describe(exc: BaseException) -> str:
    """One short line for a log: the exception type and the first line of its message."""
    return f"{type(exc).__name__}: {first_line(exc)}"[:300]
