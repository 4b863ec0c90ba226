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
"""


def test_file_is_never_torn_when_the_writer_is_killed(tmp_path: Path) -> None:
    """SIGKILL a writer of 4 MiB files 40 times at random moments: the file is always all-A or all-B."""
    target = tmp_path / "config.yaml"
    write_atomic(target, b"A" * (4 * 1024 * 1024))
    valid = {hashlib.sha256(b"A" * (4 * 1024 * 1024)).hexdigest(), hashlib.sha256(b"B" * (4 * 1024 * 1024)).hexdigest()}
    rng = random.Random(1234)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    seen = set()
    for _ in range(40):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(target)], stdout=subprocess.PIPE, env=env)
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.0, 0.08))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        assert digest in valid, "the config file was torn by a killed writer"
        seen.add(digest)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "config.yaml"]
    # A kill between mkstemp and os.replace can leave a temp file; it is never the config itself.
    assert all(name.startswith(".config.yaml.") and name.endswith(".tmp") for name in leftovers)
