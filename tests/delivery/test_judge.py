"""The single judge, in-process: duplicate, stale, relabel, integrity, validation and write, in that order."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.configfile import ConfigFile
from gateway.errors import ConfigIssue, ConfigRejected, SourceUnavailable
from gateway.judge import Announcement, ReleaseJudge, Verdict
from gateway.release import Release, sha256_hex
from gateway.status import ConfigStatus
from gateway.validation import ValidationOptions
from tests.delivery.fakes import ENV, INVALID, ScriptedFetch, announce, config, version


@pytest.fixture
def file(tmp_path: Path) -> ConfigFile:
    return ConfigFile(tmp_path / "config.yaml")


def make_judge(file: ConfigFile) -> tuple[ReleaseJudge, ConfigStatus, list[Release]]:
    status = ConfigStatus()
    written: list[Release] = []
    judge = ReleaseJudge(file, ValidationOptions(mode="replica", env=ENV, semantic=False), status, on_written=written.append)
    return judge, status, written


async def test_a_new_release_is_validated_and_written(file: ConfigFile) -> None:
    judge, _status, written = make_judge(file)
    a, _ = announce(1, config("one"))
    assert await judge.offer(a) is Verdict.WRITTEN
    snapshot = file.read()
    assert snapshot is not None and snapshot.release.version == version(1) and snapshot.data == config("one")
    assert file.last_good.read_bytes() == config("one")
    assert [r.version for r in written] == [version(1)] and judge.first_written.is_set()


async def test_same_version_and_bytes_is_a_duplicate_without_a_download(file: ConfigFile) -> None:
    judge, _status, written = make_judge(file)
    await judge.offer(announce(1, config("one"))[0])
    again, fetch = announce(1, config("one"))
    assert not judge.wants(again.version, again.sha256)
    assert await judge.offer(again) is Verdict.DUPLICATE
    assert fetch.calls == 0 and len(written) == 1


async def test_identical_reupload_under_a_newer_version_is_relabelled_not_reapplied(file: ConfigFile) -> None:
    """Failure 1 of the delivery-core issue: same bytes, newer publisher version -> that version, no re-validate."""
    judge, _status, written = make_judge(file)
    await judge.offer(announce(1, config("one"))[0])
    newer, fetch = announce(2, config("one"))
    assert judge.wants(newer.version, newer.sha256)
    assert await judge.offer(newer) is Verdict.RELABELLED
    snapshot = file.read()
    assert snapshot is not None and snapshot.release.version == version(2)
    assert fetch.calls == 1, "a relabel is a claim too: the source's fetch must back it"
    assert [r.version for r in written] == [version(1), version(2)]
    assert judge.written is not None and judge.written.version == version(2)


async def test_raw_polled_bytes_are_relabelled_with_the_publisher_version(file: ConfigFile) -> None:
    judge, _status, _written = make_judge(file)
    assert await judge.offer(announce(None, config("one"))[0]) is Verdict.WRITTEN
    assert judge.written is not None and judge.written.version.startswith("sha-")
    assert await judge.offer(announce(7, config("one"))[0]) is Verdict.RELABELLED
    assert judge.written.version == version(7)


async def test_older_versions_are_stale_whatever_their_bytes(file: ConfigFile) -> None:
    judge, _status, _written = make_judge(file)
    await judge.offer(announce(5, config("five"))[0])
    older, fetch = announce(4, config("four"))
    assert not judge.wants(older.version, older.sha256)
    assert await judge.offer(older) is Verdict.STALE
    assert fetch.calls == 0
    same_bytes_older, _ = announce(3, config("five"))
    assert await judge.offer(same_bytes_older) is Verdict.DUPLICATE
    assert judge.written is not None and judge.written.version == version(5)


async def test_a_transient_fetch_failure_propagates_and_nothing_is_remembered(file: ConfigFile) -> None:
    judge, _status, written = make_judge(file)
    a, fetch = announce(1, config("one"), fetch=ScriptedFetch(config("one"), failures=[SourceUnavailable("503")]))
    with pytest.raises(SourceUnavailable):
        await judge.offer(a)
    assert judge.written is None and not written and judge.wants(a.version, a.sha256)
    assert await judge.offer(a) is Verdict.WRITTEN and fetch.calls == 2


async def test_a_corrupted_transfer_is_fetched_again(file: ConfigFile) -> None:
    judge, status, _written = make_judge(file)
    a, fetch = announce(1, config("one"), fetch=ScriptedFetch(config("one"), corrupt_first=1))
    assert await judge.offer(a) is Verdict.WRITTEN
    assert fetch.calls == 2 and status.last_rejected is None


async def test_bytes_that_never_match_the_announced_sha_are_corrupt(file: ConfigFile) -> None:
    judge, status, written = make_judge(file)
    a, fetch = announce(1, config("one"), sha=sha256_hex(b"something else"))
    assert await judge.offer(a) is Verdict.CORRUPT
    assert fetch.calls == 2 and not written and file.read() is None
    assert status.last_rejected is not None and status.last_rejected.stage == "integrity"
    assert "sha256 mismatch" in status.last_rejected.errors[0].message
    assert await judge.offer(a) is Verdict.CORRUPT and fetch.calls == 2, "a known-corrupt claim is not fetched again"


async def test_an_invalid_release_is_rejected_once_and_the_file_keeps_the_last_good(file: ConfigFile) -> None:
    judge, status, _written = make_judge(file)
    await judge.offer(announce(1, config("one"))[0])
    bad, fetch = announce(2, INVALID)
    assert await judge.offer(bad) is Verdict.REJECTED
    assert status.last_rejected is not None and status.last_rejected.version == version(2)
    assert status.last_rejected.stage == "validate"
    snapshot = file.read()
    assert snapshot is not None and snapshot.release.version == version(1)
    assert not judge.wants(bad.version, bad.sha256)
    assert await judge.offer(bad) is Verdict.REJECTED and fetch.calls == 1
    assert await judge.offer(announce(3, config("three"))[0]) is Verdict.WRITTEN


async def test_a_source_that_knows_a_release_can_never_be_served_rejects_it(file: ConfigFile) -> None:
    judge, status, _written = make_judge(file)
    too_big = ConfigRejected(None, [ConfigIssue("", "releases/x.yaml is larger than the limit")])
    a, _ = announce(1, config("one"), fetch=ScriptedFetch(config("one"), failures=[too_big]))
    assert await judge.offer(a) is Verdict.REJECTED
    assert status.last_rejected is not None and status.last_rejected.stage == "fetch"


async def test_a_failed_write_propagates_and_is_retried(file: ConfigFile, monkeypatch: pytest.MonkeyPatch) -> None:
    judge, _status, _written = make_judge(file)
    real_publish = file.publish
    calls = {"n": 0}

    def full_disk(release: Release) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(28, "No space left on device")
        real_publish(release)

    monkeypatch.setattr(file, "publish", full_disk)
    a, _ = announce(1, config("one"))
    with pytest.raises(OSError):
        await judge.offer(a)
    assert judge.written is None
    assert await judge.offer(a) is Verdict.WRITTEN


async def test_unordered_sources_skip_identical_content_only(file: ConfigFile) -> None:
    judge, _status, _written = make_judge(file)
    await judge.offer(announce(9, config("nine"))[0])
    local, _ = announce(None, config("edited"))
    assert await judge.offer(local) is Verdict.WRITTEN, "a local file has no order: any new content is taken"
    assert await judge.offer(announce(None, config("edited"))[0]) is Verdict.DUPLICATE


async def test_unknown_sha_is_decided_after_the_fetch(file: ConfigFile) -> None:
    judge, _status, _written = make_judge(file)
    await judge.offer(announce(1, config("one"))[0])
    a = Announcement(version(2), None, "test", ScriptedFetch(config("one")))
    assert await judge.offer(a) is Verdict.RELABELLED


async def test_offers_are_serialised(file: ConfigFile) -> None:
    """Two sources announcing at once: exactly one write, the other sees a duplicate."""
    judge, _status, written = make_judge(file)
    results = await asyncio.gather(judge.offer(announce(1, config("one"))[0]), judge.offer(announce(1, config("one"))[0]))
    assert sorted(v.value for v in results) == ["duplicate", "written"] and len(written) == 1


async def test_a_restarted_writer_starts_from_the_file_on_disk(file: ConfigFile) -> None:
    first, _status, _written = make_judge(file)
    await first.offer(announce(4, config("four"))[0])
    second, _status2, _written2 = make_judge(file)
    assert second.written is not None and second.written.version == version(4)
    assert await second.offer(announce(3, config("three"))[0]) is Verdict.STALE
