"""CLI: ``python -m devstack.servicebus_emulator --config Config.json --port 5672``.

Runs until SIGINT/SIGTERM and prints the connection string first, so scripts can read it.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from .broker import ServiceBusEmulator
from .config import EmulatorConfig


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, serve until a termination signal, then stop cleanly."""
    parser = argparse.ArgumentParser(prog="python -m devstack.servicebus_emulator", description=__doc__)
    parser.add_argument("--config", required=True, help="Config.json in the official emulator's format")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5672, help="AMQP port (default 5672, 0 picks a free one)")
    parser.add_argument("--log-level", default="WARNING", help="Python logging level (default WARNING)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if logging.getLogger().level > logging.DEBUG:
        # proton logs "Couldn't send: BrokenPipeError" at ERROR whenever a client hangs up first
        logging.getLogger("proton").setLevel(logging.CRITICAL)

    done = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    emulator = ServiceBusEmulator(EmulatorConfig.from_file(args.config), host=args.host, port=args.port)
    with emulator:
        print(emulator.connection_string, flush=True)
        while not done.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
