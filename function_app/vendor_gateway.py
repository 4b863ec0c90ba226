"""Copy the repository's ``gateway`` package next to function_app.py before a deploy.

The Function imports the *same* validator and wire contract as the replicas
(``gateway.validation``, ``gateway.protocol``) through ``gateway.publisher``. The
Functions deployment only ships this folder, so the package is copied in here
(``function_app/gateway/``, git-ignored) instead of being installed from
``requirements.txt``: installing the ``genai-gateway`` distribution would pull the
whole replica stack (litellm[proxy], uvicorn, redis, prisma, ...) into the
Function. The development tooling (Azurite runner, Event Grid stand-in, Service Bus
emulator) lives in the top-level ``devstack/`` package, outside ``gateway/``, so
copying ``gateway/`` never ships it.

    python function_app/vendor_gateway.py            # copy (replaces an earlier copy)
    python function_app/vendor_gateway.py --clean    # remove the copy
    python function_app/vendor_gateway.py --target DIR

Deployments do not call this directly: ``python function_app/package.py`` vendors into a
staging folder and builds the zip that ``infra/deploy.sh`` publishes.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "gateway"
#: Build leftovers that never belong in the Function package.
EXCLUDED = ("__pycache__", "*.pyc", "*.pyo")
MARKER = ".vendored-by-function-app"


def vendor(target_root: Path = HERE, source: Path = SOURCE) -> Path:
    """Copy ``source`` to ``target_root/gateway`` (without bytecode); return the copy's path."""
    if not (source / "publisher" / "__init__.py").exists():
        raise SystemExit(f"{source} does not look like the gateway package (no publisher/__init__.py)")
    target = target_root / "gateway"
    clean(target_root)
    shutil.copytree(
        source,
        target,
        ignore=shutil.ignore_patterns(*EXCLUDED),
    )
    (target / MARKER).write_text("copied from the repository's gateway/ by function_app/vendor_gateway.py\n")
    return target


def clean(target_root: Path = HERE) -> None:
    """Remove an earlier copy; refuse to delete a ``gateway`` folder this script did not write."""
    target = target_root / "gateway"
    if not target.exists():
        return
    if not (target / MARKER).exists():
        raise SystemExit(f"{target} exists but was not written by vendor_gateway.py; not touching it")
    shutil.rmtree(target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clean", action="store_true", help="remove the vendored copy")
    parser.add_argument("--target", type=Path, default=HERE, help="folder to copy into (default: function_app/)")
    args = parser.parse_args(argv)
    if args.clean:
        clean(args.target)
        print(f"removed {args.target / 'gateway'}")
    else:
        print(f"vendored {vendor(args.target)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
