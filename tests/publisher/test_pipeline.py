"""The publisher pipeline against real Azurite and the Service Bus emulator, received with azure-servicebus."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devstack.eventgrid import BlobEventDeliverer
from gateway import protocol
from gateway.protocol import ReleaseNotice
from gateway.publisher import ReleaseStore
from gateway.release import sha256_hex
from tests.publisher.stack import BAD, BAD_PATH, GOOD, GOOD_2, GOOD_3, Harness, body, large_config, properties


def test_valid_upload_is_released_pointed_to_announced_and_recorded(harness: Harness) -> None:
    """A valid upload yields the release blob, current.json, an accepted status and exactly one message."""
    event = harness.upload(GOOD)
    version, etag, digest = event["data"]["sequencer"], event["data"]["eTag"], sha256_hex(GOOD)

    outcome = harness.handle(event)

    assert (outcome.result, outcome.version, outcome.errors) == ("published", version, ())
    release = protocol.release_blob_name(version)
    assert harness.blob(release) == GOOD
    current = harness.current()
    assert (current.version, current.sha256, current.blob, current.source_etag) == (version, digest, release, etag)
    status = harness.status()
    assert (status.result, status.version, status.sha256, status.source_etag, status.errors) == ("accepted", version, digest, etag, ())
    [message] = harness.receive()
    assert message.message_id == protocol.message_id(version, digest) == outcome.message_id
    assert message.content_type == protocol.CONTENT_TYPE_YAML
    assert body(message) == GOOD
    assert properties(message) == {
        "version": version,
        "sha256": digest,
        "release_blob": release,
        "source_etag": etag,
        "inline": True,
    }
    notice = ReleaseNotice.from_message(message.application_properties, body(message))
    assert (notice.version, notice.sha256, notice.body) == (version, digest, GOOD)


def test_rejected_upload_records_errors_and_publishes_nothing(harness: Harness) -> None:
    """An invalid upload writes a rejected status with YAML paths, sends no message and leaves current.json alone."""
    good = harness.handle(harness.upload(GOOD))
    harness.receive()
    event = harness.upload(BAD)

    outcome = harness.handle(event)

    assert outcome.result == "rejected"
    assert BAD_PATH in [e.path for e in outcome.errors]
    status = json.loads(harness.blob(protocol.status_blob_name("config.yaml")))
    assert status["result"] == "rejected"
    assert status["version"] == event["data"]["sequencer"]
    assert status["source_etag"] == event["data"]["eTag"]
    assert BAD_PATH in [e["path"] for e in status["errors"]] and all(e["message"] for e in status["errors"])
    assert status["at"]
    assert harness.current().version == good.version
    assert harness.receive() == []
    assert not harness.container.get_blob_client(protocol.release_blob_name(event["data"]["sequencer"])).exists()


def test_event_for_a_replaced_upload_is_superseded(harness: Harness) -> None:
    """An event whose eTag no longer matches (412) publishes and writes nothing; the newer event publishes."""
    first = harness.upload(GOOD)
    second = harness.upload(GOOD_2)

    stale = harness.handle(first)

    assert stale.result == "superseded" and "newer upload" in stale.detail
    assert harness.current() is None and harness.status() is None
    assert harness.receive() == []
    assert harness.handle(second).result == "published"
    [message] = harness.receive()
    assert body(message) == GOOD_2


def test_out_of_order_delivery_keeps_the_newer_release(harness: Harness) -> None:
    """Events delivered newer-first: current.json stays at the newer version and the older is not announced."""
    outcomes = []
    deliverer = BlobEventDeliverer(harness.container, lambda e: outcomes.append(harness.handle(e)), out_of_order=True)
    deliverer.poll_once()
    harness.container.upload_blob("config.yaml", GOOD, overwrite=True)
    assert deliverer.poll_once() == []  # held back
    harness.container.upload_blob("config.yaml", GOOD_2, overwrite=True)
    newer, older = deliverer.poll_once()

    assert newer["data"]["sequencer"] > older["data"]["sequencer"]
    assert [o.result for o in outcomes] == ["published", "superseded"]
    assert harness.current().version == newer["data"]["sequencer"]
    assert harness.status().version == newer["data"]["sequencer"]
    [message] = harness.receive()
    assert body(message) == GOOD_2


class RacingStore(ReleaseStore):
    """Lets a newer upload be fully published while this (older) event is between download and CAS."""

    def __init__(self, harness: Harness, newer: bytes) -> None:
        super().__init__(harness.container)
        self.harness, self.newer, self.newer_outcome = harness, newer, None

    def download(self, blob_name: str, etag: str, **kwargs) -> bytes:
        data = super().download(blob_name, etag, **kwargs)
        self.newer_outcome = self.harness.handle(self.harness.upload(self.newer))
        return data


def test_older_event_finishing_after_a_newer_one_is_stale(harness: Harness) -> None:
    """An older upload whose download won the race never moves current.json back and is not announced."""
    older_event = harness.upload(GOOD)
    racing = RacingStore(harness, GOOD_2)

    outcome = harness.handle(older_event, store=racing)

    assert racing.newer_outcome.result == "published"
    assert outcome.result == "stale" and outcome.version == older_event["data"]["sequencer"]
    assert harness.current().version == racing.newer_outcome.version
    assert harness.status().version == racing.newer_outcome.version  # the verdict on the newest upload stays
    assert harness.blob(protocol.release_blob_name(outcome.version)) == GOOD  # immutable, kept for audit
    [message] = harness.receive()
    assert body(message) == GOOD_2


def test_duplicate_delivery_sends_no_second_message(harness: Harness) -> None:
    """The same event delivered twice: the second is 'duplicate' and no second message is sent."""
    outcomes = []
    deliverer = BlobEventDeliverer(harness.container, lambda e: outcomes.append(harness.handle(e)), duplicate=True)
    deliverer.poll_once()
    harness.container.upload_blob("config.yaml", GOOD, overwrite=True)
    first, again = deliverer.poll_once()

    assert first is again
    assert [o.result for o in outcomes] == ["published", "duplicate"]
    assert outcomes[1].sha256 == outcomes[0].sha256 and "already accepted" in outcomes[1].detail
    assert len(harness.receive()) == 1


def test_duplicate_of_a_rejected_upload_is_a_duplicate(harness: Harness) -> None:
    """A redelivered rejected event does not validate or rewrite anything: 'duplicate', errors carried over."""
    event = harness.upload(BAD)
    first = harness.handle(event)
    status_etag = harness.container.get_blob_client(protocol.status_blob_name("config.yaml")).get_blob_properties().etag

    again = harness.handle(event)

    assert (first.result, again.result) == ("rejected", "duplicate")
    assert [e.path for e in again.errors] == [e.path for e in first.errors]
    assert harness.container.get_blob_client(protocol.status_blob_name("config.yaml")).get_blob_properties().etag == status_etag


class FlakySender:
    """A sender whose first send fails like a dropped AMQP link, then delegates."""

    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, 0

    def send_messages(self, message) -> None:
        self.calls += 1
        if self.calls == 1:
            from azure.servicebus.exceptions import ServiceBusConnectionError

            raise ServiceBusConnectionError(message="link detached")
        self.inner.send_messages(message)


def test_redelivery_after_a_failed_publish_republishes_the_same_release(harness: Harness) -> None:
    """A send failure raises (Event Grid retries); the retry finds current.json done and publishes once."""
    from azure.servicebus.exceptions import ServiceBusConnectionError

    from gateway.publisher import handle_blob_created, parse_event

    event = harness.upload(GOOD)
    parsed = parse_event(event, container=harness.container.container_name)
    flaky = FlakySender(harness.sender)
    with pytest.raises(ServiceBusConnectionError):
        handle_blob_created(parsed, store=harness.store, sender=flaky, options=harness.options)
    assert harness.current().version == parsed.sequencer and harness.status() is None

    retried = handle_blob_created(parsed, store=harness.store, sender=flaky, options=harness.options)

    assert retried.result == "published" and "republished" in retried.detail
    assert harness.status().result == "accepted"
    [message] = harness.receive()
    assert message.message_id == protocol.message_id(parsed.sequencer, sha256_hex(GOOD))


def test_redelivery_racing_the_first_run_reuses_the_message_id(harness: Harness) -> None:
    """If a redelivery overlaps the first run (status not yet written), it republishes with the same message_id."""
    event = harness.upload(GOOD)
    first = harness.handle(event)
    harness.container.delete_blob(protocol.status_blob_name("config.yaml"))  # the first run has not recorded yet

    second = harness.handle(event)

    assert (first.result, second.result) == ("published", "published")
    messages = harness.receive()
    # The emulator has no duplicate detection: both arrive, with one message id. Service Bus with
    # RequiresDuplicateDetection drops the second; replicas ignore it anyway (version <= applied).
    assert [m.message_id for m in messages] == [first.message_id, first.message_id]


def test_large_config_goes_by_reference(harness: Harness) -> None:
    """A config over INLINE_BODY_LIMIT is announced with an empty body and inline=False; the release blob has it."""
    data = large_config()
    assert len(data) > protocol.INLINE_BODY_LIMIT
    event = harness.upload(data)

    outcome = harness.handle(event)

    assert (outcome.result, outcome.inline) == ("published", False)
    assert harness.blob(outcome.release_blob) == data
    [message] = harness.receive()
    assert body(message) == b""
    assert properties(message)["inline"] is False
    assert properties(message)["release_blob"] == protocol.release_blob_name(event["data"]["sequencer"])
    assert ReleaseNotice.from_message(message.application_properties, body(message)).body is None
    assert message.message_id == protocol.message_id(outcome.version, sha256_hex(data))


def test_a_sequence_of_uploads_advances_current_each_time(harness: Harness) -> None:
    """Three good uploads in order are each published, and current.json follows the newest."""
    versions = []
    for data in (GOOD, GOOD_2, GOOD_3):
        outcome = harness.handle(harness.upload(data))
        assert outcome.result == "published"
        versions.append(outcome.version)
    assert versions == sorted(versions)
    assert harness.current().version == versions[-1]
    assert [body(m) for m in harness.receive()] == [GOOD, GOOD_2, GOOD_3]


def test_pipeline_refuses_replica_mode() -> None:
    """The publisher cannot see the replicas' environment, so replica-mode options are a programming error."""
    from gateway.publisher import BlobCreated, handle_blob_created
    from gateway.validation import ValidationOptions

    event = BlobCreated("u", "c", "config.yaml", "0x1", "01", 1, "PutBlob", "s", "id")
    with pytest.raises(ValueError, match="publisher"):
        handle_blob_created(event, store=None, sender=None, options=ValidationOptions(mode="replica"))  # type: ignore[arg-type]


