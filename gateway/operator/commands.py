"""``genai-gateway status | push | diff | history | rollback``: the operator's view of the pipeline.

Exit codes (``push`` and ``rollback --wait``; see ``gateway.operator.rollout``):
0 accepted and every live replica ACKed, 1 invalid locally (nothing uploaded),
2 settings/store/usage error, 3 rejected by the publisher, 4 a live replica NACKed,
5 timeout, 6 config.yaml changed since it was read (nothing uploaded).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from gateway.errors import GatewayError, describe
from gateway.operator import rollout as ro
from gateway.operator.diff import diff_bytes
from gateway.operator.store import META_ROLLBACK_OF, META_UPLOADED_BY, ConcurrentPush, PipelineStore, normalize_etag
from gateway.operator.target import locate
from gateway.release import is_newer, sha256_hex
from gateway.reporting.report import now_utc

DEFAULT_TIMEOUT_S = 120.0


def add_parsers(sub: Any) -> None:
    """Register the operator subcommands on the CLI's subparsers."""
    status = sub.add_parser("status", help="the current release and every replica's ACK/NACK, lag and heartbeat")
    status.add_argument("--json", action="store_true")

    push = sub.add_parser("push", help="validate, show the diff, upload config.yaml (conditional on its ETag); --wait follows the rollout")
    push.add_argument("file", type=Path)
    push.add_argument("--wait", action="store_true", help="follow the publisher's verdict and every live replica's ACK/NACK")
    push.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help=f"seconds --wait waits (default {DEFAULT_TIMEOUT_S:g})")
    push.add_argument("--replica-env", type=Path, help="also validate as a replica with this env file (KEY=VALUE lines)")

    diff = sub.add_parser("diff", help="what FILE changes against the current release (secrets masked)")
    diff.add_argument("file", type=Path)
    diff.add_argument("--json", action="store_true")

    history = sub.add_parser("history", help="the accepted releases, newest last, and the last verdict")
    history.add_argument("--json", action="store_true")

    rollback = sub.add_parser("rollback", help="re-release an earlier accepted release as a new, newest version")
    rollback.add_argument("version", nargs="?", help="the release to restore (default: the one before the current release)")
    rollback.add_argument("--wait", action="store_true")
    rollback.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S)


COMMANDS = frozenset({"status", "push", "diff", "history", "rollback"})


def run(args: argparse.Namespace) -> int:
    console = Console(highlight=False)
    try:
        store = PipelineStore(locate(os.environ))
    except GatewayError as exc:
        print(f"genai-gateway {args.command}: {exc}", file=sys.stderr)
        return ro.EXIT_ERROR
    try:
        return {"status": _status, "push": _push, "diff": _diff, "history": _history, "rollback": _rollback}[args.command](args, store, console)
    except ConcurrentPush as exc:
        print(f"genai-gateway {args.command}: {exc}", file=sys.stderr)
        return ro.EXIT_CONFLICT
    except GatewayError as exc:
        hint = f" (is `make run` running? pipeline from {store.pipeline.found_in})" if store.pipeline.found_in.endswith("stack.json") else ""
        print(f"genai-gateway {args.command}: {describe(exc)}{hint}", file=sys.stderr)
        return ro.EXIT_ERROR
    finally:
        store.close()


# -- status ---------------------------------------------------------------------------


