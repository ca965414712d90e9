# airlock: the one entry point for humans. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON   ?= python3
VENV     := .venv
DBT_VENV := .venv-dbt
PY       := $(VENV)/bin/python
# pip on this kind of machine warns about unreachable extra indexes: keep the output readable.
PIP_QUIET := 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
export PYTHONPATH := $(CURDIR)/include
export AIRLOCK_HOME := $(CURDIR)
export AIRLOCK_DBT_EXECUTABLE ?= $(CURDIR)/$(DBT_VENV)/bin/dbt

.PHONY: help venv demo dev test test-unit bench lint format clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | sort | awk 'BEGIN {FS = ":.*?## "} {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	@echo "==> creating $(VENV) (Airflow, providers, Cosmos) from requirements-dev.txt"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q -r requirements-dev.txt $(PIP_QUIET)
	@$(PY) -m pip install -q --no-deps -e . $(PIP_QUIET)
	@$(PY) -c "import airflow, cosmos, airlock" && touch $@

$(DBT_VENV)/.installed: requirements-dbt.txt
	@echo "==> creating $(DBT_VENV) (dbt-core, dbt-duckdb, dbt-postgres) from requirements-dbt.txt"
	@test -x $(DBT_VENV)/bin/python || $(PYTHON) -m venv $(DBT_VENV)
	@$(DBT_VENV)/bin/python -m pip install -q -r requirements-dbt.txt $(PIP_QUIET)
	@$(DBT_VENV)/bin/dbt --version >/dev/null && touch $@

venv: $(VENV)/.installed $(DBT_VENV)/.installed ## Create both virtualenvs (Airflow's and dbt's own)

demo: venv manifest ## Main job: end-to-end demo on the embedded default (local AWS endpoint + real Airflow)
	@$(PY) -m airlock demo

dev: venv manifest ## The same local stack, left running with the UI on http://localhost:8080 (Ctrl-C stops it)
	@$(PY) -m airlock dev

test: venv manifest ## All the tests
	@$(PY) -m pytest

test-unit: venv ## Unit and DAG tests only (fast)
	@$(PY) -m pytest tests/unit tests/dags

bench: venv manifest ## Run the benchmarks; results in bench/results/<name>.json
	@$(PY) -m bench

lint: venv ## ruff check + format check
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .

format: venv ## Apply ruff's fixes and formatting
	@$(VENV)/bin/ruff check --fix .
	@$(VENV)/bin/ruff format .

clean: ## Remove local state (var/), keep the virtualenvs
	rm -rf var .airlock

# Each area owns its own fragment: mk/dbt.mk, mk/infra.mk, mk/ship.mk, mk/observe.mk.
-include mk/*.mk
