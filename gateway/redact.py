"""Redacted previews of values, for every text that leaves a replica (errors, health bodies).

Why: a rejection message or a health field that echoes a value can carry a secret
(``expected os.environ/NAME, got 'sk-live-…'``, an ``api_base`` with a password, a
LiteLLM exception quoting a key). Error texts show ``preview(value)`` -- a few
leading characters and the length -- never the whole value of a field that could
hold a secret; ``scrub`` enforces it after the fact on any text, both for the
values a caller knows to be secret and for anything shaped like one
(``gateway.secret_shapes``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gateway.secret_shapes import secret_spans

#: Characters of a value a preview keeps; values shorter than three times this keep none.
PREVIEW_CHARS = 4
#: Known values shorter than this are not searched for in text (they would match everywhere).
MIN_SECRET_LENGTH = 8


def preview(value: object) -> str:
    """``'sk-l…' (51 chars)``: enough to recognise a value, never enough to use it."""
    text = str(value)
    head = text[:PREVIEW_CHARS] if len(text) >= 3 * PREVIEW_CHARS else ""
    return f"'{head}…' ({len(text)} chars)"


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every known secret and every secret-shaped part replaced by its preview."""
    for secret in sorted({s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True):
        text = text.replace(secret, preview(secret))
    spans = secret_spans(text)
    if not spans:
        return text
    out: list[str] = []
    position = 0
    for start, end in spans:
        if start < position:
            continue
        out += [text[position:start], preview(text[start:end])]
        position = end
    out.append(text[position:])
    return "".join(out)


def scrub_tree(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of a JSON-like value with ``scrub`` applied to every string in it (keys included)."""
    known = tuple(secrets)
    if isinstance(value, str):
        return scrub(value, known)
    if isinstance(value, dict):
        return {scrub_tree(k, known): scrub_tree(v, known) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_tree(v, known) for v in value]
    return value
