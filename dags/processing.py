"""Airflow DAGs `process_<dataflow>`: one per dataflow (never one per tenant), one run per batch.

Each DAG is scheduled on the partitioned asset `snapshot/<dataflow>`; a run's partition key is
`<tenant>|<batch_id>` (shown as the run's note). Adding a tenant adds no DAG; adding
dags/registry/dataflows/<name>.yaml (and its dbt models) adds one, with no edit here.
claim → load → dbt (one isolated `dbt build` per run, docs/adr/0009) → publish. A task that fails for good
records the batch as failed; the run fails with it.
"""

from airflow.sdk import DAG, PartitionedAssetTimetable, task

from airlock.assets import snapshot_asset
from airlock.dag_defaults import TAGS, default_args
from airlock.settings import load_settings
from airlock.tasks import failure_recorder
from airlock.tenants import load_dataflows
from airlock.transform.config import load_dbt_runtime
from airlock.transform.steps import dbt_steps
from airlock.warehouse import writer_pool

settings = load_settings()
warehouse_pool = writer_pool(load_dbt_runtime(settings).target) or "default_pool"

for flow in load_dataflows(settings.dataflows_dir).values():
    with DAG(
        dag_id=flow.dag_id,
        schedule=PartitionedAssetTimetable(assets=snapshot_asset(flow)),
        default_args=default_args(),
        tags=[*TAGS, "processing", flow.dataflow],
        max_active_runs=settings.processing_max_active_runs,
        doc_md=f"{__doc__}\n\n**{flow.dataflow}**: {flow.description}",
    ):
        record_failure = failure_recorder(flow.dataflow)  # on the tasks that can fail a batch, not the model tasks

        @task(on_failure_callback=record_failure)
        def claim(dataflow: str = flow.dataflow, dag_run=None, dag=None) -> dict:
            from airlock import tasks

            return tasks.claim(dataflow, dag_run.partition_key, dag_run.run_id, dag.dag_id, dag_run.start_date)

        @task(pool=warehouse_pool, on_failure_callback=record_failure)
        def load(plan: dict) -> dict:
            from airlock import tasks

            return tasks.load(plan)

        @task(on_failure_callback=record_failure)
        def publish(plan: dict, rows: dict, dag_run=None, dag=None) -> dict:
            from airlock import tasks

            return tasks.publish(plan, rows, dag_run.run_id, dag.dag_id)

        plan = claim()
        rows = load(plan)
        dbt = dbt_steps(flow, settings, on_failure_callback=record_failure)
        rows >> dbt.entry
        dbt.exit >> publish(plan, rows)
