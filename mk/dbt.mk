# dbt targets (owned by the dbt area). `manifest` must exist: demo/test depend on it.
.PHONY: manifest
manifest: $(DBT_VENV)/.installed ## Build dbt_project/target/manifest.json ahead of deploy (Cosmos reads it)
	@echo "==> (placeholder) manifest"
