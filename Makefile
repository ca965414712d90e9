# airlock: the one entry point for humans. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON   ?= python3
VENV     := .venv
DBT_VENV := .venv-dbt
PY       := $(VENV)/bin/python
# Installer of the virtualenvs: uv (default; from PATH, else bootstrapped from requirements-uv.txt
# into .venv-uv with pip), or pip for those who prefer it: `make venv INSTALLER=pip`. Both install
# the same lock files (requirements-<env>.lock, generated from requirements*.txt by `make lock`).
INSTALLER ?= uv
UV_VENV  := .venv-uv
ifndef UV
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/$(UV_VENV)/bin/uv)
endif
export UV_PYTHON_DOWNLOADS := never
# Byte-compile at install, as pip does: otherwise every Airflow process of the first demo compiles
# the same modules again on its first import.
export UV_COMPILE_BYTECODE := 1
export PYTHONPATH := $(CURDIR)/include
export AIRLOCK_HOME := $(CURDIR)
export AIRLOCK_DBT_EXECUTABLE ?= $(CURDIR)/$(DBT_VENV)/bin/dbt

# $(call make_venv,<venv dir>,<lock file>): create the venv if needed and install the lock into it,
# quietly; on failure print the installer's output and fail. A venv that is a symlink belongs to
# another checkout (a git worktree sharing it): it is left as it is.
define make_venv
	@if [ -L $(1) ]; then echo "==> $(1) links to a shared virtualenv: not changing it"; exit 0; fi; \
	log=$$(mktemp); trap 'rm -f $$log' EXIT; started=$$(date +%s); \
	echo "==> $(1) from $(2) with $(INSTALLER)"; \
	if [ "$(INSTALLER)" = pip ]; then \
		{ test -x $(1)/bin/python || $(PYTHON) -m venv $(1); } && \
		{ $(1)/bin/python -m pip --version >/dev/null 2>&1 || $(1)/bin/python -m ensurepip -q; } && \
		$(1)/bin/python -m pip install -q --disable-pip-version-check -r $(2) >$$log 2>&1; \
	else \
		{ test -x $(1)/bin/python || "$(UV)" venv -q --python $(PYTHON) $(1); } && \
		"$(UV)" pip install -q --python $(1)/bin/python -r $(2) >$$log 2>&1; \
	fi || { grep -v "is ignored: it is neither a file nor a directory" $$log; exit 1; }; \
	echo "    $(1) ready in $$(( $$(date +%s) - started ))s"
endef

.PHONY: help venv lock lock-upgrade demo dev test test-unit bench lint format clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | sort | awk 'BEGIN {FS = ":.*?## "} {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

$(CURDIR)/$(UV_VENV)/bin/uv: requirements-uv.txt
	@echo "==> no uv on PATH: installing requirements-uv.txt into $(UV_VENV) with pip"
	@test -x $(UV_VENV)/bin/python || $(PYTHON) -m venv $(UV_VENV)
	@$(UV_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-uv.txt
	@touch $@

uv_dep := $(if $(filter uv,$(INSTALLER)),$(filter $(CURDIR)/$(UV_VENV)/bin/uv,$(UV)))

# requirements-fakesnow.txt (the tests' Snowflake stand-in) goes in with --no-deps: see that file for why.
$(VENV)/.installed: requirements-dev.lock requirements-fakesnow.txt pyproject.toml | $(uv_dep)
	$(call make_venv,$(VENV),requirements-dev.lock)
	@if [ ! -L $(VENV) ]; then \
		if [ "$(INSTALLER)" = pip ]; then $(PY) -m pip install -q --no-deps -e . -r requirements-fakesnow.txt; \
		else "$(UV)" pip install -q --python $(PY) --no-deps -e . -r requirements-fakesnow.txt; fi; fi
	@$(PY) -c "import airflow, cosmos, airlock" && touch $@

$(DBT_VENV)/.installed: requirements-dbt.lock | $(uv_dep)
	$(call make_venv,$(DBT_VENV),requirements-dbt.lock)
	@$(DBT_VENV)/bin/dbt --version >/dev/null && touch $@

venv: $(VENV)/.installed $(DBT_VENV)/.installed ## Create both virtualenvs (Airflow's and dbt's own) from the locks

lock: | $(filter $(CURDIR)/$(UV_VENV)/bin/uv,$(UV)) ## Re-resolve requirements-<env>.lock after editing requirements*.txt (keeps other versions)
	@$(PYTHON) -m airlock.packaging.locks --uv "$(UV)"

lock-upgrade: | $(filter $(CURDIR)/$(UV_VENV)/bin/uv,$(UV)) ## Re-resolve the locks to the newest versions the requirements allow
	@$(PYTHON) -m airlock.packaging.locks --uv "$(UV)" --upgrade

demo: venv manifest ## Main job: end-to-end demo on the embedded default (local AWS endpoint + real Airflow)
	@$(PY) -m airlock demo $(DEMO_ARGS)

dev: venv manifest ## The same local stack, left running with the UI on http://localhost:8080 (Ctrl-C stops it)
	@$(PY) -m airlock dev

# Three pytest workers by default, on 2 cores: the end-to-end modules mostly wait on Airflow (tests/conftest.py
# says how the work is split; serially the suite takes about an hour). TEST_WORKERS=0: one process.
TEST_WORKERS ?= 3
test: venv manifest ## All the tests (TEST_WORKERS=3 pytest workers side by side)
	@$(PY) -m pytest $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder)

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
