"""The Service Bus emulator, driven only by the unmodified ``azure-servicebus`` client over AMQP."""

from __future__ import annotations

import datetime
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.servicebus import (
    ServiceBusClient,
    ServiceBusMessage,
    ServiceBusReceiveMode,
    ServiceBusReceiver,
    ServiceBusSubQueue,
)
from azure.servicebus.aio import ServiceBusClient as AsyncServiceBusClient
from azure.servicebus.exceptions import MessageLockLostError

from devstack.servicebus_emulator import ServiceBusEmulator

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = ROOT / "examples" / "servicebus-emulator-config.json"
TOPIC = "config-updates"


def _subscription(name: str, lock: str = "PT1M", max_delivery: int = 10) -> dict:
    return {"Name": name, "Properties": {"LockDuration": lock, "MaxDeliveryCount": max_delivery}}


CONFIG = {
    "UserConfig": {
        "Namespaces": [
            {
                "Name": "sbemulatorns",
                "Queues": [{"Name": "jobs", "Properties": {"LockDuration": "PT1M", "MaxDeliveryCount": 10}}],
                "Topics": [
                    {
                        "Name": TOPIC,
                        "Properties": {"DefaultMessageTimeToLive": "PT1H"},
                        "Subscriptions": [
                            _subscription("replica-1"),
                            _subscription("replica-2"),
                            _subscription("short-lock", lock="PT1S", max_delivery=3),
                            _subscription("renewable", lock="PT3S"),
                            _subscription("fragile", max_delivery=2),
                        ],
                    }
                ],
            }
        ],
        "Logging": {"Type": "File"},
    }
}


@pytest.fixture
def emulator() -> Iterator[ServiceBusEmulator]:
    with ServiceBusEmulator(CONFIG) as emu:
        yield emu


@pytest.fixture
def client(emulator: ServiceBusEmulator) -> Iterator[ServiceBusClient]:
    with ServiceBusClient.from_connection_string(emulator.connection_string) as sb:
        yield sb


def _publish(client: ServiceBusClient, *messages: ServiceBusMessage) -> None:
    with client.get_topic_sender(TOPIC) as sender:
        sender.send_messages(list(messages))


def _receive(receiver: ServiceBusReceiver, count: int = 1, wait: float = 5.0) -> list:
    """Receive until ``count`` messages arrived or ``wait`` elapsed."""
    got: list = []
    deadline = time.monotonic() + wait
    while len(got) < count and time.monotonic() < deadline:
        remaining = max(deadline - time.monotonic(), 0.1)
        got += receiver.receive_messages(max_message_count=count - len(got), max_wait_time=remaining)
    return got


def _body(message) -> bytes:
    return b"".join(message.body)


def test_fan_out_to_every_subscription(client: ServiceBusClient) -> None:
    """A message sent to the topic is delivered once to each subscription."""
    _publish(client, ServiceBusMessage(b"v1"))
    for name in ("replica-1", "replica-2"):
        with client.get_subscription_receiver(TOPIC, name) as receiver:
            [message] = _receive(receiver)
            assert _body(message) == b"v1"
            assert message.delivery_count == 0
            assert message.sequence_number == 1
            assert message.enqueued_time_utc is not None
            receiver.complete_message(message)


