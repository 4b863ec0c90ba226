"""Fixtures: Azurite and the Service Bus emulator (session), a fresh container + subscription per test."""

from tests.publisher.stack import azurite, blob_service, emulator, harness, sender, servicebus  # noqa: F401
