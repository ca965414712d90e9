"""Processing runs show their tenant and batch where people look: the run's note in Airflow's UI.

Airflow names an asset-triggered run `asset_triggered__<time>`; its partition key (`<tenant>|<batch_id>`)
is on the run but not in the runs list. A listener sets the note when the scheduler starts the run, so
the grid, the run header and the runs list say whose batch it is. Registered by plugins/airlock_run_notes.py.
"""

from __future__ import annotations

from typing import Any

from airflow.listeners import hookimpl

PROCESSING_DAG_PREFIX = "process_"


def note_for(dag_id: str, partition_key: str | None) -> str | None:
    """`tenant acme · batch 20261102` for a processing run with a well-formed key; None otherwise."""
    if not dag_id.startswith(PROCESSING_DAG_PREFIX) or not partition_key or partition_key.count("|") != 1:
        return None
    tenant_id, batch_id = partition_key.split("|")
    return f"tenant {tenant_id} · batch {batch_id}"


@hookimpl
def on_dag_run_running(dag_run: Any, msg: str) -> None:
    """Runs in the scheduler, inside the transaction that starts the run: the note is saved with it."""
    note = note_for(str(dag_run.dag_id), getattr(dag_run, "partition_key", None))
    if note and not dag_run.note:
        dag_run.note = note
