"""Translate Azure SDK exceptions into the gateway's ``SourceError`` tree, in one place.

Callers write ``with translated("reading releases/current.json"):`` around an SDK
call and handle only gateway errors: ``SourceNotFound`` (a blob is missing) and
``SourceUnavailable`` (everything transient: connection, timeout, throttling,
5xx, an identity that cannot get a token yet). Conditional-request outcomes
(304 not modified, 412 precondition failed, 409 exists) are answers, not
failures: they pass through untouched for the caller that asked for them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ResourceNotModifiedError,
)

from gateway.errors import SourceNotFound, SourceUnavailable, describe

#: Outcomes of conditional requests: the caller asked for them and handles them itself.
CONDITIONAL = (ResourceNotModifiedError, ResourceModifiedError, ResourceExistsError)


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Raise ``SourceNotFound``/``SourceUnavailable`` (``from`` the SDK error) for failures of ``what``."""
    try:
        yield
    except CONDITIONAL:
        raise
    except ResourceNotFoundError as exc:
        raise SourceNotFound(f"{what}: not found") from exc
    except (TimeoutError, AzureError, OSError) as exc:
        raise SourceUnavailable(f"{what}: {describe(exc)}") from exc
