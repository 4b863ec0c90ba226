#!/usr/bin/env bash
# Everything the tests need besides Python packages, on a fresh machine (run as root):
# redis-server (Debian), Azurite (npm, into ./node_modules), checkov (its own venv,
# because it pins many libraries the gateway also uses).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
  echo "installing redis-server (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq redis-server >/dev/null
  # The package starts a service on 6379; the tests start their own servers on free ports.
  (service redis-server stop || systemctl stop redis-server || true) >/dev/null 2>&1
fi

if [ ! -x node_modules/.bin/azurite-blob ]; then
  echo "installing azurite (npm)"
  npm install --no-audit --no-fund --silent --no-save azurite@3 >/dev/null
fi

if [ ! -x .venv-checkov/bin/checkov ]; then
  echo "installing checkov (own venv)"
  python3 -m venv .venv-checkov
  .venv-checkov/bin/python -m pip install --quiet --upgrade pip
  .venv-checkov/bin/python -m pip install --quiet "checkov==3.3.30"
fi

if [ ! -x .venv-azcli/bin/az ]; then
  echo "installing azure-cli (own venv; ~2 min) for the az storage blob upload test"
  python3 -m venv .venv-azcli
  .venv-azcli/bin/python -m pip install --quiet --upgrade pip
  .venv-azcli/bin/python -m pip install --quiet "azure-cli==2.*"
fi
