#!/usr/bin/env bash
# `make lock`: regenerate every hash lock from its inputs with uv (`uv pip compile
# --generate-hashes`). Each lock's header holds the exact command that wrote it.
# Existing pins are kept unless an input changed; `UPGRADE=1 make lock` moves every
# package to its newest allowed version. Read docs/dependencies.md before upgrading LiteLLM.
#
# Order matters: replica.txt is the base; the other locks are constrained by it, so a
# package shared by the image, the Function and the dev env has one version everywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-.venv/bin/uv}
if [ ! -x "$UV" ] && ! command -v "$UV" >/dev/null 2>&1; then
  echo "lock: $UV not found; run \`make install-test\` first (uv is in the test lock) or set UV=/path/to/uv" >&2
  exit 1
fi
args=(--quiet --generate-hashes --python-version 3.11 --python-platform linux)
[ "${UPGRADE:-}" = 1 ] && args+=(--upgrade)

compile() { "$UV" pip compile "${args[@]}" "$@"; }

# The replica image (Dockerfile): the project's runtime dependencies.
compile pyproject.toml -o requirements/replica.txt
# Build backends for --no-build-isolation (our package, the python-qpid-proton sdist).
compile requirements/build.in -c requirements/replica.txt -o requirements/build.txt
# make run / make test: runtime + test + dev extras + build backends.
compile pyproject.toml requirements/build.in --extra test --extra dev \
  -c requirements/replica.txt -c requirements/build.txt -o requirements/dev.txt
# The Function package (Oryx remote build runs pip on it; pip turns on hash checking by itself).
compile function_app/requirements.in -c requirements/replica.txt -o function_app/requirements.txt
# Test-only tools in their own venvs.
compile requirements/checkov.in -o requirements/checkov.txt
compile requirements/azcli.in -o requirements/azcli.txt
# Azurite and its dependencies: package-lock.json (sha512 integrity), installed by `npm ci`.
npm install --package-lock-only --ignore-scripts --no-audit --no-fund --loglevel=error
echo "locks written: requirements/*.txt function_app/requirements.txt package-lock.json"
