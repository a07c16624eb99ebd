# coldrec: the two commands are `make demo` and `make test`; each does its own set-up, idempotently.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.coldrec-installed
# No pip wheel cache: torch's CUDA wheels alone are gigabytes, and a cached copy beside the installed one has run a
# small CI disk out of space.
PIP := $(BIN)/python -m pip --no-cache-dir
VENV_MB ?= 8500
IVY_STAMP := .coldrec/ivy/.resolved
# `make test` runs everything but the `slow` tests (real data sets, DAG runs, a Spark cluster): those run with
# `make test-all` or `make test PYTEST_ARGS="-m slow"`.
PYTEST_ARGS ?= -m "not slow"

.PHONY: setup demo ui test test-all test-portability faults lint bench clean-state help

help:
	@echo "make demo   - set up, generate a sample shop and run the whole nightly pipeline locally"
	@echo "make ui     - the Airflow UI on the demo's (or the configured) state: URL and login printed, Ctrl-C stops"
	@echo "make test   - set up and run ruff, mypy and the test suite without the slow tests"
	@echo "make test-all - the same with the slow tests (real data sets, end-to-end DAG runs, a Spark cluster)"
	@echo "make test-portability - the Spark-free tests under 1 and 2 threads (float results must not depend on it)"
	@echo "make faults - run the whole fault-injection suite (tests/faults, slow part included) and print its figures"
	@echo "make bench  - run the benchmarks in bench/"

# The venv is rebuilt only when requirements.txt or pyproject.toml change (their hash is the stamp).
$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	@if [ -f $(STAMP) ] && [ "$$(cat $(STAMP))" = "$$(cat requirements.txt pyproject.toml | sha256sum)" ]; then touch $(STAMP); exit 0; fi; \
	 set -e; [ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV); \
	 free_mb=$$(df -Pm . | awk 'NR==2 {print $$4}'); echo "setup: $$free_mb MB free here; the venv needs about $(VENV_MB) MB"; \
	 if [ "$$free_mb" -lt $(VENV_MB) ]; then echo "setup: WARNING: only $$free_mb MB free; the install may fail with 'No space left on device'" >&2; fi; \
	 $(PIP) install --quiet --upgrade pip; \
	 $(PIP) install --quiet -r requirements.txt; \
	 $(PIP) install --quiet --no-deps --no-build-isolation -e .; \
	 cat requirements.txt pyproject.toml | sha256sum > $(STAMP)

# Delta jars resolved once from Maven Central into a project-local Ivy cache (no races between tasks).
$(IVY_STAMP): $(STAMP)
	@$(BIN)/python -m coldrec.spark --resolve
	@mkdir -p $(dir $(IVY_STAMP)) && touch $(IVY_STAMP)

setup: $(STAMP) $(IVY_STAMP)

demo: setup
	@PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

# COLDREC_UI__HOST / COLDREC_UI__PORT (or `coldrec ui --host/--port`) move it off 127.0.0.1:8080.
ui: setup
	@PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/coldrec ui

test: setup
	@$(BIN)/ruff check coldrec jobs dags tests bench scripts examples docker
	@$(BIN)/mypy
	@PATH="$(CURDIR)/$(BIN):$$PATH" PYSPARK_PYTHON="$(CURDIR)/$(BIN)/python" $(BIN)/python -m pytest --timeout=1800 --durations=15 $(PYTEST_ARGS)

test-all:
	@$(MAKE) --no-print-directory test PYTEST_ARGS=""

# The tests without Spark (the numeric ones: top-k, models, blending, metrics, baselines) under 1 and 2 threads of
# torch, OpenMP and BLAS: a float assertion that holds for one thread count or one CPU's kernels only fails here.
test-portability: setup
	@for t in 1 2; do echo "== $$t thread(s)"; \
	  COLDREC_TEST_TORCH_THREADS=$$t OMP_NUM_THREADS=$$t MKL_NUM_THREADS=$$t OPENBLAS_NUM_THREADS=$$t NUMBA_NUM_THREADS=$$t \
	  $(BIN)/python -m pytest -q -m "not slow and not spark" -p no:cacheprovider || exit 1; done

# The figures table of docs/reliability.md is regenerated from what the suite measured (FAULTS_WRITE= to only print).
FAULTS_WRITE ?= --write docs/reliability.md
faults: setup
	@PATH="$(CURDIR)/$(BIN):$$PATH" PYSPARK_PYTHON="$(CURDIR)/$(BIN)/python" $(BIN)/python -m pytest --timeout=3600 --durations=10 -m faults tests/faults
	@$(BIN)/python scripts/faults_table.py $(FAULTS_WRITE)

bench: setup
	@for b in bench/*.py; do echo "== $$b"; PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python $$b || exit 1; done

clean-state:
	rm -rf lake landing .coldrec/airflow .coldrec/mlflow.db .coldrec/mlartifacts
