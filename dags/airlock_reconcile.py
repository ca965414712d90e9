"""Airflow DAG `airlock_reconcile`: the periodic sweep that makes lost SQS messages harmless.

The SQS watcher deletes a message when it receives it, so a triggerer crash loses it. This sweep
lists the landing zone, snapshots complete batches that have none, re-emits snapshots no run
picked up (only if Airflow recorded no event for them: the snapshot assets are inlets), raises
late-batch alerts, and now and then quarantines what lies under no tenant's prefix. Where the
landing zone is a plain folder, it is the only trigger.
"""

from airflow.sdk import DAG, task

from airlock.assets import snapshot_asset
from airlock.dag_defaults import TAGS, default_args
from airlock.settings import load_settings
from airlock.tenants import load_dataflows

settings = load_settings()
dataflows = load_dataflows(settings.dataflows_dir)

with DAG(
    dag_id="airlock_reconcile",
    schedule=settings.reconcile_interval,
    default_args=default_args(),
    tags=[*TAGS, "reconcile"],
    max_active_runs=1,
    catchup=False,
    doc_md=__doc__,
):
    snapshots = [snapshot_asset(flow) for flow in dataflows.values()]

    @task(outlets=snapshots, inlets=snapshots)
    def sweep(outlet_events=None, inlet_events=None, task=None, dag=None, run_id=None) -> dict:
        from airlock import tasks

        return tasks.reconcile(outlet_events, f"{dag.dag_id}/{run_id}", inlet_events, task)

    sweep()
