# airlock: the one entry point for humans. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON   ?= python3
VENV     := .venv
DBT_VENV := .venv-dbt
PY       := $(VENV)/bin/python
# pip install, quietly; on failure print pip's output (less the warnings about unreachable extra
# indexes this kind of machine prints) and fail. Usage: $(call pip_install,<python>,<pip args>)
define pip_install
	@log=$$(mktemp); if ! $(1) -m pip install -q $(2) >$$log 2>&1; then \
		grep -v "is ignored: it is neither a file nor a directory" $$log; rm -f $$log; exit 1; fi; rm -f $$log
endef
export PYTHONPATH := $(CURDIR)/include
export AIRLOCK_HOME := $(CURDIR)
export AIRLOCK_DBT_EXECUTABLE ?= $(CURDIR)/$(DBT_VENV)/bin/dbt

.PHONY: help venv demo dev test test-unit bench lint format clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | sort | awk 'BEGIN {FS = ":.*?## "} {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	@echo "==> creating $(VENV) (Airflow, providers, Cosmos) from requirements-dev.txt"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(call pip_install,$(PY),-r requirements-dev.txt)
	$(call pip_install,$(PY),--no-deps -e .)
	@$(PY) -c "import airflow, cosmos, airlock" && touch $@

$(DBT_VENV)/.installed: requirements-dbt.txt
	@echo "==> creating $(DBT_VENV) (dbt-core, dbt-duckdb, dbt-postgres) from requirements-dbt.txt"
	@test -x $(DBT_VENV)/bin/python || $(PYTHON) -m venv $(DBT_VENV)
	$(call pip_install,$(DBT_VENV)/bin/python,-r requirements-dbt.txt)
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
