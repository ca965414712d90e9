# Observability (owned by the observability area): tenant status, lineage, Datadog monitors.
.PHONY: status lineage monitors-plan

status: venv ## Last batch of every tenant x dataflow: waiting, late, quarantined, snapshotted, processing, done, failed
	@$(PY) -m airlock status

lineage: venv manifest ## Lineage of every tenant (landing -> snapshot -> DAG -> dbt -> marts) to var/lineage/*.mmd|html
	@$(PY) -m airlock lineage

monitors-plan: venv ## Validate the Datadog monitors offline (static JSON + one freshness monitor per tenant)
	@$(PY) -m airlock monitors plan
