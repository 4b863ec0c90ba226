"""The pod's single writer: take releases from any source, validate, write the local file.

Sources call ``offer()``; duplicates and older versions are dropped here (the
version order is the publisher's), a release this replica cannot serve is
rejected and reported without touching the file, and a valid one is written
atomically and announced to the in-process watcher. The caller learns the
outcome so a Service Bus message can be completed (applied, stale, rejected)
or abandoned (a transient failure).
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable

from gateway.apply.filestore import ConfigFile
from gateway.errors import ConfigRejected
from gateway.release import UNORDERED_PREFIX, Release, is_newer
from gateway.status import ConfigStatus
from gateway.validation import ValidationOptions, validate

log = logging.getLogger(__name__)


class Outcome(enum.Enum):
    WRITTEN = "written"
    DUPLICATE = "duplicate"
    STALE = "stale"
    REJECTED = "rejected"


class SyncLoop:
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
        current = file.read()
        self.written: Release | None = current.release if current else None
        #: Whether ``written`` carries a publisher's ordered version (else it is named by its hash).
        self.written_ordered = self.written is not None and not self.written.version.startswith(UNORDERED_PREFIX)
        self.first_written = asyncio.Event()

    async def offer(self, release: Release, *, ordered: bool = True) -> Outcome:
        """Validate and write ``release`` unless it is a duplicate or older than what is written.

        ``ordered=False`` is for sources without a global order (a local file):
        only identical content is skipped.
        """
        async with self._lock:
            written = self.written
            if written is not None and written.sha256 == release.sha256:
                if ordered and not self.written_ordered:
                    # The same bytes, now named by their publisher (the raw poll got there first):
                    # re-publish so every worker reports the publisher's version from here on.
                    await asyncio.to_thread(self._file.publish, release)
                    self.written, self.written_ordered = release, True
                    self._on_written(release)
                self.first_written.set()
                return Outcome.DUPLICATE
            if ordered and self.written_ordered and written is not None and not is_newer(release.version, written.version):
                log.info("release %s is not newer than %s; ignored", release.version, written.version)
                return Outcome.STALE
            report = await asyncio.to_thread(validate, release.data, self._options)
            if not report.valid:
                self.reject(release.version, release.sha256, ConfigRejected(release.version, report.errors))
                return Outcome.REJECTED
            await asyncio.to_thread(self._file.publish, release)
            self.written = release
            self.written_ordered = ordered
            self.first_written.set()
        log.info("release %s from %s written to %s", release.version, release.origin, self._file.path)
        self._on_written(release)
        return Outcome.WRITTEN

    def reject(self, version: str, sha256: str, error: ConfigRejected) -> None:
        """Record a release this replica will not serve; the file keeps the last good one."""
        self._status.record_rejected(version, sha256, error.issues, "validate")
        log.error("%s; still serving %s", error, self.written.version if self.written else "nothing")
