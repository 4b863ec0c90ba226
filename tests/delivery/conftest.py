"""Azurite and the Service Bus emulator (session), a fresh container + subscription per test."""

from tests.publisher.stack import blob_service, emulator, harness, sender, servicebus  # noqa: F401
from tests.support.azure_fixtures import azurite  # noqa: F401
