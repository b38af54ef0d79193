PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# pytest-xdist: the suite on up to 4 processes (2 on CI's 2 cores); PYTEST_WORKERS= runs it in one
PYTEST_WORKERS ?= -n auto --maxprocesses 4

.PHONY: setup run test test-all check-wheel lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and pinned: a looser spec would pull a multi-GB CUDA build
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/musiclust $(ARGS)

# the wheel check first: pytest's summary stays the last line of the output
test: $(STAMP)
	$(VENV)/bin/lint-imports --no-cache
	scripts/check_wheel.sh $(PY)
	$(PY) -m pytest -q -m "not slow" $(PYTEST_WORKERS) $(PYTEST_ARGS)

# the package as a user gets it: a clone's sdist → wheel, installed into a fresh venv, run outside the checkout
check-wheel: $(STAMP)
	scripts/check_wheel.sh $(PY)

test-all: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check musiclust tests benchmarks

# benchmarks (not part of test): writes benchmarks/results.md; BENCH="extraction large_n" runs a subset
bench: $(STAMP)
	$(PY) -m benchmarks.run_all $(BENCH)

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache
