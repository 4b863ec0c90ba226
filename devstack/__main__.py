"""``python -m devstack``: the whole local pipeline (what ``make run`` runs).

    python -m devstack [--replicas N]       start Azurite, Event Grid + Function, the bus, N replicas
    python -m devstack upload FILE          upload FILE as the config blob of the running pipeline

Development tooling, not part of the product: it lives outside the ``gateway``
package, so it is neither installed into the replica image nor vendored into
the Function.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from devstack.stack import run_dev


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__.split("\n\n")[0])
    parser.add_argument("--state-dir", type=Path, default=Path(".dev"))
    parser.add_argument("--replicas", type=int, default=2)
    sub = parser.add_subparsers(dest="command")
    up = sub.add_parser("upload", help="upload FILE as the running pipeline's config blob (no az needed)")
    up.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    if args.command == "upload":
        from devstack.upload import upload

        etag = upload(args.file, state_dir=args.state_dir)
        print(f"uploaded {args.file} (etag {etag}); follow it with: curl -s <replica>/health/config")
        return 0
    level = os.environ.get("GATEWAY_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    return run_dev(state_dir=args.state_dir, replicas=args.replicas)


if __name__ == "__main__":
    raise SystemExit(main())
