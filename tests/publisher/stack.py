"""Real Azurite + the Service Bus emulator for the publisher and Function tests.

Session fixtures start each service once; every test gets its own container and
its own topic subscription (created at the test's start, so it only sees the
messages that test publishes), so tests never see each other's blobs or messages.
Messages are received with the unmodified ``azure-servicebus`` client.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusReceivedMessage
from azure.storage.blob import BlobServiceClient, ContainerClient

from devstack.azurite import Azurite
from devstack.eventgrid import BlobEventDeliverer
from devstack.servicebus_emulator import ServiceBusEmulator
from gateway import protocol
from gateway.protocol import CurrentPointer, PublishStatus
from gateway.publisher import PublishOutcome, ReleaseStore, handle_blob_created, parse_event
from gateway.validation import ValidationOptions

TOPIC = "config-updates"
EMULATOR_CONFIG = {
    "UserConfig": {
        "Namespaces": [
            {
                "Name": "sbemulatorns",
                "Queues": [],
                "Topics": [
                    {
                        "Name": TOPIC,
                        "Properties": {"DefaultMessageTimeToLive": "PT1H"},
                        "Subscriptions": [{"Name": "replica-1", "Properties": {"LockDuration": "PT1M", "MaxDeliveryCount": 10}}],
                    }
                ],
            }
        ],
        "Logging": {"Type": "File"},
    }
}

GOOD = b"""model_list:
  - model_name: gpt-4
    litellm_params:
      model: azure/gpt-4-eastus
      api_base: https://eastus-openai.openai.azure.com/
      api_version: "2024-02-01"
      api_key: os.environ/EASTUS_API_KEY
router_settings:
  num_retries: 2
"""
GOOD_2 = GOOD.replace(b"num_retries: 2", b"num_retries: 3")
GOOD_3 = GOOD.replace(b"num_retries: 2", b"num_retries: 4")
#: Fails the shape check: the deployment has no litellm_params.model.
BAD = b"""model_list:
  - model_name: gpt-4
    litellm_params:
      api_base: https://eastus-openai.openai.azure.com/
"""
BAD_PATH = "model_list[0].litellm_params.model"


def large_config(min_bytes: int = protocol.INLINE_BODY_LIMIT + 4096) -> bytes:
    """A valid config bigger than the inline limit (the bulk is YAML comments)."""
    filler = b"".join(b"# padding line %06d " % i + b"x" * 80 + b"\n" for i in range(min_bytes // 90 + 1))
    return GOOD + filler


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def emulator() -> Iterator[ServiceBusEmulator]:
    server = ServiceBusEmulator(EMULATOR_CONFIG, port=0).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def blob_service(azurite: Azurite) -> Iterator[BlobServiceClient]:
    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        yield service


@pytest.fixture(scope="session")
def servicebus(emulator: ServiceBusEmulator) -> Iterator[ServiceBusClient]:
    with ServiceBusClient.from_connection_string(emulator.connection_string) as client:
        yield client


@pytest.fixture(scope="session")
def sender(servicebus: ServiceBusClient) -> Iterator[Any]:
    with servicebus.get_topic_sender(TOPIC) as topic_sender:
        yield topic_sender


@dataclass
class Harness:
    """One test's container, subscription and publisher pieces, plus helpers to drive and inspect them."""

    container: ContainerClient
    emulator: ServiceBusEmulator
    servicebus: ServiceBusClient
    sender: Any
    subscription: str
    store: ReleaseStore = field(init=False)
    options: ValidationOptions = field(default_factory=lambda: ValidationOptions(mode="publisher"))
    events: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.store = ReleaseStore(self.container)
        self.deliverer = BlobEventDeliverer(self.container, self.events.append)
        self.deliverer.poll_once()  # prime: nothing uploaded yet

    def upload(self, data: bytes) -> dict:
        """Upload config.yaml and return the BlobCreated event Event Grid would send for it."""
        self.container.upload_blob("config.yaml", data, overwrite=True)
        [event] = self.deliverer.poll_once()
        return event

    def handle(self, event: dict, *, store: ReleaseStore | None = None) -> PublishOutcome:
        parsed = parse_event(event, container=self.container.container_name)
        assert parsed is not None
        return handle_blob_created(parsed, store=store or self.store, sender=self.sender, options=self.options)

    def current(self) -> CurrentPointer | None:
        return self.store.read_current()[0]

    def status(self) -> PublishStatus | None:
        return self.store.read_status()

    def blob(self, name: str) -> bytes:
        return self.container.download_blob(name).readall()

    def receive(self, wait: float = 5.0) -> list[ServiceBusReceivedMessage]:
        """Receive (and complete) every message waiting in this test's subscription."""
        expected = self.emulator.active_message_count(TOPIC, self.subscription)
        got: list[ServiceBusReceivedMessage] = []
        if expected == 0:
            return got
        deadline = time.monotonic() + wait
        with self.servicebus.get_subscription_receiver(TOPIC, self.subscription) as receiver:
            while len(got) < expected and time.monotonic() < deadline:
                batch = receiver.receive_messages(
                    max_message_count=expected - len(got), max_wait_time=max(deadline - time.monotonic(), 0.1)
                )
                for message in batch:
                    receiver.complete_message(message)
                got += batch
        assert len(got) == expected, f"received {len(got)} of {expected} waiting messages"
        return got


@pytest.fixture
def harness(blob_service: BlobServiceClient, emulator: ServiceBusEmulator, servicebus: ServiceBusClient, sender: Any) -> Iterator[Harness]:
    container = blob_service.create_container(unique("cfg"))
    subscription = unique("sub")
    emulator.add_subscription(TOPIC, subscription)
    try:
        yield Harness(container, emulator, servicebus, sender, subscription)
    finally:
        container.delete_container()


def body(message: ServiceBusReceivedMessage) -> bytes:
    return b"".join(message.body)


def properties(message: ServiceBusReceivedMessage) -> dict[str, Any]:
    decoded = {}
    for key, value in (message.application_properties or {}).items():
        decoded[key.decode() if isinstance(key, bytes) else key] = value.decode() if isinstance(value, bytes) else value
    return decoded
