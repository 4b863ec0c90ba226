"""Copy the repository's ``gateway`` package next to function_app.py before a deploy.

The Function imports the *same* validator and wire contract as the replicas
(``gateway.validation``, ``gateway.protocol``) through ``gateway.publisher``. The
Functions deployment only ships this folder, so the package is copied in here
(``function_app/gateway/``, git-ignored) instead of being installed from
``requirements.txt``: installing the ``genai-gateway`` distribution would pull the
whole replica stack (litellm[proxy], uvicorn, redis, prisma, ...) into the
Function. Dev-only subpackages (the local Azure stand-ins) are left out.

    python function_app/vendor_gateway.py            # copy (replaces an earlier copy)
    python function_app/vendor_gateway.py --clean    # remove the copy
    python function_app/vendor_gateway.py --target DIR

Then ``cd function_app && func azure functionapp publish <app> --python``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "gateway"
#: Never imported by gateway.publisher; they need test/dev-only dependencies (python-qpid-proton, node).
EXCLUDED_SUBPACKAGES = ("devstack", "servicebus_emulator")
MARKER = ".vendored-by-function-app"


def vendor(target_root: Path = HERE, source: Path = SOURCE) -> Path:
    """Copy ``source`` to ``target_root/gateway`` (minus dev-only subpackages); return the copy's path."""
    if not (source / "publisher" / "__init__.py").exists():
        raise SystemExit(f"{source} does not look like the gateway package (no publisher/__init__.py)")
    target = target_root / "gateway"
    clean(target_root)
    shutil.copytree(
        source,
        target,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", *EXCLUDED_SUBPACKAGES),
    )
    (target / MARKER).write_text(f"copied from {source}\n")
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
