"""Airflow DAG `airlock_router`: SQS hints → snapshots → one partitioned event per complete batch.

Scheduled on the `landing` asset, whose AssetWatchers listen on each tenant's SQS queue. Watcher
events carry no partition key, so this DAG re-emits them as `snapshot/<dataflow>` events keyed
`<tenant>|<batch_id>`, only for batches it has just snapshotted.
"""

from airflow.sdk import DAG, task

from airlock.assets import landing_asset, snapshot_asset
from airlock.dag_defaults import TAGS, default_args
from airlock.settings import load_settings
from airlock.tenants import load_dataflows, tenant_ids

settings = load_settings()
dataflows = load_dataflows(settings.dataflows_dir)

with DAG(
    dag_id="airlock_router",
    schedule=landing_asset(settings, tenant_ids(settings.tenants_dir)),
    default_args=default_args(),
    tags=[*TAGS, "router"],
    max_active_runs=8,
    doc_md=__doc__,
):

    @task(outlets=[snapshot_asset(flow) for flow in dataflows.values()])
    def route(triggering_asset_events=None, outlet_events=None, dag=None, run_id=None) -> dict:
        from airlock import tasks

        return tasks.route(triggering_asset_events, outlet_events, owner=f"{dag.dag_id}/{run_id}")

    route()
