"""The local config file: the contract between the one writer and the many appliers in a pod.

A replica's judge (``gateway.judge``) is the only writer of ``LITELLM_YAML_STORAGE_PATH``; every
worker process reads it. The file is replaced atomically (temp file in the same
directory, fsync, ``os.replace``, fsync of the directory), so a reader sees the
old bytes or the new bytes, never a torn mix, even if the writer is killed
mid-write. A sidecar ``<file>.release.json`` names the release (version,
sha256, origin) so workers report the same version the writer validated.
``<file>.last-good`` is a copy of the last release the writer validated, kept
apart from the live file for an operator to fall back on; only the writer
writes it, workers only read.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from gateway.release import Release, sha256_hex


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that no reader and no crash can observe a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@dataclass(frozen=True)
class ReleaseRecord:
    """What the sidecar says about the bytes next to it."""

    version: str
    sha256: str
    origin: str
    written_at: str


@dataclass(frozen=True)
class Snapshot:
    """One consistent read of the local file: its bytes and the release they belong to."""

    data: bytes
    release: Release


class ConfigFile:
    """``LITELLM_YAML_STORAGE_PATH`` plus its release sidecar and last-known-good copy."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sidecar = path.with_name(path.name + ".release.json")
        self.last_good = path.with_name(path.name + ".last-good")

    def publish(self, release: Release) -> None:
        """Write the release. The sidecar goes first: a reader that sees the new bytes also sees their name."""
        record = ReleaseRecord(
            version=release.version,
            sha256=release.sha256,
            origin=release.origin,
            written_at=datetime.now(UTC).isoformat(),
        )
        write_atomic(self.sidecar, json.dumps(asdict(record)).encode())
        write_atomic(self.path, release.data)
        write_atomic(self.last_good, release.data)

    def read(self) -> Snapshot | None:
        """Read the file; a file without a matching sidecar was written by someone else and is named by its hash."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        digest = sha256_hex(data)
        record = self._record()
        if record is not None and record.sha256 == digest:
            release = Release(version=record.version, data=data, sha256=digest, origin=record.origin)
        else:
            release = Release.from_bytes(data, origin=f"file:{self.path}")
        return Snapshot(data=data, release=release)

    def _record(self) -> ReleaseRecord | None:
        try:
            return ReleaseRecord(**json.loads(self.sidecar.read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def stat_key(self) -> tuple[int, int, int] | None:
        """A cheap change detector (mtime, size, inode); the hash decides in the end."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)
