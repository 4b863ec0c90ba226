"""Fixtures: the same Azurite + Service Bus emulator stack the publisher tests use."""

from tests.publisher.stack import blob_service, emulator, harness, sender, servicebus  # noqa: F401
from tests.support.azure_fixtures import azurite  # noqa: F401
