"""Airflow DAG `airlock_router`: SQS hints → snapshots → one partitioned event per complete batch.

Scheduled on the `landing` asset, whose AssetWatchers listen on the shared notification queue and on
each dedicated tenant's queue (events pushed to `landing` through the REST API work the same). Watcher
events carry no partition key, so this DAG re-emits them as `snapshot/<dataflow>` events keyed
`<tenant>|<batch_id>`, only for batches it has just snapshotted (a run that commits nothing emits
nothing). The snapshot assets are inlets too: the run reads back which events Airflow recorded. So is
`landing`: the run also reads landing events recorded after its own, which Airflow 3.3 can leave
in no run's queue (airlock.tasks.landing_extras).
"""

from airflow.sdk import DAG, task

from airlock.assets import landing_asset, snapshot_asset
from airlock.dag_defaults import TAGS, default_args
from airlock.settings import load_settings
from airlock.tenants import load_dataflows

settings = load_settings()
dataflows = load_dataflows(settings.dataflows_dir)

landing = landing_asset(settings)

with DAG(
    dag_id="airlock_router",
    schedule=landing,
    default_args=default_args(),
    tags=[*TAGS, "router"],
    max_active_runs=8,
    doc_md=__doc__,
):
    snapshots = [snapshot_asset(flow) for flow in dataflows.values()]

    @task(outlets=snapshots, inlets=[*snapshots, landing])
    def route(triggering_asset_events=None, outlet_events=None, inlet_events=None, task=None, dag=None, run_id=None):
        from airlock import tasks

        owner = f"{dag.dag_id}/{run_id}"
        return tasks.route(triggering_asset_events, outlet_events, owner, inlet_events, task)

    route()
