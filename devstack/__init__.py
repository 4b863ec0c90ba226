"""Local stand-ins for the Azure pieces, for `make run` (`python -m devstack`) and the tests.

Azurite for Blob Storage, a deliverer that plays Event Grid, the Service Bus
emulator (``devstack.servicebus_emulator``) and a redis-server when the machine
has one. None of this is imported by a production replica.
"""
