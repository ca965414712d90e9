"""The Airflow calls day-2 work makes, through the REST API (the same on a laptop, Astro and MWAA).

A re-run uses Airflow's own partition-aware mechanism: `POST /dags/{dag}/clearDagRuns` with the batch's
`partition_key` (the REST twin of `airflow dags clear DAG --partition-key KEY`) re-queues the runs that
processed the batch, so the UI shows the new try beside the first. Where Airflow has no run for the key
(its metadata was cleaned up, or the batch was never processed), a run is triggered with that
`partition_key`. `airflow backfill create` does not fit here: it walks a partition-*date* range of a
time-partitioned timetable, and processing runs are keyed `<tenant>|<batch_id>` by asset events.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

from airlock.devstack.airflow_api import AirflowApi
from airlock.errors import ConfigError

ACTIVE_STATES = ["queued", "running"]


def connect(url: str | None = None, token: str | None = None) -> AirflowApi:
    """The deployment's API: `--airflow-url`, else AIRLOCK_AIRFLOW_URL; token from AIRLOCK_AIRFLOW_TOKEN.

    On Astro the token is a Deployment API token; locally (`airlock dev`) none is needed.
    """
    base = url or os.environ.get("AIRLOCK_AIRFLOW_URL")
    if not base:
        raise ConfigError(
            "no Airflow API to ask: pass --airflow-url or set AIRLOCK_AIRFLOW_URL (with AIRLOCK_AIRFLOW_TOKEN "
            "where the API needs a token); `airlock dev` writes both into var/devstack/env.sh"
        )
    return AirflowApi(base, token=token or os.environ.get("AIRLOCK_AIRFLOW_TOKEN") or None)


@dataclass(frozen=True)
class Started:
    """How a batch's new attempt was asked of Airflow."""

    partition_key: str
    how: Literal["cleared", "triggered"]
    run_ids: tuple[str, ...]

    def describe(self) -> str:
        verb = "cleared run" if self.how == "cleared" else "triggered run"
        return f"{verb}{'s' if len(self.run_ids) > 1 else ''} {', '.join(self.run_ids)}"


def rerun_partition(api: AirflowApi, dag_id: str, partition_key: str, note: str) -> Started:
    """Clear the key's runs (partition-aware); trigger one with the key where Airflow has none."""
    cleared = api.clear_partition(dag_id, partition_key, note=note)
    if cleared:
        return Started(partition_key, "cleared", tuple(r["dag_run_id"] for r in cleared))
    run: dict[str, Any] = api.trigger(dag_id, partition_key=partition_key, conf={"airlock": note})
    return Started(partition_key, "triggered", (run["dag_run_id"],))


def active_runs(api: AirflowApi, tenant_id: str) -> list[dict[str, Any]]:
    """Queued or running runs of any DAG whose partition key is the tenant's (`<tenant>|...`)."""
    return api.dag_runs("~", state=ACTIVE_STATES, partition_key_prefix=f"{tenant_id}|", limit=1000)