@pytest.mark.parametrize("announced", [True, False], ids=["size-in-event", "size-from-properties"])
def test_oversized_upload_is_rejected_without_reading_it(harness: Harness, announced: bool) -> None:
    """An upload over max_bytes is rejected with the limit in the status, and not one byte of its body was downloaded.

    The store talks to Azurite through a client that records every response: no GET of
    config.yaml may carry a body (the size comes from the event or from the properties).
    """
    from dataclasses import replace

    from azure.storage.blob import ContainerClient

    responses: list[tuple[str, str, int]] = []

    def record(pipeline_response: Any) -> None:
        request, response = pipeline_response.http_request, pipeline_response.http_response
        responses.append((request.method, request.url.split("?", 1)[0], int(response.headers.get("Content-Length") or 0)))

    recording = ContainerClient.from_container_url(
        harness.container.url, credential=harness.container.credential, raw_response_hook=record
    )
    harness.options = replace(harness.options, max_bytes=1024)
    event = harness.upload(large_config(4096))
    if not announced:
        event["data"].pop("contentLength")

    outcome = harness.handle(event, store=ReleaseStore(recording))

    body_bytes = sum(length for method, url, length in responses if method == "GET" and url.endswith("/config.yaml"))
    assert body_bytes == 0, responses
    assert responses, "the recording client saw no request: the test would prove nothing"
    assert outcome.result == "rejected"
    [issue] = outcome.errors
    assert "the limit is 1,024 bytes" in issue.message
    assert harness.status().result == "rejected" and harness.status().errors == outcome.errors
    assert harness.receive() == [] and harness.current() is None


