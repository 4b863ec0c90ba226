"""The replica report: its blob name, ACK/NACK from the status, staleness and the JSON round trip."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.apply.litellm_proxy import ApplyResult
from gateway.errors import ConfigIssue
from gateway.release import Release
from gateway.reporting.report import ReplicaReport, from_status, now_utc, report_blob_name
from gateway.status import ConfigStatus


def _applied(version: str = "0001", sha: str = "a" * 64, origin: str = "servicebus:config-updates/replica-1") -> ApplyResult:
    return ApplyResult(version, sha, origin, 1, ("gpt-4",), 1.0, 1.0, False)


def _report(status: ConfigStatus, **kw: object) -> ReplicaReport:
    return from_status(status.as_dict(), replica_id="replica-1", started_at="t0", interval_s=10.0, host="h", pid=1, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "x" * 129, "-lead", "sp ace"])
def test_unsafe_replica_ids_are_refused(bad: str) -> None:
    """An id that is not one safe path segment never becomes a blob name (it could escape the prefix)."""
    with pytest.raises(ValueError, match="GATEWAY_REPLICA_ID"):
        report_blob_name(bad)


def test_blob_name_is_under_the_reports_prefix() -> None:
    """Reports live under status/replicas/, the only prefix the gateway identity may write."""
    assert report_blob_name("gw-0.w12") == "status/replicas/gw-0.w12.json"


def test_waiting_before_the_first_config() -> None:
    """A replica that has applied nothing yet says so."""
    report = _report(ConfigStatus())
    assert (report.state, report.version, report.rejected) == ("waiting", None, None)


def test_ack_after_an_apply_with_push_source() -> None:
    """An applied release is an ACK of its version and sha256; the origin maps to push."""
    status = ConfigStatus()
    status.record_applied(_applied())
    report = _report(status)
    assert (report.state, report.version, report.sha256, report.source) == ("ack", "0001", "a" * 64, "push")


def test_nack_when_the_newest_release_was_refused() -> None:
    """A rejection after the last apply is a NACK carrying the errors; the served version stays."""
    status = ConfigStatus()
    status.record_applied(_applied())
    status.record_rejected("0002", "b" * 64, [ConfigIssue("model_list[0].litellm_params.api_key", "ONLY_HERE is not set")], "validate")
    report = _report(status)
    assert report.state == "nack"
    assert report.version == "0001"
    assert report.rejected is not None and report.rejected.version == "0002"
    assert report.rejected.errors[0]["path"] == "model_list[0].litellm_params.api_key"


def test_a_later_apply_clears_the_nack() -> None:
    """Once a newer release is applied, the older refusal is history: ACK."""
    status = ConfigStatus()
    status.record_rejected("0002", "b" * 64, [ConfigIssue("", "bad")], "validate")
    status.record_applied(_applied("0003"))
    report = _report(status)
    assert (report.state, report.version, report.rejected) == ("ack", "0003", None)


def test_stopped_report() -> None:
    """The final report at shutdown says stopped."""
    status = ConfigStatus()
    status.record_applied(_applied())
    assert _report(status, stopped=True).state == "stopped"


def test_staleness_follows_the_reported_interval() -> None:
    """A heartbeat older than 3 intervals plus the grace is stale; a recent one is not."""
    report = _report(ConfigStatus())
    beat = now_utc()
    assert not report.is_stale(beat + timedelta(seconds=30))
    assert report.is_stale(beat + timedelta(seconds=36))


def test_json_round_trip() -> None:
    """What a replica writes, the CLI reads back unchanged."""
    status = ConfigStatus()
    status.record_applied(_applied())
    status.record_rejected("0002", "b" * 64, [ConfigIssue("x", "y")], "validate")
    report = _report(status)
    assert ReplicaReport.from_json(report.to_json()) == report


@pytest.mark.parametrize("junk", [b"", b"[]", b'{"state": "ack"}', b"not json"])
def test_junk_is_not_a_report(junk: bytes) -> None:
    """Anything else in the prefix is refused with ValueError (the CLI lists it as unreadable)."""
    with pytest.raises(ValueError, match="not a replica report"):
        ReplicaReport.from_json(junk)


def test_a_relabel_to_a_newer_version_clears_the_nack() -> None:
    """A replica that refused 0002 and kept serving 0001's bytes ACKs when those bytes come back as 0003 (a rollback)."""
    status = ConfigStatus()
    status.record_applied(_applied("0001"))
    status.record_rejected("0002", "b" * 64, [ConfigIssue("", "bad")], "validate")
    status.relabel(Release(version="0003", data=b"", sha256="a" * 64, origin="servicebus:t/s"))
    report = _report(status)
    assert (report.state, report.version, report.rejected) == ("ack", "0003", None)
