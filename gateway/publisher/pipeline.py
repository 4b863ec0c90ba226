"""One BlobCreated event -> one verdict: the publisher's whole judgement, with no Functions dependency.

Steps, in this order (each one safe to repeat)::

    0. status/<blob>.json already holds the verdict for this version?   -> "duplicate" (nothing done)
    1. download exactly the event's upload (If-Match eTag); 412/404     -> "superseded" (nothing written)
       (bigger than the validator's max_bytes: not read into memory    -> "rejected")
    2. validate in publisher mode
       invalid: write the status blob (never over a newer verdict)      -> "rejected" (nothing published)
    3. write releases/<version>.yaml (create-once, same bytes is fine)
    4. compare-and-swap releases/current.json
       a newer version is already current                               -> "stale" (release blob kept,
                                                                            nothing published, status untouched)
    5. publish the notice (message id = version + sha256)
    6. write the status blob "accepted"                                 -> "published"

Semantics under at-least-once delivery:

* **duplicate**: the status blob is written last, so a verdict for this
  version and eTag means every earlier step finished; the redelivery does
  nothing and publishes nothing.
* **redelivery after a partial run** (crash between 4 and 6, or two deliveries
  of one event racing): ``current.json`` already names this exact release, so
  steps 5-6 run again and the message is republished with the *same* message
  id. A topic with duplicate detection drops it; a replica ignores it anyway
  (version <= applied). Outcome "published".
* **stale**: an older upload whose download won the race against a newer one
  (both read before either finished) never moves ``current.json`` backwards and
  is not announced: announcing it could make a replica that has not yet seen the
  newer release apply an older config first. Its release blob stays (immutable,
  harmless, useful for audit and rollback).
* **superseded**: an event whose upload was already replaced (the common case of
  out-of-order or late delivery) writes nothing; the newer upload's own event
  publishes the newer config.

Storage and Service Bus errors propagate: they are transient, the Function
raises, and Event Grid redelivers the event.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from gateway.errors import ConfigIssue
from gateway.protocol import CurrentPointer, PublishStatus
from gateway.publisher.bus import MessageSender, build_notice, publish
from gateway.publisher.events import BlobCreated
from gateway.publisher.store import ReleaseStore, Superseded, TooLarge
from gateway.validation import ValidationOptions, validate
from gateway.validation.loader import LoadError

_LOG = logging.getLogger(__name__)

Result = Literal["published", "rejected", "superseded", "stale", "duplicate", "ignored"]


@dataclass(frozen=True)
class PublishOutcome:
    """What the publisher did with one event."""

    result: Result
    version: str | None
    errors: tuple[ConfigIssue, ...] = ()
    warnings: tuple[ConfigIssue, ...] = ()
    sha256: str | None = None
    release_blob: str | None = None
    message_id: str | None = None
    inline: bool | None = None
    detail: str = ""

    def describe(self) -> str:
        """One log line: result, version, and what to look at."""
        parts = [f"{self.result}", f"version={self.version}"]
        if self.sha256:
            parts.append(f"sha256={self.sha256[:12]}")
        if self.message_id:
            parts.append(f"message_id={self.message_id} inline={self.inline}")
        if self.errors:
            shown = "; ".join(str(e) for e in self.errors[:5])
            more = f" (+{len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
            parts.append(f"errors: {shown}{more}")
        if self.detail:
            parts.append(self.detail)
        return " ".join(parts)


def handle_blob_created(
    event: BlobCreated,
    *,
    store: ReleaseStore,
    sender: MessageSender,
    options: ValidationOptions,
) -> PublishOutcome:
    """Validate the upload an event names and, if it is good and newest, release and announce it."""
    if options.mode != "publisher":
        raise ValueError("the publisher validates in 'publisher' mode (it cannot see the replicas' environment)")
    version = event.sequencer

    status = store.read_status(event.blob_name)
    if status is not None and status.version == version and status.source_etag == event.etag:
        return PublishOutcome(
            "duplicate",
            version,
            errors=status.errors,
            sha256=status.sha256,
            detail=f"already {status.result} at {status.at}",
        )

    # Never read an oversized upload into memory (the validator would reject it anyway).
    if event.content_length is not None and event.content_length > options.max_bytes:
        return _reject(store, event, "", (ConfigIssue("", str(TooLarge(event.content_length, options.max_bytes))),))
    try:
        data = store.download(event.blob_name, event.etag, max_bytes=options.max_bytes)
    except Superseded as exc:
        return PublishOutcome("superseded", version, detail=str(exc))
    except TooLarge as exc:
        return _reject(store, event, "", (ConfigIssue("", str(exc)),))
    except LoadError as exc:  # Content-Encoding over the cap once decoded, unsupported or corrupt
        return _reject(store, event, "", (exc.issue,))

    report = validate(data, options)
    if not report.valid:
        return _reject(store, event, report.sha256, report.errors, report.warnings)

    release_blob = store.write_release(
        version, data, source_etag=event.etag, metadata=store.upload_metadata(event.blob_name, event.etag)
    )
    pointer = CurrentPointer(
        version=version, sha256=report.sha256, blob=release_blob, source_etag=event.etag, created_at=_now()
    )
    detail = ""
    if not store.advance_current(pointer):
        current, _ = store.read_current()
        if current is None or current.version != version:
            return PublishOutcome(
                "stale",
                version,
                warnings=report.warnings,
                sha256=report.sha256,
                release_blob=release_blob,
                detail=f"current.json already names newer version {current.version if current else '?'}; not announced",
            )
        if current.sha256 != report.sha256:  # one blob name, one sequencer: cannot happen unless hand-edited
            _LOG.error("current.json names version %s with sha256 %s, this upload hashes to %s", version, current.sha256, report.sha256)
            return PublishOutcome("stale", version, sha256=report.sha256, detail="current.json names this version with other content")
        detail = "republished: current.json already named this release (redelivery after a partial run)"

    notice = build_notice(
        version=version, sha256=report.sha256, release_blob=release_blob, source_etag=event.etag, data=data
    )
    message_id = publish(sender, notice)
    store.write_status(
        PublishStatus(
            result="accepted",
            version=version,
            sha256=report.sha256,
            source_etag=event.etag,
            warnings=report.warnings,
            at=_now(),
        ),
        event.blob_name,
    )
    return PublishOutcome(
        "published",
        version,
        warnings=report.warnings,
        sha256=report.sha256,
        release_blob=release_blob,
        message_id=message_id,
        inline=notice.body is not None,
        detail=detail,
    )


def _reject(
    store: ReleaseStore,
    event: BlobCreated,
    sha256: str,
    errors: tuple[ConfigIssue, ...],
    warnings: tuple[ConfigIssue, ...] = (),
) -> PublishOutcome:
    """Record a rejection in the status blob (unless a newer upload's verdict is there); publish nothing."""
    recorded = store.write_status(
        PublishStatus(
            result="rejected",
            version=event.sequencer,
            sha256=sha256,
            source_etag=event.etag,
            errors=errors,
            warnings=warnings,
            at=_now(),
        ),
        event.blob_name,
    )
    detail = "" if recorded else "status not written: it already holds a newer upload's verdict"
    return PublishOutcome("rejected", event.sequencer, errors, warnings, sha256 or None, detail=detail)


def _now() -> str:
    return datetime.now(UTC).isoformat()


__all__ = ["PublishOutcome", "Result", "handle_blob_created"]