def test_concurrent_deliveries_of_one_event_agree(harness: Harness, azurite, emulator) -> None:
    """Three simultaneous deliveries of one event (shared Publisher, threads) publish one release id, current once."""
    from concurrent.futures import ThreadPoolExecutor

    from gateway.publisher import Publisher, PublisherSettings

    settings = PublisherSettings.from_env(
        {
            "BLOB_CONNECTION_STRING": azurite.connection_string,
            "SERVICEBUS_CONNECTION_STRING": emulator.connection_string,
            "BLOB_DOC_CONTAINER": harness.container.container_name,
        }
    )
    publisher = Publisher.from_settings(settings)
    event = harness.upload(GOOD)
    try:
        with ThreadPoolExecutor(3) as pool:
            outcomes = list(pool.map(publisher.handle, [event] * 3))
    finally:
        publisher.close()

    results = [o.result for o in outcomes]
    assert "published" in results and set(results) <= {"published", "duplicate"}
    assert harness.current().version == event["data"]["sequencer"]
    assert harness.status().result == "accepted"
    messages = harness.receive()
    assert 1 <= len(messages) == results.count("published")
    assert {m.message_id for m in messages} == {protocol.message_id(event["data"]["sequencer"], sha256_hex(GOOD))}


def test_warm_opens_the_sender_and_validates_before_any_event(harness: Harness, azurite, emulator) -> None:
    """``Publisher.warm`` (run by the Function at worker start) opens the AMQP link and builds a Router off the event path."""
    from gateway.publisher import Publisher, PublisherSettings

    env = {
        "BLOB_CONNECTION_STRING": azurite.connection_string,
        "SERVICEBUS_CONNECTION_STRING": emulator.connection_string,
        "BLOB_DOC_CONTAINER": harness.container.container_name,
    }
    publisher = Publisher.from_settings(PublisherSettings.from_env(env))
    try:
        assert publisher._sender is None  # nothing connected before the warm-up
        publisher.warm()
        link = publisher.sender._sender._handler  # the SDK's AMQP client: created when the link opens
        assert link is not None
        outcome = publisher.handle(harness.upload(GOOD))
        assert outcome.result == "published"
        assert publisher.sender._sender._handler is link  # the event reused the warm link
    finally:
        publisher.close()
    assert [m.message_id for m in harness.receive()] == [protocol.message_id(outcome.version, sha256_hex(GOOD))]


def test_warm_raises_when_service_bus_is_unreachable(harness: Harness, azurite) -> None:
    """The Function's warm_up logs this and goes on; the first event then connects (and retries) itself."""
    from azure.servicebus.exceptions import ServiceBusError

    from gateway.publisher import Publisher, PublisherSettings
    from tests.support.processes import free_port

    dead = f"Endpoint=sb://127.0.0.1:{free_port()};SharedAccessKeyName=k;SharedAccessKey=dmFsdWU=;UseDevelopmentEmulator=true"
    env = {
        "BLOB_CONNECTION_STRING": azurite.connection_string,
        "SERVICEBUS_CONNECTION_STRING": dead,
        "BLOB_DOC_CONTAINER": harness.container.container_name,
    }
    publisher = Publisher.from_settings(PublisherSettings.from_env(env))
    try:
        with pytest.raises(ServiceBusError):
            publisher.warm()
    finally:
        publisher.close()
