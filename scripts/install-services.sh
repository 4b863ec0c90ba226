#!/usr/bin/env bash
# The non-Python services of the local pipeline, for `make run` and `make test` alike:
#   Azurite (Blob Storage)  `npm ci` from package-lock.json (sha512 integrity for every
#                           package; install scripts off) into ./node_modules;
#   redis-server            apt, only as root and only if missing. `make run` works without
#                           it (the replicas fall back to the in-memory cache);
#                           `--require-redis` (make test) makes its absence an error.
set -euo pipefail
cd "$(dirname "$0")/.."
require_redis=${1:-}

stamp=node_modules/.genai-gateway-lock
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -x node_modules/.bin/azurite-blob ] || [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  command -v npm >/dev/null 2>&1 || { echo "install-services: npm not found; install Node.js >= 20 (it brings npm)" >&2; exit 1; }
  echo "installing azurite from package-lock.json (npm ci)"
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing redis-server (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq redis-server >/dev/null
    # The package starts a service on 6379; the stack and the tests start their own on free ports.
    (service redis-server stop || systemctl stop redis-server || true) >/dev/null 2>&1
  elif [ "$require_redis" = --require-redis ]; then
    echo "install-services: redis-server not found and cannot apt-get it (needs root): install it" >&2
    exit 1
  else
    echo "redis-server not found: the local replicas will use the in-memory cache"
  fi
fi
