"""Fault matrix: a fault at each step between the publisher and the applied config, on both paths.

For every step (pointer read, release read, a corrupted transfer, validation,
file write, apply) and both paths (push: Service Bus with the poll switched
off; poll: Blob Storage alone), a fault is injected while a new release is
published, held for a while, then cleared. The replica must still serve the
old release during the fault, converge on the newest valid release once the
fault clears (within one poll interval on the poll path; within the push
retry's backoff on the push path), report the publisher's version, and
dead-letter nothing. Each case also checks that the fault really bit.

The wire is real (Azurite, the AMQP emulator, the async SDK clients); only the
applier is a recording stand-in (see tests/delivery/replica.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from devstack.azurite import Azurite
from devstack.servicebus_emulator import ServiceBusEmulator
from tests.delivery.fakes import config
from tests.delivery.replica import Faults, Replica, running_replica
from tests.publisher.stack import TOPIC, Harness

POLL_INTERVAL = 3.0
#: Push-path convergence bound: the in-process retry's waits after a 1.5 s fault stay below this.
PUSH_BOUND = 10.0
FAULT_SECONDS = 1.5
STEPS = ["pointer_read", "release_read", "corrupt_transfer", "validation", "file_write", "apply"]
#: Published while the fault is active: large enough to go by reference, so push reads the release blob too.
PADDING = b"".join(b"# padding %05d " % i + b"x" * 90 + b"\n" for i in range(2200))
#: Accepted by the publisher (it cannot see replica env), rejected by this replica (variable not set here).
ONLY_ELSEWHERE = config("needs-env").replace(b"model: openai/gpt-4", b"model: openai/gpt-4\n    api_key: os.environ/SET_ONLY_ON_OTHER_REPLICAS")


def large(reply: str) -> bytes:
    return config(reply) + PADDING


async def publish(harness: Harness, data: bytes) -> str:
    """Upload, deliver the event to the real publisher, return the version it announced."""
    outcome = await asyncio.to_thread(lambda: harness.handle(harness.upload(data)))
    assert outcome.result == "published", outcome.describe()
    assert outcome.version is not None
    return outcome.version


def inject(faults: Faults, step: str, on: bool) -> None:
    if step == "pointer_read":
        faults.pointer_read = on
    elif step == "release_read":
        faults.release_read = on
    elif step == "corrupt_transfer":
        faults.corrupt_release_reads = 1 if on else faults.corrupt_release_reads
    elif step == "file_write":
        faults.file_write = on
    elif step == "apply":
        faults.apply = on


def fault_bit(faults: Faults, step: str) -> bool:
    if step == "corrupt_transfer":
        return faults.corrupt_release_reads == 0
    if step == "validation":
        return True  # the rejection itself is awaited in the test
    key = {"pointer_read": "fail:releases/current.json", "release_read": "fail:releases/", "file_write": "fail:write", "apply": "fail:apply"}[step]
    return any(name.startswith(key) for name in faults.calls)


@pytest.mark.parametrize("path", ["push", "poll"])
@pytest.mark.parametrize("step", STEPS)
async def test_fault_then_convergence(
    step: str, path: str, harness: Harness, azurite: Azurite, emulator: ServiceBusEmulator, tmp_path: Path
) -> None:
    v1 = await publish(harness, large("v1"))
    faults = Faults()
    push = path == "push"
    if step == "pointer_read":
        inject(faults, step, True)  # the blip hits the replica's startup
    async with running_replica(
        tmp_path,
        azurite.connection_string,
        harness.container.container_name,
        faults=faults,
        poll_interval=3600.0 if push else POLL_INTERVAL,
        servicebus_connection_string=emulator.connection_string if push else None,
        topic=TOPIC,
        subscription=harness.subscription,
    ) as replica:
        if step != "pointer_read":
            assert await replica.wait_for(lambda: replica.version == v1, 30), f"startup never applied {v1}"
        inject(faults, step, True)
        v2 = await publish(harness, ONLY_ELSEWHERE if step == "validation" else large("v2"))
        assert await replica.wait_for(lambda: fault_bit(faults, step), POLL_INTERVAL + 5), (
            f"{step}: the injected fault never happened (calls {faults.calls})"
        )
        await asyncio.sleep(FAULT_SECONDS)  # let the retries run into the fault for a while
        if step not in ("pointer_read", "corrupt_transfer"):
            assert replica.version == v1, f"{step}: the old release must keep serving during the fault"
        inject(faults, step, False)
        target = v2
        if step == "validation":
            assert await replica.wait_for(lambda: _rejected(replica) == v2, POLL_INTERVAL + 2), "the rejection is not reported"
            target = await publish(harness, large("v3"))
        bound = PUSH_BOUND if push else POLL_INTERVAL + 2.0
        assert await replica.wait_for(lambda: replica.version == target, bound), (
            f"{path}/{step}: still at {replica.version}, wanted {target} within {bound}s of the fault clearing; calls {faults.calls}"
        )
        current = harness.current()
        assert current is not None and replica.version == current.version, "the replica reports the publisher's version"
    assert emulator.dead_letter_messages(TOPIC, harness.subscription) == [], "nothing a retry would deliver is dead-lettered"


def _rejected(replica: Replica) -> str | None:
    rejected = replica.status.last_rejected
    return rejected.version if rejected else None
