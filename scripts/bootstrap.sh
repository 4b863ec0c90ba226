#!/usr/bin/env bash
# Create .venv and install the gateway's Python environment through the hash locks only:
#   1. requirements/build.txt  (pip --require-hashes --no-deps) the installer uv and the build
#                              backends (setuptools, wheel, cffi), so nothing below fetches an
#                              unhashed build tool into an isolated build environment;
#   2. requirements/dev.txt    (uv --require-hashes --no-deps --no-build-isolation) runtime +
#                              test + dev extras; the lock is complete, `uv pip check` proves it;
#   3. the project itself, editable, --no-deps (every dependency came from the lock).
# uv instead of pip for step 2: same hash checks, about 10x faster on a fresh clone. It compiles
# bytecode at install time as pip does (--compile-bytecode): without it, the first process to import
# LiteLLM compiles ~1,000 modules, and gateway processes started together all time out doing it.
# Used by `make install` (so by `make run`) and `make install-test` (so by `make test`).
# A stamp of the inputs' sha256 skips the installs when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=.venv
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.genai-gateway-locks"
want=$(cat requirements/build.txt requirements/dev.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" = "$want" ]; then
  echo "python environment up to date with requirements/dev.txt"
  exit 0
fi
echo "installing the python environment from requirements/build.txt and requirements/dev.txt (hash-checked)"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements/build.txt
export VIRTUAL_ENV="$PWD/$VENV"
"$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --require-hashes --no-deps --no-build-isolation --compile-bytecode -r requirements/dev.txt
"$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --no-deps --no-build-isolation -e .
"$VENV/bin/uv" pip check --python "$VENV/bin/python"
echo "$want" > "$stamp"
