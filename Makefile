# The two commands the README promises:
#   make run   install the gateway and run the local pipeline
#   make test  install what the tests need and run every test
.PHONY: run test install install-test lock bench lint

run: install
	.venv/bin/python -m devstack

# Lint and types run first on every test run (and in CI, which runs `make test`).
test: lint
	.venv/bin/python -m pytest -p no:cacheprovider

lint: install-test
	.venv/bin/ruff check .
	.venv/bin/mypy

# Every install goes through a hash lock (requirements/*.txt, package-lock.json);
# tests/supply_chain/ fails on an install path that does not.
install:
	scripts/bootstrap.sh
	scripts/install-services.sh

install-test: install
	scripts/install-services.sh --require-redis
	scripts/install-test-deps.sh

# Regenerate every lock from pyproject.toml and requirements/*.in (UPGRADE=1 to move pins).
lock:
	scripts/lock.sh

bench: install-test
	.venv/bin/python benchmarks/bench_live_apply.py
	.venv/bin/python benchmarks/bench_propagation.py
	.venv/bin/python benchmarks/bench_redis_failover.py
