"""A Service Bus message is a claim, not a fact: only releases the publisher's store backs are written.

A real publisher (Azurite + the AMQP emulator) makes genuine releases; the test
then sends forged notices on the same topic with the unmodified azure-servicebus
client. Each forged one must be dead-lettered with its reason, leave the file
alone, and never poison the order: the next genuine release still applies.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import pytest
from azure.servicebus import ServiceBusMessage

from devstack.azurite import Azurite
from devstack.servicebus_emulator import ServiceBusEmulator
from gateway import protocol
from tests.delivery.fakes import config
from tests.delivery.replica import running_replica
from tests.delivery.test_fault_matrix import publish
from tests.publisher.stack import TOPIC, Harness


def _send(harness: Harness, *, version: str, body: bytes, sha256: str | None = None, release_blob: str | None = None) -> None:
    properties = {
        protocol.PROP_VERSION: version,
        protocol.PROP_SHA256: sha256 or hashlib.sha256(body).hexdigest(),
        protocol.PROP_RELEASE_BLOB: release_blob or protocol.release_blob_name(version),
        protocol.PROP_SOURCE_ETAG: "0x0",
        protocol.PROP_INLINE: True,
    }
    harness.sender.send_messages(ServiceBusMessage(body, application_properties=properties, message_id=f"forged-{version[:40]}"))


def pushed_replica(harness: Harness, azurite: Azurite, emulator: ServiceBusEmulator, tmp_path: Path) -> Any:
    """A replica fed by this test's subscription alone (the poll is off)."""
    return running_replica(
        tmp_path,
        azurite.connection_string,
        harness.container.container_name,
        poll_interval=3600.0,
        servicebus_connection_string=emulator.connection_string,
        topic=TOPIC,
        subscription=harness.subscription,
    )


FORGERIES = {
    "far-future version, valid body": lambda old: {"version": "9" * 64, "body": config("forged")},
    "old body replayed under a new version": lambda old: {"version": "f" * 32, "body": old},
    "release name differs from the version": lambda old: {"version": "e" * 32, "body": config("x"), "release_blob": "releases/0000000000000000000000000000000a.yaml"},
    "version not of the publisher's form": lambda old: {"version": "../../etc/passwd", "body": config("x")},
    "sha256 the store does not record": lambda old: {"version": "d" * 32, "body": config("x"), "sha256": "0" * 64},
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
async def test_forged_notice_is_dead_lettered_and_cannot_poison_the_order(
    forgery: str, harness: Harness, azurite: Azurite, emulator: ServiceBusEmulator, tmp_path: Path
) -> None:
    old = config("genuine v1")
    v1 = await publish(harness, old)
    async with pushed_replica(harness, azurite, emulator, tmp_path) as replica:
        assert await replica.wait_for(lambda: replica.version == v1, 60)
        await asyncio.to_thread(_send, harness, **FORGERIES[forgery](old))
        assert await replica.wait_for(lambda: len(emulator.dead_letter_messages(TOPIC, harness.subscription)) == 1, 60), (
            f"{forgery}: not dead-lettered"
        )
        [dead] = emulator.dead_letter_messages(TOPIC, harness.subscription)
        assert dead.dead_letter_reason in {"release not backed", "not a release notice"}
        assert dead.dead_letter_error_description
        assert replica.version == v1 and replica.applier.applied == [v1]
        v2 = await publish(harness, config("genuine v2"))
        assert await replica.wait_for(lambda: replica.version == v2, 60), f"{forgery}: the next genuine release did not apply"


async def test_genuine_inline_notice_is_backed_by_one_metadata_read(
    harness: Harness, azurite: Azurite, emulator: ServiceBusEmulator, tmp_path: Path
) -> None:
    v1 = await publish(harness, config("first"))
    async with pushed_replica(harness, azurite, emulator, tmp_path) as replica:
        assert await replica.wait_for(lambda: replica.version == v1, 60)
        v2 = await publish(harness, config("second, inline"))
        assert await replica.wait_for(lambda: replica.version == v2, 20)
        assert f"read:{protocol.release_blob_name(v1)}" in replica.faults.calls, "the counter sees the startup download"
        assert f"read:{protocol.release_blob_name(v2)}" not in replica.faults.calls, "an inline notice needs no download"
    assert emulator.dead_letter_messages(TOPIC, harness.subscription) == []