def status_snapshot(store: PipelineStore) -> dict[str, Any]:
    """Everything ``status --json`` prints: current release, last verdict, replicas (lagging/stale flags)."""
    current = store.current()
    verdict = store.verdict()
    upload = store.upload_state()
    reports, unreadable = store.reports()
    now = now_utc()
    replicas = []
    for r in reports:
        stale = r.is_stale(now)
        lagging = bool(current and r.state != "stopped" and not stale and r.version != current.version)
        replicas.append(
            {
                "replica_id": r.replica_id,
                "state": r.state,
                "version": r.version,
                "sha256": r.sha256,
                "source": r.source,
                "origin": r.origin,
                "applied_at": r.applied_at,
                "cache_backend": r.cache_backend,
                "heartbeat_at": r.heartbeat_at,
                "heartbeat_age_s": round((now - (r.heartbeat_at and _time(r.heartbeat_at) or now)).total_seconds(), 1),
                "stale": stale,
                "lagging": lagging,
                "rejected": None
                if r.rejected is None
                else {"version": r.rejected.version, "stage": r.rejected.stage, "at": r.rejected.at, "errors": list(r.rejected.errors)},
            }
        )
    return {
        "pipeline": store.pipeline.found_in,
        "current": None
        if current is None
        else {
            **vars(current),
            # config.yaml's metadata describes this release only while config.yaml is still that upload
            "uploaded_by": upload.metadata.get(META_UPLOADED_BY, "") if upload.etag == normalize_etag(current.source_etag) else "",
        },
        "last_upload": None
        if verdict is None
        else {
            "result": verdict.result,
            "version": verdict.version,
            "sha256": verdict.sha256,
            "source_etag": verdict.source_etag,
            "at": verdict.at,
            "errors": [e.as_dict() for e in verdict.errors],
        },
        "replicas": replicas,
        "unreadable_reports": unreadable,
    }


def _time(value: str) -> Any:
    from gateway.reporting.report import parse_time

    return parse_time(value)


def _status(args: argparse.Namespace, store: PipelineStore, console: Console) -> int:
    snap = status_snapshot(store)
    if args.json:
        print(json.dumps(snap, indent=2))
        return ro.EXIT_OK
    cur = snap["current"]
    if cur is None:
        console.print("current release: none yet (no upload accepted)")
    else:
        who = f", uploaded by {cur['uploaded_by']}" if cur["uploaded_by"] else ""
        console.print(f"current release: [bold]{cur['version']}[/]  sha256 {cur['sha256'][:12]}  created {cur['created_at']}  source etag {cur['source_etag']}{who}")
    last = snap["last_upload"]
    if last is not None:
        style = "green" if last["result"] == "accepted" else "red"
        console.print(f"last upload:     [{style}]{last['result']}[/] version {last['version']} at {last['at']}")
        for e in last["errors"]:
            console.print(Text(f"  error: {e['path'] + ': ' if e['path'] else ''}{e['message']}", style="red"))
    table = Table("replica", "answer", "version", "sha256", "source", "cache", "heartbeat", box=None, pad_edge=False)
    notes_by_replica: list[tuple[str, list[str]]] = []
    for r in snap["replicas"]:
        answer = {"ack": "ACK", "nack": "NACK", "waiting": "WAITING", "stopped": "STOPPED"}[r["state"]]
        notes = []
        if r["stale"]:
            notes.append(f"STALE: no heartbeat for {r['heartbeat_age_s']:.0f}s")
        if r["lagging"]:
            notes.append("LAGGING behind the current release")
        if r["rejected"]:
            errors = "; ".join(f"{e['path']}: {e['message']}" if e.get("path") else e.get("message", "") for e in r["rejected"]["errors"])
            notes.append(f"refused {r['rejected']['version']} ({r['rejected']['stage']}): {errors}")
        style = "red" if r["state"] == "nack" else "dim" if r["stale"] or r["state"] == "stopped" else "green"
        table.add_row(
            r["replica_id"], Text(answer, style=style), Text(r["version"] or "-", no_wrap=True), (r["sha256"] or "-")[:12],
            r["source"] or "-", r["cache_backend"] or "-", f"{r['heartbeat_age_s']:.0f}s ago",
        )  # fmt: skip
        if notes:
            notes_by_replica.append((r["replica_id"], notes))
    console.print(f"replicas ({len(snap['replicas'])}):")
    console.print(table)
    for replica_id, notes in notes_by_replica:
        for note in notes:
            console.print(Text(f"  {replica_id}: {note}", style="yellow"))
    for name in snap["unreadable_reports"]:
        console.print(f"[yellow]unreadable report blob: {name}[/]")
    return ro.EXIT_OK


# -- push / diff ----------------------------------------------------------------------


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _Usage(f"cannot read {path}: {exc.strerror}") from exc


