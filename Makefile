# AITBC — `make demo` runs the main job, `make test` the whole suite.
# Both set up whatever is missing first (idempotent, quick when nothing is).
PY := .venv/bin/python
PYTEST := $(PY) -m pytest -p no:cacheprovider

.PHONY: setup demo test test-quick test-integration node clean

setup:
	scripts/setup.sh

demo: setup
	$(PY) -m scripts.demo

test: setup
	$(PYTEST) -m "not integration" -q
	$(PYTEST) -m integration -q

test-quick: setup
	$(PYTEST) -m "not integration" -q

test-integration: setup
	$(PYTEST) -m integration -q

clean:
	rm -rf gen build .venv