def _wait_past(moment: datetime.datetime, timeout: float = 10.0) -> None:
    """Block until the clock has passed ``moment`` (a lock's end), bounded by ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while datetime.datetime.now(datetime.UTC) <= moment:
        assert time.monotonic() < deadline, f"clock never passed {moment}"
        time.sleep(0.02)


def test_complete_removes_message(client: ServiceBusClient, emulator: ServiceBusEmulator) -> None:
    """Completing a peek-locked message deletes it from the subscription."""
    _publish(client, ServiceBusMessage(b"done"))
    with client.get_subscription_receiver(TOPIC, "replica-1") as receiver:
        [message] = _receive(receiver)
        assert emulator.active_message_count(TOPIC, "replica-1") == 1
        receiver.complete_message(message)
        assert emulator.active_message_count(TOPIC, "replica-1") == 0
        assert receiver.receive_messages(max_wait_time=0.5) == []


def test_abandon_redelivers_with_incremented_delivery_count(client: ServiceBusClient) -> None:
    """Abandoning a message makes it available again with delivery_count + 1."""
    _publish(client, ServiceBusMessage(b"retry me"))
    with client.get_subscription_receiver(TOPIC, "replica-1") as receiver:
        [first] = _receive(receiver)
        receiver.abandon_message(first)
        [second] = _receive(receiver)
        assert _body(second) == b"retry me"
        assert (first.delivery_count, second.delivery_count) == (0, 1)
        assert second.sequence_number == first.sequence_number
        receiver.complete_message(second)


def test_dead_letter_moves_message_with_reason(client: ServiceBusClient, emulator: ServiceBusEmulator) -> None:
    """dead_letter_message moves the message to the DLQ keeping reason and description."""
    _publish(client, ServiceBusMessage(b"bad config", application_properties={"version": "7"}))
    with client.get_subscription_receiver(TOPIC, "replica-1") as receiver:
        [message] = _receive(receiver)
        receiver.dead_letter_message(message, reason="ValidationFailed", error_description="model_list is empty")
    assert emulator.active_message_count(TOPIC, "replica-1") == 0
    [stored] = emulator.dead_letter_messages(TOPIC, "replica-1")
    assert stored.dead_letter_reason == "ValidationFailed"
    with client.get_subscription_receiver(TOPIC, "replica-1", sub_queue=ServiceBusSubQueue.DEAD_LETTER) as dlq:
        [dead] = _receive(dlq)
        assert _body(dead) == b"bad config"
        assert dead.dead_letter_reason == "ValidationFailed"
        assert dead.dead_letter_error_description == "model_list is empty"
        assert dead.application_properties[b"version"] == b"7"
        dlq.complete_message(dead)
    assert emulator.dead_letter_messages(TOPIC, "replica-1") == []


def test_lock_expiry_redelivers(client: ServiceBusClient) -> None:
    """A message whose lock expires is delivered again with delivery_count + 1, and the old lock is lost."""
    _publish(client, ServiceBusMessage(b"slow consumer"))
    with client.get_subscription_receiver(TOPIC, "short-lock") as receiver:
        [first] = _receive(receiver)
        # No sleep: _receive waits (bounded) for the redelivery the expiry of the 1 s lock causes.
        [second] = _receive(receiver)
        assert _body(second) == b"slow consumer"
        assert second.delivery_count == 1
        assert second.lock_token != first.lock_token
        with pytest.raises(MessageLockLostError):
            receiver.complete_message(first)
        receiver.complete_message(second)


def test_max_delivery_count_dead_letters(client: ServiceBusClient, emulator: ServiceBusEmulator) -> None:
    """After MaxDeliveryCount failed deliveries the message moves to the dead-letter queue."""
    _publish(client, ServiceBusMessage(b"poison"))
    with client.get_subscription_receiver(TOPIC, "fragile") as receiver:  # MaxDeliveryCount 2
        for _ in range(2):
            [message] = _receive(receiver)
            receiver.abandon_message(message)
        assert receiver.receive_messages(max_wait_time=0.5) == []
    [dead] = emulator.dead_letter_messages(TOPIC, "fragile")
    assert (dead.dead_letter_reason, dead.delivery_count, dead.body) == ("MaxDeliveryCountExceeded", 2, b"poison")
    with client.get_subscription_receiver(TOPIC, "fragile", sub_queue=ServiceBusSubQueue.DEAD_LETTER) as dlq:
        [received] = _receive(dlq)
        assert received.dead_letter_reason == "MaxDeliveryCountExceeded"
        dlq.complete_message(received)


def test_renew_message_lock_extends_locked_until(client: ServiceBusClient) -> None:
    """renew_message_lock pushes locked_until forward and keeps the message from being redelivered."""
    _publish(client, ServiceBusMessage(b"long job"))
    with client.get_subscription_receiver(TOPIC, "renewable") as receiver:  # LockDuration PT3S
        [message] = _receive(receiver)
        before = message.locked_until_utc
        _wait_past(before - datetime.timedelta(seconds=2))  # renew 1 s into the 3 s lock
        after = receiver.renew_message_lock(message)
        assert after > before and message.locked_until_utc == after
        _wait_past(before)  # the original lock has ended (the renewed one has not)
        assert datetime.datetime.now(datetime.UTC) < after, "the machine was too slow to test within the renewed lock"
        assert receiver.receive_messages(max_wait_time=0.2) == []  # not redelivered
        receiver.complete_message(message)


def test_message_properties_round_trip(client: ServiceBusClient) -> None:
    """message_id, application_properties, content_type, subject, correlation_id and body arrive unchanged."""
    sent = ServiceBusMessage(
        b"model_list: []\n",
        message_id="release-42",
        application_properties={"version": "42", "sha256": "ab" * 32, "size": 15},
        content_type="application/yaml",
        subject="config.yaml",
        correlation_id="corr-1",
    )
    _publish(client, sent)
    with client.get_subscription_receiver(TOPIC, "replica-2") as receiver:
        [got] = _receive(receiver)
        assert got.message_id == "release-42"
        assert got.application_properties == {b"version": b"42", b"sha256": b"ab" * 32, b"size": 15}
        assert (got.content_type, got.subject, got.correlation_id) == ("application/yaml", "config.yaml", "corr-1")
        assert _body(got) == b"model_list: []\n"
        receiver.complete_message(got)


def test_peek_does_not_lock(client: ServiceBusClient, emulator: ServiceBusEmulator) -> None:
    """peek_messages returns messages in sequence order without locking or removing them."""
    _publish(client, ServiceBusMessage(b"a"), ServiceBusMessage(b"b"))
    with client.get_subscription_receiver(TOPIC, "replica-1") as receiver:
        peeked = receiver.peek_messages(max_message_count=5)
        assert [(_body(m), m.sequence_number) for m in peeked] == [(b"a", 1), (b"b", 2)]
        assert emulator.active_message_count(TOPIC, "replica-1") == 2
        received = _receive(receiver, count=2)
        assert [_body(m) for m in received] == [b"a", b"b"]
        for message in received:
            receiver.complete_message(message)


def test_queue_receive_and_delete(client: ServiceBusClient, emulator: ServiceBusEmulator) -> None:
    """A queue in receive-and-delete mode hands each message out once, already settled."""
    with client.get_queue_sender("jobs") as sender:
        sender.send_messages(ServiceBusMessage(b"job-1"))
    with client.get_queue_receiver("jobs", receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE) as receiver:
        [message] = _receive(receiver)
        assert _body(message) == b"job-1"
    assert emulator.active_message_count("jobs") == 0


async def test_async_client_send_and_receive(emulator: ServiceBusEmulator) -> None:
    """The asyncio client sends to the topic, receives and completes on a subscription."""
    async with AsyncServiceBusClient.from_connection_string(emulator.connection_string) as sb:
        async with sb.get_topic_sender(TOPIC) as sender:
            await sender.send_messages(ServiceBusMessage(b"async", application_properties={"version": "2"}))
        async with sb.get_subscription_receiver(TOPIC, "replica-1") as receiver:
            messages = await receiver.receive_messages(max_message_count=1, max_wait_time=5)
            assert [_body(m) for m in messages] == [b"async"]
            renewed = await receiver.renew_message_lock(messages[0])
            assert renewed > datetime.datetime.now(datetime.UTC)
            await receiver.complete_message(messages[0])
    assert emulator.active_message_count(TOPIC, "replica-1") == 0


def test_receive_with_max_wait_time_returns_empty(client: ServiceBusClient) -> None:
    """receive_messages on an empty subscription returns [] after max_wait_time."""
    with client.get_subscription_receiver(TOPIC, "replica-1") as receiver:
        started = time.monotonic()
        assert receiver.receive_messages(max_message_count=5, max_wait_time=1) == []
        assert time.monotonic() - started < 5


def test_runtime_subscription_receives_later_messages(client: ServiceBusClient, emulator: ServiceBusEmulator) -> None:
    """A subscription added at runtime gets messages published after it was created, not before."""
    _publish(client, ServiceBusMessage(b"before"))
    emulator.add_subscription(TOPIC, "replica-new", lock_duration_s=30, max_delivery_count=5)
    _publish(client, ServiceBusMessage(b"after"))
    with client.get_subscription_receiver(TOPIC, "replica-new") as receiver:
        messages = _receive(receiver, count=2, wait=1)
        assert [_body(m) for m in messages] == [b"after"]
        receiver.complete_message(messages[0])


def test_stop_is_bounded_and_releases_port() -> None:
    """stop() returns quickly even with a connected client, and the port can be bound again."""
    emulator = ServiceBusEmulator(CONFIG).start()
    port = emulator.port
    sb = ServiceBusClient.from_connection_string(emulator.connection_string)
    receiver = sb.get_subscription_receiver(TOPIC, "replica-1")
    receiver.receive_messages(max_wait_time=1)  # opens the connection and links
    started = time.monotonic()
    emulator.stop()
    assert time.monotonic() - started < 3
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
        probe.listen(1)
    with ServiceBusEmulator(CONFIG, port=port) as again:
        assert again.port == port
    sb.close()


def test_connection_string_and_example_config() -> None:
    """The example config loads with replica-1..3 and the connection string has the emulator's exact shape."""
    with ServiceBusEmulator(EXAMPLE_CONFIG) as emulator:
        assert emulator.connection_string == (
            f"Endpoint=sb://127.0.0.1:{emulator.port};SharedAccessKeyName=RootManageSharedAccessKey;"
            "SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;"
        )
        for name in ("replica-1", "replica-2", "replica-3"):
            assert emulator.active_message_count(TOPIC, name) == 0


def test_cli_prints_connection_string_and_stops_on_sigint() -> None:
    """The CLI prints the connection string, serves clients and exits cleanly on SIGINT."""
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.servicebus_emulator", "--config", str(EXAMPLE_CONFIG), "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("Endpoint=sb://127.0.0.1:") and line.endswith("UseDevelopmentEmulator=true;")
        with ServiceBusClient.from_connection_string(line) as sb:
            with sb.get_topic_sender(TOPIC) as sender:
                sender.send_messages(ServiceBusMessage(b"via cli"))
            with sb.get_subscription_receiver(TOPIC, "replica-3") as receiver:
                [message] = _receive(receiver)
                receiver.complete_message(message)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
