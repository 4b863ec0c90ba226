"""The wire contract between the publisher (Azure Function) and the replicas.

Everything both sides must agree on lives here and only here: blob names in
the config container, the ``releases/current.json`` pointer, the status blob a
rejection leaves, and the Service Bus message (body, application properties,
message id). Plain values and pure functions; no SDK calls.

Layout of the container (default ``litellm-config``)::

    config.yaml                    what the operator uploads
    releases/<version>.yaml        every accepted release, immutable
    releases/current.json          pointer to the newest accepted release (CAS on its ETag)
    status/config.yaml.json        the verdict on the newest upload (accepted or rejected + errors)

Versions are the Event Grid ``data.sequencer`` of the upload (fixed-width hex,
ordered per blob), so "newer" means "uploaded later", whatever order events
and messages arrive in.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.errors import ConfigIssue

RELEASES_PREFIX = "releases/"
CURRENT_BLOB = "releases/current.json"
STATUS_PREFIX = "status/"
#: Service Bus Standard allows 256 KiB per message; leave room for properties and AMQP framing.
INLINE_BODY_LIMIT = 192 * 1024

PROP_VERSION = "version"
PROP_SHA256 = "sha256"
PROP_RELEASE_BLOB = "release_blob"
PROP_SOURCE_ETAG = "source_etag"
PROP_INLINE = "inline"
CONTENT_TYPE_YAML = "application/yaml"
#: A release version is exactly what the publisher mints: the upload's Event Grid ``data.sequencer``,
#: a fixed-width hex string (Azure compares sequencers as plain strings). Anything else is not a release.
VERSION_PATTERN = re.compile(r"^[0-9A-Fa-f]{16,64}$")
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
#: Blob metadata key under which the publisher records a release blob's sha256.
SHA256_METADATA = "sha256"


def check_release_identity(version: str, sha256: str, release_blob: str | None = None) -> None:
    """Raise ``ValueError`` naming the field unless these are what the publisher would have written."""
    if not VERSION_PATTERN.match(version):
        raise ValueError(f"version {version[:80]!r} is not a publisher version (16-64 hex digits)")
    if not SHA256_PATTERN.match(sha256):
        raise ValueError(f"sha256 {sha256[:80]!r} is not 64 lowercase hex digits")
    if release_blob is not None and release_blob != release_blob_name(version):
        raise ValueError(f"release blob {release_blob[:120]!r} is not {release_blob_name(version)!r}, the one version {version} names")


def release_blob_name(version: str) -> str:
    return f"{RELEASES_PREFIX}{version}.yaml"


def status_blob_name(config_blob: str) -> str:
    return f"{STATUS_PREFIX}{config_blob}.json"


def message_id(version: str, sha256: str) -> str:
    """Derived from version and content: a redelivered publish is a duplicate Service Bus can drop,
    while re-uploading an older config (A -> B -> A) is a new version and is not dropped."""
    return f"{version}-{sha256[:32]}"


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(frozen=True)
class CurrentPointer:
    """``releases/current.json``: the newest accepted release."""

    version: str
    sha256: str
    blob: str
    source_etag: str
    created_at: str

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2).encode()

    @classmethod
    def from_json(cls, data: bytes) -> CurrentPointer:
        body = json.loads(data)
        pointer = cls(**{k: str(body[k]) for k in ("version", "sha256", "blob", "source_etag", "created_at")})
        check_release_identity(pointer.version, pointer.sha256, pointer.blob)
        return pointer


@dataclass(frozen=True)
class PublishStatus:
    """``status/<config blob>.json``: what the publisher decided about an upload, for the operator."""

    result: str  # "accepted" | "rejected"
    version: str
    sha256: str
    source_etag: str
    errors: tuple[ConfigIssue, ...] = ()
    warnings: tuple[ConfigIssue, ...] = ()
    at: str = ""

    def to_json(self) -> bytes:
        body: dict[str, Any] = {
            "result": self.result,
            "version": self.version,
            "sha256": self.sha256,
            "source_etag": self.source_etag,
            "errors": [e.as_dict() for e in self.errors],
            "warnings": [w.as_dict() for w in self.warnings],
            "at": self.at or _now(),
        }
        return json.dumps(body, indent=2).encode()

    @classmethod
    def from_json(cls, data: bytes) -> PublishStatus:
        body = json.loads(data)
        return cls(
            result=body["result"],
            version=body["version"],
            sha256=body["sha256"],
            source_etag=body["source_etag"],
            errors=tuple(ConfigIssue(e["path"], e["message"]) for e in body.get("errors", [])),
            warnings=tuple(ConfigIssue(e["path"], e["message"]) for e in body.get("warnings", [])),
            at=body.get("at", ""),
        )


@dataclass(frozen=True)
class ReleaseNotice:
    """What a Service Bus message says: a release's identity, and its bytes when small enough."""

    version: str
    sha256: str
    release_blob: str
    source_etag: str
    body: bytes | None

    def application_properties(self) -> dict[str, str | bool]:
        return {
            PROP_VERSION: self.version,
            PROP_SHA256: self.sha256,
            PROP_RELEASE_BLOB: self.release_blob,
            PROP_SOURCE_ETAG: self.source_etag,
            PROP_INLINE: self.body is not None,
        }

    @classmethod
    def from_message(cls, properties: dict[Any, Any], body: bytes) -> ReleaseNotice:
        """Parse received application properties (keys may arrive as bytes) and body."""
        props = {(k.decode() if isinstance(k, bytes) else str(k)): v for k, v in (properties or {}).items()}

        def text(key: str) -> str:
            value = props.get(key)
            if value is None:
                raise ValueError(f"message has no {key!r} application property")
            return value.decode() if isinstance(value, bytes) else str(value)

        inline = props.get(PROP_INLINE)
        notice = cls(
            version=text(PROP_VERSION),
            sha256=text(PROP_SHA256),
            release_blob=text(PROP_RELEASE_BLOB),
            source_etag=text(PROP_SOURCE_ETAG) if PROP_SOURCE_ETAG in props else "",
            body=body if inline in (True, "true", "True", b"true") else None,
        )
        check_release_identity(notice.version, notice.sha256, notice.release_blob)
        return notice
