"""Build the Function's deployment package: vendor the ``gateway`` package, then zip.

    python function_app/package.py                      # -> build/function_app.zip
    python function_app/package.py --output DIR/app.zip

This is the one packaging command: ``infra/deploy.sh`` runs it and publishes the zip with
``az functionapp deployment source config-zip --build-remote true`` (Flex Consumption
remote build: the platform installs ``requirements.txt``), and
``tests/function_app/test_function_package.py`` installs, imports and runs the same zip.

The zip holds exactly what the Functions host needs at its root:

    function_app.py, host.json, requirements.txt    from function_app/
    gateway/                                        the repository's package (vendor_gateway.py)

and nothing else: no local.settings*.json, no README, no build scripts, no bytecode, no
development tooling (``devstack/`` lives outside ``gateway/``). Entries are sorted and carry
a fixed timestamp, so the same sources give a byte-identical zip.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
#: The app's own files, copied from function_app/ into the package root.
APP_FILES = ("function_app.py", "host.json", "requirements.txt")
DEFAULT_OUTPUT = REPO / "build" / "function_app.zip"
#: Zip timestamps cannot go below 1980; a fixed one makes the archive reproducible.
_EPOCH = (1980, 1, 1, 0, 0, 0)


def _vendor_module():
    sys.path.insert(0, str(HERE))
    try:
        import vendor_gateway
    finally:
        sys.path.remove(str(HERE))
    return vendor_gateway


def stage(target: Path, source: Path = REPO / "gateway") -> Path:
    """Lay out the package in ``target`` (an empty folder): the app files plus the vendored gateway."""
    for name in APP_FILES:
        (target / name).write_bytes((HERE / name).read_bytes())
    _vendor_module().vendor(target, source)
    return target


def build(output: Path = DEFAULT_OUTPUT, source: Path = REPO / "gateway") -> Path:
    """Build the deployment zip at ``output`` (parents are created; an earlier zip is replaced)."""
    output = output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="function-package-") as tmp:
        root = stage(Path(tmp), source)
        files = sorted(p for p in root.rglob("*") if p.is_file())
        partial = output.with_name(output.name + ".partial")
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=_EPOCH)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
        partial.replace(output)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"zip to write (default: {DEFAULT_OUTPUT.relative_to(REPO)})")
    args = parser.parse_args(argv)
    path = build(args.output)
    with zipfile.ZipFile(path) as archive:
        count = len(archive.namelist())
    print(f"{path} ({path.stat().st_size} bytes, {count} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
