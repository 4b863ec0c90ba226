"""Emulator configuration, read from the official Service Bus emulator's ``Config.json`` shape.

Using the official file format means one config file serves both this test emulator and the
Docker-based Microsoft emulator, so local setups do not drift apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

_DURATION = re.compile(
    r"^P(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(value: str | int | float | None, default: float) -> float:
    """Turn an ISO 8601 duration (``PT1M``, ``P14D``) into seconds; numbers are taken as seconds."""
    if value is None or value == "":
        return default
    if isinstance(value, (int, float)):
        return float(value)
    match = _DURATION.match(value.strip().upper())
    if not match or value.strip().upper() in ("P", "PT"):
        raise ValueError(f"not an ISO 8601 duration: {value!r}")
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    return (
        parts.get("days", 0.0) * 86400
        + parts.get("hours", 0.0) * 3600
        + parts.get("minutes", 0.0) * 60
        + parts.get("seconds", 0.0)
    )


@dataclass(frozen=True)
class EntityOptions:
    """Delivery settings of a queue or subscription (the subset of Service Bus properties we honour)."""

    lock_duration_s: float = 60.0
    max_delivery_count: int = 10
    default_ttl_s: float | None = None
    dead_letter_on_expiration: bool = False

    @classmethod
    def from_properties(cls, props: Mapping[str, Any] | None) -> EntityOptions:
        """Read the ``Properties`` object of a queue or subscription entry."""
        props = props or {}
        return cls(
            lock_duration_s=parse_duration(props.get("LockDuration"), 60.0),
            max_delivery_count=int(props.get("MaxDeliveryCount", 10)),
            default_ttl_s=parse_duration(props.get("DefaultMessageTimeToLive"), 0.0) or None,
            dead_letter_on_expiration=bool(props.get("DeadLetteringOnMessageExpiration", False)),
        )


@dataclass(frozen=True)
class SubscriptionConfig:
    """One subscription of a topic."""

    name: str
    options: EntityOptions = field(default_factory=EntityOptions)


@dataclass(frozen=True)
class TopicConfig:
    """A topic and its subscriptions; every subscription receives a copy of each message."""

    name: str
    subscriptions: tuple[SubscriptionConfig, ...] = ()
    default_ttl_s: float | None = None


@dataclass(frozen=True)
class QueueConfig:
    """A queue (competing consumers, one copy per message)."""

    name: str
    options: EntityOptions = field(default_factory=EntityOptions)


@dataclass(frozen=True)
class EmulatorConfig:
    """The entities of the single namespace the emulator serves (as the official emulator does)."""

    namespace: str = "sbemulatorns"
    queues: tuple[QueueConfig, ...] = ()
    topics: tuple[TopicConfig, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EmulatorConfig:
        """Parse the official ``{"UserConfig": {"Namespaces": [...]}}`` document."""
        user = data.get("UserConfig", data)
        namespaces = user.get("Namespaces") or [{}]
        if len(namespaces) != 1:
            raise ValueError("the emulator serves exactly one namespace")
        ns = namespaces[0]
        queues = tuple(
            QueueConfig(q["Name"], EntityOptions.from_properties(q.get("Properties"))) for q in ns.get("Queues") or []
        )
        topics = tuple(
            TopicConfig(
                name=t["Name"],
                subscriptions=tuple(
                    SubscriptionConfig(s["Name"], EntityOptions.from_properties(s.get("Properties")))
                    for s in t.get("Subscriptions") or []
                ),
                default_ttl_s=parse_duration((t.get("Properties") or {}).get("DefaultMessageTimeToLive"), 0.0) or None,
            )
            for t in ns.get("Topics") or []
        )
        names = [q.name.lower() for q in queues] + [t.name.lower() for t in topics]
        if len(names) != len(set(names)):
            raise ValueError("queue and topic names must be unique (case-insensitive)")
        return cls(namespace=ns.get("Name", "sbemulatorns"), queues=queues, topics=topics)

    @classmethod
    def from_file(cls, path: str | PathLike[str]) -> EmulatorConfig:
        """Read a ``Config.json`` file."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
