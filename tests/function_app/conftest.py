"""Fixtures: the same Azurite + Service Bus emulator stack the publisher tests use."""

from tests.publisher.stack import azurite, blob_service, emulator, harness, sender, servicebus  # noqa: F401