class _Usage(GatewayError):
    """A file the command was given cannot be used."""


def parse_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (``export`` and quotes allowed, ``#`` comments); ``_Usage`` names the bad line."""
    env: dict[str, str] = {}
    for number, raw in enumerate(_read(path).decode("utf-8", "replace").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if not sep or not key.strip().replace("_", "a").isalnum():
            raise _Usage(f"{path}:{number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def validate_locally(path: Path, data: bytes, replica_env: Path | None, console: Console) -> bool:
    """Publisher mode (as the Function will), then replica mode against ``replica_env``; print every error."""
    from gateway.validation import ValidationOptions, validate

    allowed = os.environ.get("GATEWAY_ALLOWED_ENV")
    literal = os.environ.get("GATEWAY_ALLOW_LITERAL_SECRETS", "").lower() in ("1", "true", "yes", "on")
    checks = [
        (
            "publisher",
            ValidationOptions(
                mode="publisher",
                env=dict(os.environ),
                allowed_env=frozenset(n.strip() for n in allowed.split(",") if n.strip()) if allowed else None,
                allow_literal_secrets=literal,
            ),
        )
    ]
    if replica_env is not None:
        env = parse_env_file(replica_env)
        checks.append(
            (
                f"replica ({replica_env})",
                ValidationOptions(mode="replica", env=env, allow_literal_secrets=literal, require_master_key="LITELLM_MASTER_KEY" not in env),
            )
        )
    ok = True
    for name, options in checks:
        report = validate(data, options)
        for issue in report.errors:
            console.print(Text(f"{path}: error ({name}): {issue}", style="red"))
        if report.valid:
            console.print(f"{path}: valid in {name} mode")
        ok = ok and report.valid
    return ok


def _current_bytes(store: PipelineStore) -> tuple[str | None, bytes | None]:
    current = store.current()
    if current is None:
        return None, None
    return current.version, store.release(current.version)


def _print_diff(console: Console, against: str | None, before: bytes | None, data: bytes) -> None:
    console.print(f"changes against {'release ' + against if against else 'nothing (first release)'}:")
    for line in diff_bytes(before, data).lines():
        console.print(Text(f"  {line}"))


def _diff(args: argparse.Namespace, store: PipelineStore, console: Console) -> int:
    data = _read(args.file)
    version, before = _current_bytes(store)
    if args.json:
        print(json.dumps({"against": version, **diff_bytes(before, data).as_dict()}, indent=2))
    else:
        _print_diff(console, version, before, data)
    return ro.EXIT_OK


def operator_name() -> str:
    """Who is uploading, for the blob metadata (``GATEWAY_OPERATOR``, else user@host); ASCII only."""
    name = os.environ.get("GATEWAY_OPERATOR") or f"{getpass.getuser()}@{socket.gethostname()}"
    return name.encode("ascii", "replace").decode()[:256]


def _push(args: argparse.Namespace, store: PipelineStore, console: Console) -> int:
    data = _read(args.file)
    if not validate_locally(args.file, data, args.replica_env, console):
        console.print(f"[red]{args.file}: not uploaded[/]")
        return ro.EXIT_INVALID
    upload = store.upload_state()  # the ETag the upload is conditional on: read before the diff is shown
    version, before = _current_bytes(store)
    _print_diff(console, version, before, data)
    etag = store.upload_config(data, expected_etag=upload.etag, metadata={META_UPLOADED_BY: operator_name()})
    console.print(f"uploaded {args.file} as {store.pipeline.config_blob} (etag {etag}, sha256 {sha256_hex(data)[:12]})")
    if not args.wait:
        console.print("follow it with: genai-gateway status")
        return ro.EXIT_OK
    return _follow(store, etag, args.timeout, console, what=f"push {args.file}")


def _follow(store: PipelineStore, etag: str, timeout: float, console: Console, *, what: str) -> int:
    result = ro.follow(store, etag, timeout_s=timeout, console=console, what=what)
    console.print()
    code = result.exit_code
    summary = {
        ro.EXIT_OK: f"done: version {result.version} applied by all {len(result.live)} live replica(s)",
        ro.EXIT_REJECTED: "rejected by the publisher: the fleet keeps serving the current release",
        ro.EXIT_NACK: f"version {result.version}: NACKed by "
        + ", ".join(r.replica_id for r in result.live if r.state == "nack")
        + " (they keep serving their last good config)",
        ro.EXIT_TIMEOUT: f"timed out after {timeout:g}s"
        + ("" if result.publisher != "pending" else ": no verdict from the publisher (is the Function running? a newer upload may have superseded this one)"),
    }[code]
    console.print(Text(summary, style="green" if code == ro.EXIT_OK else "red"))
    return code


# -- history / rollback ---------------------------------------------------------------


def _history(args: argparse.Namespace, store: PipelineStore, console: Console) -> int:
    releases = store.releases()
    current = store.current()
    verdict = store.verdict()
    rows: list[dict[str, Any]] = [
        {
            "version": e.version,
            "created_at": e.created_at.isoformat() if e.created_at else None,
            "sha256": e.sha256,
            "source_etag": e.source_etag,
            "verdict": "accepted",
            "current": bool(current and current.version == e.version),
            "uploaded_by": e.uploaded_by,
            "rollback_of": e.rollback_of,
        }
        for e in releases
    ]
    if verdict is not None and verdict.result == "rejected":
        rows.append(
            {
                "version": verdict.version, "created_at": verdict.at, "sha256": verdict.sha256, "source_etag": verdict.source_etag,
                "verdict": "rejected", "current": False, "uploaded_by": "", "rollback_of": "",
                "errors": [e.as_dict() for e in verdict.errors],
            }
        )  # fmt: skip
    if args.json:
        print(json.dumps(rows, indent=2))
        return ro.EXIT_OK
    table = Table("version", "created", "sha256", "source etag", "verdict", "uploaded by", box=None, pad_edge=False)
    table.columns[0].no_wrap = True
    for row in rows:
        verdict_text = str(row["verdict"]) + (" (current)" if row["current"] else "") + (f", rollback of {row['rollback_of']}" if row["rollback_of"] else "")
        style = "red" if row["verdict"] == "rejected" else "bold green" if row["current"] else ""
        table.add_row(row["version"], str(row["created_at"] or "-"), (row["sha256"] or "-")[:12], row["source_etag"] or "-", Text(verdict_text, style=style), row["uploaded_by"] or "-")
    console.print(table)
    return ro.EXIT_OK


def _rollback(args: argparse.Namespace, store: PipelineStore, console: Console) -> int:
    releases = store.releases()
    current = store.current()
    if current is None or not releases:
        raise _Usage("nothing to roll back: no release has been accepted yet")
    if args.version:
        target = next((e for e in releases if e.version == args.version), None)
        if target is None:
            raise _Usage(f"no accepted release {args.version} (see genai-gateway history)")
    else:  # the newest release older than the current one with other content
        older = [e for e in releases if is_newer(current.version, e.version) and e.sha256 != current.sha256]
        if not older:
            raise _Usage(f"no earlier release with other content than the current {current.version}")
        target = older[-1]
    data = store.release(target.version)
    if data is None or (target.sha256 and sha256_hex(data) != target.sha256):
        raise _Usage(f"release {target.version} is missing or does not hash to its recorded sha256")
    upload = store.upload_state()
    console.print(f"rolling back to release {target.version} (sha256 {target.sha256[:12]}, created {target.created_at}):")
    _print_diff(console, current.version, store.release(current.version), data)
    # Through the same ordered path as any upload: the publisher gives it a new, newest version,
    # so a later upload is newer than the rollback, and no one but the publisher writes releases/.
    etag = store.upload_config(data, expected_etag=upload.etag, metadata={META_UPLOADED_BY: operator_name(), META_ROLLBACK_OF: target.version})
    console.print(f"uploaded release {target.version}'s config as {store.pipeline.config_blob} (etag {etag})")
    if not args.wait:
        return ro.EXIT_OK
    return _follow(store, etag, args.timeout, console, what=f"rollback to {target.version}")
