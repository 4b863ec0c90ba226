#!/usr/bin/env bash
# Test-only tools, each in its own venv through its own hash lock (--require-hashes --no-deps,
# wheels only), installed by the uv that scripts/bootstrap.sh put in .venv (pip took ~6 min here):
#   checkov    requirements/checkov.txt -> .venv-checkov (it pins many libraries the gateway also uses)
#   azure-cli  requirements/azcli.txt   -> .venv-azcli   (~2 min; the README's `az storage blob upload` test)
# The services (Azurite, redis-server) come from scripts/install-services.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/uv ] || { echo "install-test-deps: .venv/bin/uv missing: run scripts/bootstrap.sh (make install) first" >&2; exit 1; }

install_tool() {  # venv lock
  local venv=$1 lock=$2 stamp want
  stamp="$venv/.genai-gateway-lock"
  want=$(sha256sum "$lock" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null || true)" = "$want" ]; then
    return 0
  fi
  echo "installing $lock into $venv (hash-checked)"
  [ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
  .venv/bin/uv pip install --quiet --python "$venv/bin/python" --require-hashes --no-deps --only-binary :all: --compile-bytecode -r "$lock"
  echo "$want" > "$stamp"
}

install_tool .venv-checkov requirements/checkov.txt
install_tool .venv-azcli requirements/azcli.txt
