"""The unit that flows through the pipeline: one immutable, versioned config.

Sources produce a ``Release``; validation, the file store and the applier only
ever see this value, never an SDK message or a raw dict, so every stage can say
which version it is talking about.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

#: Versions of releases that carry no publisher order are their content hash with this prefix.
UNORDERED_PREFIX = "sha-"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def version_key(version: str) -> tuple[int, str]:
    """Order versions that are fixed-width hex (Event Grid sequencers) or plain integers.

    Longer wins first, then lexicographic order: this is numeric order for
    integers without leading zeros and for equal-width hex strings.
    """
    return (len(version), version)


def is_newer(candidate: str, current: str | None) -> bool:
    return current is None or version_key(candidate) > version_key(current)


@dataclass(frozen=True)
class Release:
    """A config as published: its bytes, their sha256, an ordered version, and where it came from."""

    version: str
    data: bytes = field(repr=False)
    sha256: str
    origin: str

    @classmethod
    def from_bytes(cls, data: bytes, *, version: str | None = None, origin: str) -> Release:
        """Build a release, hashing the bytes; without a version, the content hash names it."""
        digest = sha256_hex(data)
        return cls(version=version or f"{UNORDERED_PREFIX}{digest[:12]}", data=data, sha256=digest, origin=origin)
