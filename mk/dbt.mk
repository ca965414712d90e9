# dbt targets (owned by the dbt area). `manifest` must exist: demo/test depend on it.
# dbt always runs from its own virtualenv ($(DBT_VENV)); Airflow reads only the manifest.
DBT_DIR      := dbt_project
DBT          := $(CURDIR)/$(DBT_VENV)/bin/dbt
SQLFLUFF     := $(CURDIR)/$(DBT_VENV)/bin/sqlfluff
# The analysts' loop builds one demo tenant into its own DuckDB file under var/.
DBT_DEV_DIR  := $(CURDIR)/var/dbt-dev
DBT_DEV_VARS := {tenant_id: dev, tenant_schema: dev, dataflow: all, batch_id: local, load_samples: true}
# Every dbt command rewrites <target-path>/manifest.json: the loop keeps off the one Cosmos renders from.
DBT_DEV_TARGET := --target-path target/dev
DBT_SOURCES  := $(shell find $(DBT_DIR) -path $(DBT_DIR)/target -prune -o \( -name '*.sql' -o -name '*.yml' -o -name '*.csv' \) -print 2>/dev/null)

.PHONY: manifest dbt-build lint-sql dbt-docs

# Parsing needs no warehouse, but dbt-duckdb opens the profile's path: point it at a scratch dir.
$(DBT_DIR)/target/manifest.json: $(DBT_VENV)/.installed $(DBT_SOURCES)
	@echo "==> dbt parse -> $@"
	@mkdir -p $(DBT_DEV_DIR)
	@cd $(DBT_DIR) && AIRLOCK_WAREHOUSE_DIR=$(DBT_DEV_DIR) $(DBT) parse --profiles-dir . --target local --quiet
	@touch $@

manifest: $(DBT_DIR)/target/manifest.json ## Build dbt_project/target/manifest.json ahead of deploy (Cosmos reads it)

dbt-build: $(DBT_VENV)/.installed ## Analysts' loop: load sample data, dbt build into var/dbt-dev/dev.duckdb
	@mkdir -p $(DBT_DEV_DIR)
	@cd $(DBT_DIR) && AIRLOCK_WAREHOUSE_DIR=$(DBT_DEV_DIR) $(DBT) seed --profiles-dir . $(DBT_DEV_TARGET) --select tag:samples --vars '$(DBT_DEV_VARS)'
	@cd $(DBT_DIR) && AIRLOCK_WAREHOUSE_DIR=$(DBT_DEV_DIR) $(DBT) build --profiles-dir . $(DBT_DEV_TARGET) --exclude tag:samples --vars '$(DBT_DEV_VARS)'
	@echo "==> source freshness (the samples are dated 2026-11-01: expect them to show as stale)"
	@cd $(DBT_DIR) && AIRLOCK_WAREHOUSE_DIR=$(DBT_DEV_DIR) $(DBT) source freshness --profiles-dir . $(DBT_DEV_TARGET) --vars '$(DBT_DEV_VARS)' || true
	@echo "==> built into $(DBT_DEV_DIR)/dev.duckdb (open it with: duckdb $(DBT_DEV_DIR)/dev.duckdb)"

lint-sql: $(DBT_VENV)/.installed ## sqlfluff lint of the dbt models and tests (dbt templater, DuckDB dialect)
	@mkdir -p $(DBT_DEV_DIR)
	@cd $(DBT_DIR) && AIRLOCK_WAREHOUSE_DIR=$(DBT_DEV_DIR) $(SQLFLUFF) lint models data-tests

dbt-docs: dbt-build ## dbt docs generate into dbt_project/target/docs (Airflow: Browse > dbt Docs, via plugins/)
	@# Its own target path: the docs run must not overwrite the manifest Cosmos renders from.
	@cd $(DBT_DIR) && AIRLOCK_WAREHOUSE_DIR=$(DBT_DEV_DIR) $(DBT) docs generate --profiles-dir . --vars '$(DBT_DEV_VARS)' --target-path target/docs
	@echo "==> docs in $(DBT_DIR)/target/docs/index.html; preview: cd $(DBT_DIR) && $(DBT) docs serve --profiles-dir . --target-path target/docs"
