# Observability (owned by the observability area): tenant status, lineage, Datadog monitors.
.PHONY: status lineage monitors-plan

status: venv ## Newest batch of every tenant x dataflow, plus any quarantined, failed or late one with its reason (--json: airlock status --json)
	@$(PY) -m airlock status

lineage: venv manifest ## Lineage of every tenant (landing -> snapshot -> DAG -> dbt -> marts) to var/lineage/*.mmd|html
	@$(PY) -m airlock lineage

monitors-plan: venv ## Validate the Datadog monitors offline (static JSON + one freshness monitor per tenant)
	@$(PY) -m airlock monitors plan
