"""The local Event Grid stand-in: Azurite uploads become BlobCreated events, delivered like Event Grid would."""

from __future__ import annotations

import re
import time

from devstack.eventgrid import BlobEventDeliverer
from gateway.publisher import parse_event
from tests.publisher.stack import Harness


def _wait(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_uploads_become_events_with_increasing_sequencers(harness: Harness) -> None:
    """Each azure-storage-blob upload yields one real-schema BlobCreated event with a larger 32-hex sequencer."""
    received: list[dict] = []
    with BlobEventDeliverer(harness.container, received.append, interval=0.05) as deliverer:
        etags = []
        for n in range(3):
            etags.append(harness.container.upload_blob("config.yaml", b"v%d" % n, overwrite=True).get_blob_properties().etag)
            _wait(lambda n=n: len(received) == n + 1)
        # Another blob, then config.yaml again: once that event arrives, the deliverer has polled
        # after other.yaml was written (no sleep-then-assert), and it announced only config.yaml.
        harness.container.upload_blob("other.yaml", b"ignored", overwrite=True)
        etags.append(harness.container.upload_blob("config.yaml", b"v3", overwrite=True).get_blob_properties().etag)
        _wait(lambda: len(received) == 4)
    assert deliverer._thread is not None and not deliverer._thread.is_alive()
    assert len(received) == 4 and all(e["subject"].endswith("/blobs/config.yaml") for e in received)
    sequencers = [e["data"]["sequencer"] for e in received]
    assert all(re.fullmatch(r"[0-9a-f]{32}", s) for s in sequencers)
    assert sequencers == sorted(sequencers) and len(set(sequencers)) == 4
    assert [e["data"]["eTag"] for e in received] == [etag.strip('"') for etag in etags]
    first = received[0]
    assert first["eventType"] == "Microsoft.Storage.BlobCreated"
    assert first["subject"] == f"/blobServices/default/containers/{harness.container.container_name}/blobs/config.yaml"
    assert first["topic"].endswith("/storageAccounts/devstoreaccount1")
    assert first["data"]["url"] == f"{harness.container.url}/config.yaml"
    assert (first["data"]["contentLength"], first["data"]["blobType"], first["data"]["api"]) == (2, "BlockBlob", "PutBlob")
    assert len({e["id"] for e in received}) == 4
    parsed = parse_event(first, container=harness.container.container_name)
    assert parsed.sequencer == sequencers[0] and parsed.etag == etags[0].strip('"')


def test_blob_present_before_start_is_not_an_event_unless_asked(harness: Harness) -> None:
    """Like Event Grid, an existing blob produces no event; deliver_existing=True announces it once."""
    harness.container.upload_blob("config.yaml", b"old", overwrite=True)
    quiet: list[dict] = []
    BlobEventDeliverer(harness.container, quiet.append).poll_once()
    eager: list[dict] = []
    deliverer = BlobEventDeliverer(harness.container, eager.append, deliver_existing=True)
    deliverer.poll_once()
    deliverer.poll_once()
    assert quiet == [] and len(eager) == 1


def test_failed_delivery_is_retried_then_dropped(harness: Harness) -> None:
    """A deliver callback that fails is retried (bounded); one that keeps failing is dropped, not retried forever."""
    calls: list[str] = []

    def flaky(event: dict) -> None:
        calls.append(event["id"])
        if len(calls) < 2:
            raise RuntimeError("function host busy")

    deliverer = BlobEventDeliverer(harness.container, flaky, max_attempts=3, retry_delay=0.01)
    deliverer.poll_once()
    harness.container.upload_blob("config.yaml", b"a", overwrite=True)
    deliverer.poll_once()
    assert len(calls) == 2 and len(deliverer.delivered) == 1

    def broken(event: dict) -> None:
        raise RuntimeError("down")

    deliverer.deliver = broken
    harness.container.upload_blob("config.yaml", b"b", overwrite=True)
    assert deliverer.poll_once() == []
    assert len(deliverer.dropped) == 1


def test_out_of_order_mode_holds_and_flushes_on_stop(harness: Harness) -> None:
    """out_of_order swaps consecutive events, and stop() delivers an event still held back."""
    received: list[dict] = []
    deliverer = BlobEventDeliverer(harness.container, received.append, out_of_order=True, interval=0.05).start()
    harness.container.upload_blob("config.yaml", b"one", overwrite=True)
    _wait(lambda: deliverer._held is not None)  # the deliverer saw the upload and held it back
    assert received == []
    deliverer.stop()
    assert len(received) == 1 and received[0]["data"]["contentLength"] == 3
