# Every target sets up .venv itself, so a fresh clone needs nothing but python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: test demo demo-kafka bench lint typecheck docs clean soak

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy --strict rx_backpressure tests

docs: $(STAMP)
	rm -rf docs/notebooks && mkdir docs/notebooks && cp notebooks/*.ipynb docs/notebooks/
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir .site

test: lint typecheck $(STAMP)
	MPLBACKEND=Agg $(BIN)/pytest
	# Each fast path of the core switched off must leave every behaviour test passing.
	$(BIN)/pytest -q tests/core tests/operators tests/observability tests/stress --without direct
	$(BIN)/pytest -q tests/core tests/operators tests/observability tests/stress --without runs
	$(BIN)/pytest -q tests/core --without through
	$(BIN)/pytest -q tests/core --without fuse
	$(BIN)/pytest -q tests/core tests/operators tests/observability tests/stress --without unlocked
	$(BIN)/pytest -q tests/core tests/sources tests/operators tests/stress --without asks
	$(MAKE) docs

soak: $(STAMP)
	RXBP_STRESS_ROUNDS=50 $(BIN)/pytest tests/stress -q

demo: $(STAMP)
	$(BIN)/rx-backpressure demo

demo-kafka: $(STAMP)
	$(BIN)/rx-backpressure demo --kafka

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	cd benchmarks && for script in bench_*.py; do \
		echo "== $$script"; ../$(BIN)/python $$script || exit 1; \
	done

clean:
	rm -rf $(VENV) .site .pytest_cache .mypy_cache .ruff_cache
