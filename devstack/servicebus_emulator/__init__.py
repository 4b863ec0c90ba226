"""A Service Bus-compatible AMQP 1.0 broker for local development and tests.

The official Service Bus emulator needs Docker; this one runs in-process on python-qpid-proton
and is driven by the unmodified ``azure-servicebus`` SDK through the same
``UseDevelopmentEmulator=true`` connection string.
"""

from .broker import ServiceBusEmulator
from .config import EmulatorConfig, EntityOptions, QueueConfig, SubscriptionConfig, TopicConfig
from .wire import MessageSnapshot

__all__ = [
    "EmulatorConfig",
    "EntityOptions",
    "MessageSnapshot",
    "QueueConfig",
    "ServiceBusEmulator",
    "SubscriptionConfig",
    "TopicConfig",
]
