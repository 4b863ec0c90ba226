# The two commands the README promises:
#   make run   install the gateway and run the local pipeline
#   make test  install what the tests need and run every test
.PHONY: run test install install-test bench lint

run: install
	.venv/bin/genai-gateway dev

test: install-test
	.venv/bin/python -m pytest -p no:cacheprovider

install:
	scripts/bootstrap.sh dev

install-test:
	scripts/bootstrap.sh test,dev
	scripts/install-test-deps.sh

bench: install-test
	.venv/bin/python benchmarks/bench_live_apply.py
	.venv/bin/python benchmarks/bench_propagation.py
	.venv/bin/python benchmarks/bench_redis_failover.py
