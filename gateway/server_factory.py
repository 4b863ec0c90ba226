"""Entry point for ``uvicorn --factory`` when serve runs several worker processes."""

from __future__ import annotations

import os

from gateway import heap
from gateway.runtime import GatewayRuntime
from gateway.server import GatewayApp
from gateway.settings import Settings


def create_worker_app() -> GatewayApp:
    """Each worker applies the file the pod's single writer keeps; it never writes it."""
    app = GatewayApp(GatewayRuntime(Settings.from_env(os.environ), role="applier"))
    heap.freeze_startup_heap()  # LiteLLM is imported now, no config applied yet
    return app
