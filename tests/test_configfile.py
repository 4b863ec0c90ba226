"""The local config file is replaced atomically and is never torn, even when the writer is killed."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from gateway.configfile import ConfigFile, write_atomic
from gateway.release import Release


def test_publish_then_read_names_the_release(tmp_path: Path) -> None:
    """A reader sees the bytes and the version/origin the writer published."""
    file = ConfigFile(tmp_path / "config.yaml")
    release = Release.from_bytes(b"model_list: []\n", version="0042", origin="blob:test")
    file.publish(release)
    snap = file.read()
    assert snap is not None
    assert (snap.release.version, snap.release.origin, snap.data) == ("0042", "blob:test", b"model_list: []\n")


def test_foreign_write_is_named_by_its_hash(tmp_path: Path) -> None:
    """Bytes the sidecar does not vouch for are reported as a file release named by content hash."""
    file = ConfigFile(tmp_path / "config.yaml")
    file.publish(Release.from_bytes(b"a: 1\n", version="1", origin="blob:test"))
    file.path.write_bytes(b"a: 2\n")
    snap = file.read()
    assert snap is not None
    assert snap.release.origin.startswith("file:")
    assert snap.release.version == "sha-" + hashlib.sha256(b"a: 2\n").hexdigest()[:12]


def test_no_temp_files_are_left_behind(tmp_path: Path) -> None:
    """Successive writes leave only the target file in the directory."""
    target = tmp_path / "config.yaml"
    for i in range(20):
        write_atomic(target, f"v: {i}\n".encode())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]
    assert target.read_bytes() == b"v: 19\n"


_WRITER = """
import sys
from pathlib import Path
from gateway.configfile import write_atomic
target = Path(sys.argv[1])
a = b"A" * (4 * 1024 * 1024)
b = b"B" * (4 * 1024 * 1024)
print("ready", flush=True)
i = 0
while True:
    write_atomic(target, a if i % 2 == 0 else b)
    i += 1
    print("wrote", i, flush=True)
"""


def test_file_is_never_torn_when_the_writer_is_killed(tmp_path: Path) -> None:
    """SIGKILL a writer of 4 MiB files 40 times, after 0-3 completed writes: the file is always its last or next write.

    The writer alternates A, B, A, ... and reports each completed write. After a kill with n
    writes reported, the file must hold what the n-th write wrote (the previous run's content
    for n = 0) or what the (n+1)-th wrote, if it completed but died before reporting; never
    anything else. Waiting for some writes before killing makes sure kills land mid-stream.
    """
    big_a, big_b = b"A" * (4 * 1024 * 1024), b"B" * (4 * 1024 * 1024)
    digest_a, digest_b = hashlib.sha256(big_a).hexdigest(), hashlib.sha256(big_b).hexdigest()
    target = tmp_path / "config.yaml"
    write_atomic(target, big_a)
    previous = digest_a
    rng = random.Random(1234)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    completed_writes = 0
    for _ in range(40):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(target)], stdout=subprocess.PIPE, env=env)
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        lines = [proc.stdout.readline() for _ in range(rng.randint(0, 3))]
        time.sleep(rng.uniform(0.0, 0.05))
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate(timeout=10)
        reported = [int(line.split()[1]) for line in [*lines, *rest.splitlines()] if line.startswith(b"wrote")]
        n = max(reported, default=0)

        def after(k: int, before: str = previous) -> str:
            """The file's digest after the k-th write of this run (k = 0: what the last run left)."""
            return before if k == 0 else (digest_a if k % 2 == 1 else digest_b)

        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        assert digest in {after(n), after(n + 1)}, f"torn or rolled back: {n} writes reported, file {digest[:12]}"
        completed_writes += n
        previous = digest
    assert completed_writes > 0, "no write ever completed: the kills proved nothing"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "config.yaml"]
    # A kill between mkstemp and os.replace can leave a temp file; it is never the config itself.
    assert all(name.startswith(".config.yaml.") and name.endswith(".tmp") for name in leftovers)
