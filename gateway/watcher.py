"""Every worker's half of "one writer, many appliers": watch the local file, apply what appears.

The watcher polls a cheap ``stat`` (mtime, size, inode) and only hashes and
parses when it changes; the in-process writer can also ``poke()`` it so a push
is applied at once instead of at the next tick. A file that is not valid here
(someone edited it by hand, or an env var is missing on this replica) is
rejected and reported, and the last applied config keeps serving. A failed
*apply* of a valid file (an identity that cannot get a token yet, a transient
LiteLLM error) is retried with the gateway's backoff until it succeeds or the
file changes; a validation failure is not (the same bytes fail the same way).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.apply.litellm_proxy import ApplyResult, ProxyApplier
from gateway.configfile import ConfigFile, Snapshot
from gateway.errors import ApplyError, ConfigIssue
from gateway.release import Release
from gateway.retry import delay_for
from gateway.status import ConfigStatus
from gateway.validation import ValidationOptions, validate

log = logging.getLogger(__name__)

#: Called once, before the first apply, with the config about to be applied (starts LiteLLM's lifespan).
BeforeFirstApply = Callable[[dict[str, Any]], Awaitable[None]]


class FileWatcher:
    def __init__(
        self,
        file: ConfigFile,
        applier: ProxyApplier,
        status: ConfigStatus,
        options: ValidationOptions,
        *,
        interval: float = 0.5,
        before_first_apply: BeforeFirstApply | None = None,
    ) -> None:
        self._file = file
        self._applier = applier
        self._status = status
        self._options = options
        self._interval = interval
        self._before_first_apply = before_first_apply
        self._poke = asyncio.Event()
        self._seen_stat: tuple[int, int, int] | None = None
        self._seen_sha: str | None = None
        self._apply_failures = 0
        self._failed_stat: tuple[int, int, int] | None = None
        self._retry_at = 0.0

    def poke(self) -> None:
        """Look at the file now (the in-process writer just replaced it)."""
        self._poke.set()

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:
                log.exception("config watcher: unexpected error; keeping the current config")
            try:
                await asyncio.wait_for(self._poke.wait(), timeout=self._interval)
            except TimeoutError:
                pass
            self._poke.clear()

    async def check(self) -> ApplyResult | None:
        stat = self._file.stat_key()
        if stat is None or stat == self._seen_stat:
            return None
        if self._apply_failures and stat == self._failed_stat and time.monotonic() < self._retry_at:
            return None
        self._seen_stat = stat
        snapshot = self._file.read()
        if snapshot is None:
            return None
        if snapshot.release.sha256 == self._seen_sha:
            self._status.relabel(snapshot.release)
            return None
        self._seen_sha = snapshot.release.sha256
        return await self._apply(snapshot)

    async def _apply(self, snapshot: Snapshot) -> ApplyResult | None:
        release = snapshot.release
        # The in-pod writer already ran LiteLLM's checks on bytes it named; a file from
        # anyone else gets the full treatment. The apply builds its Router strictly anyway.
        vouched = not release.origin.startswith("file:")
        options = dataclasses.replace(self._options, semantic=not vouched)
        report = await asyncio.to_thread(validate, snapshot.data, options)
        if not report.valid or report.config is None:
            self._reject(release, report.errors, "validate")
            return None
        if not self._status.ready and self._before_first_apply is not None:
            try:
                await self._before_first_apply(report.config)
            except Exception as exc:  # noqa: BLE001 - e.g. LiteLLM's boot check refusing the master key
                self._reject(release, [ConfigIssue("", f"the LiteLLM proxy did not start: {exc}")], "startup")
                return None
        try:
            result = await self._applier.apply(release, report.config)
        except ApplyError as exc:
            self._reject(release, exc.issues, "apply")
            self._schedule_retry()
            return None
        self._apply_failures = 0
        self._status.record_applied(result)
        return result

    def _schedule_retry(self) -> None:
        """Forget the file so the next check applies it again, after a backoff delay."""
        self._apply_failures += 1
        self._failed_stat, self._seen_stat, self._seen_sha = self._seen_stat, None, None
        delay = delay_for(self._apply_failures, cap=60.0)
        self._retry_at = time.monotonic() + delay
        log.warning("apply failed %d time(s); retrying in %.1fs unless the file changes", self._apply_failures, delay)

    def _reject(self, release: Release, errors: tuple[ConfigIssue, ...] | list[ConfigIssue], stage: str) -> None:
        self._status.record_rejected(release.version, release.sha256, errors, stage)
        current = self._status.applied.version if self._status.applied else "none"
        log.error(
            "release %s rejected at %s; still serving %s: %s",
            release.version,
            stage,
            current,
            "; ".join(str(e) for e in errors),
        )
