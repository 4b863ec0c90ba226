"""Rollout evaluation: the publisher's verdict on this upload, then each live replica's ACK/NACK, and the exit code."""

from __future__ import annotations

from datetime import timedelta

from gateway.errors import ConfigIssue
from gateway.operator import rollout as ro
from gateway.protocol import PublishStatus
from gateway.reporting.report import Refusal, ReplicaReport, now_utc

V1, V2, V3 = "0" * 31 + "1", "0" * 31 + "2", "0" * 31 + "3"


def _report(rid: str, version: str | None, *, refused: str | None = None, age_s: float = 0.0, state: str = "ack") -> ReplicaReport:
    beat = (now_utc() - timedelta(seconds=age_s)).isoformat()
    rejected = Refusal(refused, "b" * 64, "validate", beat, ({"path": "model_list[0].litellm_params.api_key", "message": "X is not set"},)) if refused else None
    return ReplicaReport(rid, "nack" if refused else state, version, "a" * 64, "servicebus:t/s", beat, rejected, "memory", beat, beat, 10.0)  # type: ignore[arg-type]


def _verdict(result: str, version: str = V2, etag: str = "0xNEW", errors: tuple[ConfigIssue, ...] = ()) -> PublishStatus:
    return PublishStatus(result, version, "c" * 64, etag, errors)


def test_pending_until_the_verdict_names_this_upload() -> None:
    """A verdict for another upload (another ETag) is not ours: still waiting, exit would be timeout."""
    rollout = ro.evaluate('"0xNEW"', _verdict("accepted", etag="0xOLD"), [_report("r1", V1)])
    assert rollout.publisher == "pending" and not rollout.decided and rollout.exit_code == ro.EXIT_TIMEOUT


def test_rejected_upload_exits_3_with_the_errors() -> None:
    """The publisher's rejection decides the rollout at once, with each error's YAML path."""
    rollout = ro.evaluate("0xNEW", _verdict("rejected", errors=(ConfigIssue("model_list[0].rpm", "must be >= 0"),)), [_report("r1", V1)])
    assert rollout.decided and rollout.exit_code == ro.EXIT_REJECTED
    assert rollout.errors == ("model_list[0].rpm: must be >= 0",)


def test_all_live_replicas_ack() -> None:
    """Accepted and every live replica serves the version (or a newer one): exit 0."""
    rollout = ro.evaluate("0xNEW", _verdict("accepted"), [_report("r1", V2), _report("r2", V3)])
    assert [r.state for r in rollout.replicas] == ["ack", "ack"]
    assert rollout.decided and rollout.exit_code == ro.EXIT_OK


def test_waits_for_a_replica_still_on_the_old_version() -> None:
    """A live replica that has not answered keeps the rollout open."""
    rollout = ro.evaluate("0xNEW", _verdict("accepted"), [_report("r1", V2), _report("r2", V1)])
    assert [r.state for r in rollout.replicas] == ["ack", "pending"] and not rollout.decided


def test_a_nack_for_this_version_exits_4_with_the_reason() -> None:
    """A replica that refused this version decides it as NACKed; its detail carries the path and message."""
    rollout = ro.evaluate("0xNEW", _verdict("accepted"), [_report("r1", V2), _report("r2", V1, refused=V2)])
    nack = rollout.replicas[1]
    assert nack.state == "nack" and "model_list[0].litellm_params.api_key: X is not set" in nack.detail
    assert rollout.decided and rollout.exit_code == ro.EXIT_NACK


def test_stale_and_stopped_replicas_are_not_waited_for() -> None:
    """A replica whose heartbeat stopped, or that stopped cleanly, is shown but does not hold the rollout."""
    rollout = ro.evaluate("0xNEW", _verdict("accepted"), [_report("r1", V2), _report("r2", V1, age_s=120), _report("r3", V1, state="stopped")])
    assert [r.state for r in rollout.replicas] == ["ack", "stale", "stopped"]
    assert rollout.decided and rollout.exit_code == ro.EXIT_OK
