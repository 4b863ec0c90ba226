"""The pod's single judge: is this release new, intact, valid, and mine to write?

Every source (local file, Blob poll, Service Bus push) only *announces* what it
has seen; this module alone decides, in this order::

    duplicate   the same bytes are already written under this (or a newer) version
    stale       an ordered version that is not newer than the written one
    integrity   fetched bytes must hash to the announced sha256 (one re-fetch first), and
                the source's fetch proves the publisher's store backs the claim
    relabel     the same bytes under a newer publisher version (an identical re-upload,
                or a raw-polled file now named by its publisher): the sidecar is
                rewritten so every worker reports the new version; not re-validated,
                and the router is not rebuilt
    validation  the replica-mode validator; a rejection is recorded, not retried
    write       atomic replace of the local file (plus ``.last-good``), then the watcher is poked

A fetch or write failure is *transient*: it propagates to the source, which
retries (the poll on its next tick, the push with backoff while holding the
message lock); nothing is remembered, so the retry decides afresh. Everything
else is a final ``Verdict``. The judge's state is private; sources may ask
``wants()`` before downloading.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from gateway.configfile import ConfigFile
from gateway.errors import ConfigRejected, IntegrityError
from gateway.release import UNORDERED_PREFIX, Release, is_newer, sha256_hex
from gateway.status import ConfigStatus
from gateway.validation import ValidationOptions, validate

log = logging.getLogger(__name__)

#: How many rejected (version, sha256) pairs are remembered so a poll does not re-fetch them.
REMEMBERED_REJECTIONS = 32


class Verdict(enum.Enum):
    """What the judge did with an announcement. Every verdict is final for that announcement."""

    WRITTEN = "written"
    RELABELLED = "relabelled"
    DUPLICATE = "duplicate"
    STALE = "stale"
    REJECTED = "rejected"
    CORRUPT = "corrupt"  # the claim is false: bytes never hash to it, or the publisher's store does not back it


class Fetch(Protocol):
    """Return the release's bytes; ``refetch=True`` after a hash mismatch (read from the durable copy).

    Raises ``SourceError`` (transient: retried by the source) or ``ConfigRejected``
    (permanent: e.g. larger than the size cap).
    """

    def __call__(self, *, refetch: bool = False) -> Awaitable[bytes]: ...


@dataclass(frozen=True)
class Announcement:
    """A source's claim: "release ``version`` with ``sha256`` exists; ``fetch()`` returns its bytes".

    ``ordered`` is False for sources without a publisher's order (a local file, the raw
    ``config.yaml`` poll): their ``version`` is None and the release is named by its hash.
    ``sha256`` is None when the source cannot know it before fetching. ``fetch`` may raise
    any ``SourceError`` (transient); it may be called twice (integrity re-fetch).
    """

    version: str | None
    sha256: str | None
    origin: str
    fetch: Fetch
    ordered: bool = True

    def __post_init__(self) -> None:
        if self.ordered and not self.version:
            raise ValueError("an ordered announcement needs a version")


@dataclass(frozen=True)
class _Written:
    release: Release
    ordered: bool


class ReleaseJudge:
    """Decides and writes; ``offer`` is serialised, ``wants`` is a read-only peek."""

    def __init__(
        self,
        file: ConfigFile,
        options: ValidationOptions,
        status: ConfigStatus,
        *,
        on_written: Callable[[Release], None] = lambda _release: None,
    ) -> None:
        self._file = file
        self._options = options
        self._status = status
        self._on_written = on_written
        self._lock = asyncio.Lock()
        self._rejected: OrderedDict[tuple[str, str], tuple[Verdict, str]] = OrderedDict()
        current = file.read()
        self._written: _Written | None = None
        if current is not None:
            self._written = _Written(current.release, ordered=not current.release.version.startswith(UNORDERED_PREFIX))
        self.first_written = asyncio.Event()

    # -- read-only view ------------------------------------------------------------------

    @property
    def written(self) -> Release | None:
        """The release in the local file, as the judge wrote (or found) it."""
        return self._written.release if self._written else None

    def wants(self, version: str | None, sha256: str | None, *, ordered: bool = True) -> bool:
        """Would ``offer`` do anything (fetch, write or relabel) for this version and sha256?"""
        return self._decide(version, sha256, ordered) in (None, Verdict.RELABELLED)

    # -- the one decision ----------------------------------------------------------------

    async def offer(self, announcement: Announcement) -> Verdict:
        """Judge ``announcement``; transient fetch/write errors propagate (nothing is remembered)."""
        async with self._lock:
            verdict = await self._judge(announcement)
        if verdict in (Verdict.WRITTEN, Verdict.DUPLICATE, Verdict.RELABELLED):
            self.first_written.set()
        return verdict

    async def _judge(self, a: Announcement) -> Verdict:
        early = self._decide(a.version, a.sha256, a.ordered)
        if early is not None and early is not Verdict.RELABELLED:
            log.debug("release %s (%s) from %s: %s", a.version, (a.sha256 or "?")[:12], a.origin, early.value)
            return early
        # A relabel is a claim too ("these bytes are now version N"): it passes the same
        # integrity step (the source's fetch proves the store backs it), then skips validation.
        try:
            data = await a.fetch()
            actual = sha256_hex(data)
            if a.sha256 is not None and actual != a.sha256:
                log.warning("release %s from %s: bytes hash to %s, announced %s; fetching again", a.version, a.origin, actual[:12], a.sha256[:12])
                data = await a.fetch(refetch=True)
                actual = sha256_hex(data)
                if actual != a.sha256:
                    return self._reject(a, a.sha256, IntegrityError(a.version, a.sha256, actual), "integrity", Verdict.CORRUPT)
        except IntegrityError as exc:  # the source proved the claim false (e.g. no such release in the store)
            return self._reject(a, a.sha256 or "", exc, "integrity", Verdict.CORRUPT)
        except ConfigRejected as exc:  # the source knows it can never be served (e.g. over the size cap)
            return self._reject(a, a.sha256 or "", exc, "fetch")
        decided = early if a.sha256 is not None else self._decide(a.version, actual, a.ordered)
        if decided is Verdict.RELABELLED:
            assert a.version is not None
            return await self._relabel(a.version, a.origin)
        if decided is not None:
            return decided

        release = Release(version=a.version, data=data, sha256=actual, origin=a.origin) if a.version else Release.from_bytes(data, origin=a.origin)
        report = await asyncio.to_thread(validate, data, self._options)
        if not report.valid:
            return self._reject(a, actual, ConfigRejected(release.version, report.errors), "validate")
        await asyncio.to_thread(self._file.publish, release)
        self._written = _Written(release, ordered=a.ordered)
        log.info("release %s (%s) from %s written to %s", release.version, actual[:12], a.origin, self._file.path)
        self._on_written(release)
        return Verdict.WRITTEN

    def _decide(self, version: str | None, sha256: str | None, ordered: bool) -> Verdict | None:
        """A verdict that needs no bytes, or None (fetch them)."""
        written = self._written
        if written is not None and sha256 is not None and sha256 == written.release.sha256:
            if ordered and version is not None and (not written.ordered or is_newer(version, written.release.version)):
                return Verdict.RELABELLED
            return Verdict.DUPLICATE
        if ordered and written is not None and written.ordered and not is_newer(version or "", written.release.version):
            return Verdict.STALE
        if sha256 is not None and (version or "", sha256) in self._rejected:
            return self._rejected[(version or "", sha256)][0]
        return None

    async def _relabel(self, version: str, origin: str) -> Verdict:
        """Same bytes, newer publisher version: rewrite the sidecar so every worker reports it."""
        assert self._written is not None
        release = Release(version=version, data=self._written.release.data, sha256=self._written.release.sha256, origin=origin)
        await asyncio.to_thread(self._file.publish, release)
        previous = self._written.release.version
        self._written = _Written(release, ordered=True)
        log.info("release %s from %s: same bytes as %s; relabelled, not re-applied", version, origin, previous)
        self._on_written(release)
        return Verdict.RELABELLED

    def _reject(
        self, a: Announcement, sha256: str, error: ConfigRejected, stage: str, verdict: Verdict = Verdict.REJECTED
    ) -> Verdict:
        """Record a release this replica will not serve; the file keeps the last good one."""
        self._rejected[(a.version or "", sha256)] = (verdict, "; ".join(str(i) for i in error.issues))
        while len(self._rejected) > REMEMBERED_REJECTIONS:
            self._rejected.popitem(last=False)
        version = a.version or f"{UNORDERED_PREFIX}{sha256[:12]}"
        self._status.record_rejected(version, sha256, error.issues, stage)
        serving = self._written.release.version if self._written else "nothing"
        log.error("%s; still serving %s", error, serving)
        return verdict

    def last_rejection(self, version: str | None, sha256: str | None) -> str | None:
        """Why this (version, sha256) was rejected, if it was (for a dead-letter reason)."""
        entry = self._rejected.get((version or "", sha256 or ""))
        return entry[1] if entry else None
