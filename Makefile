# Tasks: `make test` (the everyday tier), `make test-all`, `make lint`, `make bench`, `make docs`,
# `make build`, `make cov`. Everything runs from .venv, made by `make venv` (scripts/test.sh
# makes it too).
VENV ?= .venv
PY := $(VENV)/bin/python
CORE := not slow and not server and not postgres and not browser
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
export GIT_PYTHON_REFRESH := quiet

.PHONY: venv test test-all cov lint bench docs build clean

venv: $(PY)
$(PY): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(PY)

test: venv  ## the everyday tier (no subprocesses, servers, PostgreSQL or browser)
	$(PY) -m pytest -m "$(CORE)" -p no:cacheprovider

test-all: venv  ## everything CI runs (needs PostgreSQL and Chromium: scripts/services.sh)
	bash scripts/test.sh

cov: venv  ## the whole suite with the coverage gate CI applies (fail_under in pyproject.toml)
	$(PY) -m pytest -p no:cacheprovider --cov=mlflow_debt --cov-report=term

lint: venv  ## ruff, ruff format, mypy (the pre-commit hooks)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy mlflow_debt

bench: venv  ## the benchmarks (medians, ratios vs baselines measured in the same run)
	$(PY) benchmarks/run.py --quick

docs: venv  ## the documentation's tests: help texts, README, JSON examples checked against real output
	$(PY) -m pytest tests/test_docs.py -p no:cacheprovider

build: venv  ## sdist + wheel in dist/, checked as PyPI would
	rm -rf dist
	$(PY) -m build --outdir dist .
	$(VENV)/bin/twine check --strict dist/*

clean:
	rm -rf dist build *.egg-info .coverage
