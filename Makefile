# AITBC — `make demo` runs the main job, `make test` the whole suite.
# Both set up whatever is missing first (idempotent, quick when nothing is).
PY := .venv/bin/python
PYTEST := $(PY) -m pytest -p no:cacheprovider

.PHONY: setup demo test test-quick test-integration node clean
.PHONY: bench bench-quick bench-setup

setup:
	scripts/setup.sh

demo: setup
	$(PY) scripts/demo.py

QUICK := not integration and not attacks and not faults

test: setup
	$(PYTEST) -m "$(QUICK)" -q
	$(PYTEST) -m "integration or attacks or faults" -q --durations=20

test-quick: setup
	$(PYTEST) -m "$(QUICK)" -q

test-integration: setup
	$(PYTEST) -m integration -q

# Benchmarks (not part of the test suite): results in bench/results/, report in docs/benchmarks.md.
bench-setup: setup
	bench/setup.sh

bench: bench-setup
	$(PY) -m bench

# One JSON line on stdout; set-up and progress go to stderr.
bench-quick:
	@$(MAKE) --no-print-directory bench-setup >&2
	@$(PY) -m bench --quick

clean:
	rm -rf aitbc/pb build .venv
