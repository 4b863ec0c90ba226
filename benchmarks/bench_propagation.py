"""Propagation latency: from `upload_blob` returning to every replica having applied the config.

Runs the local pipeline (DevStack: Azurite, Event Grid deliverer, the Function's
code, the Service Bus emulator, N `genai-gateway serve` replicas) and uploads
configs one after another. Each upload is timed along the path, all on this
machine's clock:

  upload returned -> Function invoked            event delivery (the deliverer polls every 0.2 s)
  Function invoked -> message sent               function (download, validate, release, CAS, publish)
  message sent -> last replica wrote the file    bus + replica validation + atomic write
  file written -> last replica applied           apply (the watcher's Router build and swap)

Then the same with push disabled (no Service Bus; replicas poll releases/current.json
every LITELLM_YAML_REFRESH_INTERVAL, default 60 s), for comparison.

Usage: .venv/bin/python benchmarks/bench_propagation.py [--uploads 30] [--replicas 3] [--poll-uploads 6]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from devstack.stack import DevStack  # noqa: E402

MARKS: dict[str, float] = {}


def _instrument() -> None:
    """Record when the Function starts and when it has sent the message (this process runs the Function)."""
    import devstack.eventgrid as eventgrid
    import gateway.publisher.pipeline as pipeline

    original_publish = pipeline.publish
    original_invoke = eventgrid.invoke_function

    def publish(sender, notice):  # type: ignore[no-untyped-def]
        message_id = original_publish(sender, notice)
        MARKS[f"sent:{notice.sha256}"] = time.time()
        return message_id

    def invoke(event, **kwargs):  # type: ignore[no-untyped-def]
        MARKS.setdefault(f"invoked:{event['data']['eTag'].strip(chr(34))}", time.time())
        return original_invoke(event, **kwargs)

    pipeline.publish = publish
    eventgrid.invoke_function = invoke


def _config(i: int) -> bytes:
    return yaml.safe_dump(
        {"model_list": [{"model_name": "gpt-4", "litellm_params": {"model": "openai/gpt-4", "mock_response": f"upload {i}"}}]}
    ).encode()


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _wait_all(stack: DevStack, digest: str, timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        auth = {"Authorization": f"Bearer {stack.master_key}"}  # applied_at is a detail: it needs the key
        healths = [httpx.get(f"{r.url}/health/config", headers=auth, timeout=5).json() for r in stack.running]
        if all(h["sha256"] == digest for h in healths):
            return healths
        time.sleep(0.02)
    raise TimeoutError(f"not all replicas applied {digest[:12]} within {timeout}s")


def _pct(values: list[float], q: float) -> float:
    data = sorted(values)
    return data[min(len(data) - 1, round(q / 100 * (len(data) - 1)))]


def run(uploads: int, replicas: int, push: bool, interval: float, workdir: Path) -> dict[str, list[float]]:
    stack = DevStack(
        state_dir=workdir / ("push" if push else "poll"),
        replicas=replicas,
        refresh_interval=interval,
        servicebus=push,
        redis=False,
        base_port=0,
        extra_env={"GATEWAY_LOG_LEVEL": "WARNING"},
    )
    if not push:
        stack.start_function = lambda: None  # type: ignore[method-assign]  # no Function without a bus: raw poll mode
    stack.start()
    stages: dict[str, list[float]] = {k: [] for k in ("total", "event", "function", "bus+write", "apply")}
    detail: list[tuple[float, int, str]] = []  # (total, upload index, per-stage and per-replica breakdown)
    try:
        from azure.storage.blob import ContainerClient

        assert stack.azurite is not None
        container = ContainerClient.from_connection_string(stack.azurite.connection_string, stack.container)
        time.sleep(3 if push else 0)  # let the Function import LiteLLM, as a warm worker would have
        rng = random.Random(7)
        for i in range(uploads):
            if not push:
                # Uploads land at a random moment of the replicas' poll cycle, as real ones do.
                time.sleep(rng.uniform(0, interval))
            data = _config(i)
            digest = hashlib.sha256(data).hexdigest()
            result = container.get_blob_client("config.yaml").upload_blob(data, overwrite=True)
            uploaded = time.time()
            healths = _wait_all(stack, digest, timeout=interval * 2 + 30)
            applied = max(_ts(h["applied_at"]) for h in healths)
            stages["total"].append(applied - uploaded)
            if push:
                written = max(
                    _ts(json.loads((stack.state_dir / f"replica-{n}" / "config.yaml.release.json").read_text())["written_at"])
                    for n in range(1, replicas + 1)
                )
                invoked = MARKS.get(f"invoked:{result['etag'].strip(chr(34))}")
                sent = MARKS[f"sent:{digest}"]
                if invoked is not None:
                    stages["event"].append(invoked - uploaded)
                    stages["function"].append(sent - invoked)
                stages["bus+write"].append(written - sent)
                stages["apply"].append(applied - written)
                per_replica = []
                for n, health in enumerate(healths, start=1):
                    sidecar = json.loads((stack.state_dir / f"replica-{n}" / "config.yaml.release.json").read_text())
                    wrote = _ts(sidecar["written_at"])
                    per_replica.append(f"r{n} write +{wrote - sent:.3f} apply {_ts(health['applied_at']) - wrote:.3f}")
                head = f"event {invoked - uploaded:.3f} function {sent - invoked:.3f} " if invoked is not None else ""
                detail.append((applied - uploaded, i, head + "; ".join(per_replica)))
            time.sleep(0.3)
    finally:
        stack.stop()
    if detail:
        print(f"\nslowest uploads ({'push' if push else 'poll'}; seconds after the message was sent):")
        for total, index, breakdown in sorted(detail, reverse=True)[:3]:
            print(f"  upload {index:>2}: total {total:.3f}  {breakdown}")
    return stages


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uploads", type=int, default=30)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--poll-uploads", type=int, default=6)
    parser.add_argument("--poll-interval", type=float, default=60.0)
    parser.add_argument("--skip-push", action="store_true", help="only the poll-only comparison")
    args = parser.parse_args()
    _instrument()
    print(f"# bench_propagation ({time.strftime('%Y-%m-%d %H:%M:%S')}): {args.replicas} replicas")
    with tempfile.TemporaryDirectory() as tmp:
        push = {"total": [float("nan")]} if args.skip_push else run(args.uploads, args.replicas, True, args.poll_interval, Path(tmp))
        poll = run(args.poll_uploads, args.replicas, False, args.poll_interval, Path(tmp))
    print(f"\n{'stage (seconds)':<40} {'n':>4} {'p50':>8} {'p99':>8} {'max':>8}")
    for name, values in push.items():
        if values:
            print(f"{'push: ' + name:<40} {len(values):>4} {_pct(values, 50):>8.3f} {_pct(values, 99):>8.3f} {max(values):>8.3f}")
    total = poll["total"]
    print(f"{f'poll only (interval {args.poll_interval:.0f}s): total':<40} {len(total):>4} {_pct(total, 50):>8.3f} {_pct(total, 99):>8.3f} {max(total):>8.3f}")
    speedup = statistics.median(total) / statistics.median(push["total"])
    print(f"\npush p99 upload->all applied: {_pct(push['total'], 99):.3f} s (goal <= 1 s)")
    print(f"median speed-up push vs poll-only: {speedup:.0f}x (goal >= 10x)")


if __name__ == "__main__":
    main()
