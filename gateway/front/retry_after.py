"""How long a throttled client should wait, in the headers the OpenAI SDKs read.

Why: the SDKs honour ``retry-after-ms`` (milliseconds) and ``retry-after`` (seconds or
an HTTP date) on a 429/503 and otherwise back off 0.5-8 s on their own. LiteLLM passes
Azure's wait only as ``llm_provider-retry-after``, which no SDK reads, so clients come
back too early and make the throttling worse. The gateway sends both standard headers
on every 429 and 503, with the upstream's wait or, when every deployment is cooling
down, the time until the first one returns.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime

THROTTLE_STATUSES = frozenset({429, 503})
#: Headers that carry a wait, best first: the upstream's own (as LiteLLM forwards them), then the standard ones.
_MS_HEADERS = ("llm_provider-retry-after-ms", "retry-after-ms")
_S_HEADERS = ("llm_provider-retry-after", "retry-after")
_REPLACED = frozenset({b"retry-after", b"retry-after-ms"})


def parse_seconds(value: str, *, now: float | None = None) -> float | None:
    """Seconds in a ``retry-after`` value (a number, or an HTTP date); None when unreadable or negative."""
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
        seconds = max(seconds, 0.0)
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        return None
    return seconds


def upstream_wait(headers: Mapping[str, str]) -> float | None:
    """The upstream's wait in seconds, from the headers of the response LiteLLM built (lower-case names)."""
    for name in _MS_HEADERS:
        if name in headers and (ms := parse_seconds(headers[name])) is not None:
            return ms / 1000
    for name in _S_HEADERS:
        if name in headers and (seconds := parse_seconds(headers[name])) is not None:
            return seconds
    return None


def wait_headers(seconds: float) -> list[tuple[bytes, bytes]]:
    """``retry-after`` (whole seconds, rounded up) and ``retry-after-ms`` for a wait."""
    seconds = max(seconds, 0.0)
    return [
        (b"retry-after", str(math.ceil(seconds)).encode()),
        (b"retry-after-ms", str(math.ceil(seconds * 1000)).encode()),
    ]


def with_wait(headers: Iterable[tuple[bytes, bytes]], seconds: float) -> list[tuple[bytes, bytes]]:
    """``headers`` with any ``retry-after``/``retry-after-ms`` replaced by ``seconds``."""
    return [(k, v) for k, v in headers if k.lower() not in _REPLACED] + wait_headers(seconds)
