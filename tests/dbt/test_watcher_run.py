"""WATCHER mode under the real scheduler, triggerer and API server: two tenants' runs at once, one failing.

`airflow dags test` cannot run WATCHER (a deferrable consumer runs before its producer: FIELD-NOTES), so this
starts the dev stack (folder landing zone, no AWS) on a throwaway DAG shaped like the processing DAG:
claim >> dbt task group, with the tenant taken from the run's conf.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from airlock.devstack import LocalStack
from airlock.devstack.local_aws import free_port
from tests.dbt.conftest import NEGATIVE_STOCK, REPO, load_raw, query

pytestmark = pytest.mark.e2e

DAG_ID = "t_inventory_watcher"
DAG_FILE = f'''
"""Throwaway processing DAG for tests/dbt/test_watcher_run.py (the text must say airflow)."""
from datetime import datetime

from airflow.sdk import DAG, get_current_context, task

from airlock.settings import load_settings
from airlock.tenants import load_dataflows
from airlock.transform import dbt_task_group

settings = load_settings()
flow = load_dataflows(settings.dataflows_dir)["inventory"]

with DAG("{DAG_ID}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):

    @task
    def claim() -> dict:
        tenant = get_current_context()["dag_run"].conf["tenant"]
        return {{"tenant_id": tenant, "batch_id": "20261102", "dataflow": "inventory",
                "tenant_schema": f"tenant_{{tenant}}"}}

    claim() >> dbt_task_group(flow, settings)
'''


def _task_instances(db: Path, run_id: str) -> dict[str, dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "select task_id, state, queued_dttm, try_number from task_instance where run_id = ?", (run_id,)
        ).fetchall()
    return {t: {"state": s, "queued": q, "try_number": n} for t, s, q, n in rows}


def _task_log(logs: Path, run_id: str, task_id: str) -> str:
    """Everything logged for one task instance: worker attempts and the triggerer's part."""
    folders = [p for p in logs.rglob(f"task_id={task_id}") if f"run_id={run_id}" in str(p)]
    return "\n".join(
        f.read_text(errors="replace") for folder in folders for f in sorted(folder.rglob("*")) if f.is_file()
    )


def _raw_stock_without_quantity(warehouse: Path, tenant: str) -> None:
    """A raw table that makes stg_stock's SQL fail (a column it selects is missing): a dbt SQL error."""
    con = duckdb.connect(str(warehouse / f"{tenant}.duckdb"))
    try:
        con.execute(f"create schema if not exists tenant_{tenant}_raw")
        con.execute(
            f"create or replace table tenant_{tenant}_raw.stock (warehouse_id varchar, sku varchar, _batch_id varchar)"
        )
    finally:
        con.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("watcher")
    dags, warehouse = root / "dags", root / "warehouse"
    dags.mkdir()
    (dags / f"{DAG_ID}.py").write_text(DAG_FILE)
    load_raw(warehouse, "acme", "inventory")
    load_raw(warehouse, "initech", "inventory", overrides={"stock": NEGATIVE_STOCK})
    _raw_stock_without_quantity(warehouse, "globex")
    env = {
        "AIRLOCK_DBT_MODE": "watcher",
        "AIRLOCK_DBT_RETRIES": "1",  # one retry, soon: the retry path runs on a worker
        "AIRLOCK_DBT_RETRY_DELAY": "1",
        "AIRLOCK_WAREHOUSE_DIR": str(warehouse),
        "AIRLOCK_TENANTS_DIR": str(REPO / "dags" / "registry" / "tenants"),
        "AIRLOCK_DATAFLOWS_DIR": str(REPO / "dags" / "registry" / "dataflows"),
        "AIRFLOW__COSMOS__CACHE_DIR": str(root / "cosmos"),
    }
    state = root / "stack"
    with LocalStack(
        state, ["acme"], port=free_port(), landing="folder", dags_folder=dags, extra_env=env, wait_dags=[DAG_ID]
    ) as stack:
        run_ids = {
            tenant: stack.api.trigger(DAG_ID, conf={"tenant": tenant})["dag_run_id"]
            for tenant in ("acme", "initech", "globex")
        }
        deadline = time.monotonic() + 240
        finished: dict[str, str] = {}
        while time.monotonic() < deadline and len(finished) < len(run_ids):
            for run in stack.api.dag_runs(DAG_ID):
                if run["state"] in ("success", "failed"):
                    finished[run["dag_run_id"]] = run["state"]
            time.sleep(1)
        db = state / "airflow" / "airflow.db"
        yield {
            "warehouse": warehouse,
            "run_ids": run_ids,
            "states": {tenant: finished.get(run_id) for tenant, run_id in run_ids.items()},
            "tis": {tenant: _task_instances(db, run_id) for tenant, run_id in run_ids.items()},
            "log": lambda tenant, task_id: _task_log(state / "airflow" / "logs", run_ids[tenant], task_id),
        }


def test_a_good_run_succeeds_and_its_models_never_occupy_a_worker(runs: dict[str, Any]) -> None:
    assert runs["states"]["acme"] == "success", runs["tis"]["acme"]
    tis = runs["tis"]["acme"]
    models = {t: ti for t, ti in tis.items() if t.startswith("dbt.") and "producer" not in t}
    assert len(models) == 4, "seed + three models: one task per dbt node, tests included"
    assert {ti["state"] for ti in models.values()} == {"success"}
    # Started and ended in the triggerer: never queued for an executor.
    assert [t for t, ti in models.items() if ti["queued"] is not None] == []
    assert tis["dbt.dbt_producer_watcher"]["queued"] is not None, "the producer is an ordinary worker task"
    assert "dbt model.airlock.fct_stock_levels: success" in runs["log"]("acme", "dbt.fct_stock_levels_run")
    assert query(runs["warehouse"], "acme", "select count(*) from tenant_acme.fct_stock_levels") == [(4,)]


def test_a_failing_dbt_test_fails_its_models_task_with_dbts_message(runs: dict[str, Any]) -> None:
    assert runs["states"]["initech"] == "failed"
    tis = runs["tis"]["initech"]
    assert tis["dbt.stg_stock_run"]["state"] == "failed"
    assert tis["dbt.int_stock_latest_run"]["state"] == "upstream_failed"
    assert tis["dbt.fct_stock_levels_run"]["state"] == "upstream_failed"
    assert tis["dbt.stock_status_bands_seed"]["state"] == "success"
    log = runs["log"]("initech", "dbt.stg_stock_run")
    # Try 1 ended in the triggerer with dbt's message for the failed test...
    assert "not_negative_stg_stock_quantity.4763315427 failed" in log, log[-3000:]
    assert "Got 1 result, configured to fail if != 0" in log
    assert "dbt tests of model.airlock.stg_stock failed" in log
    # ...and the retry ran on a worker: `dbt build` of the model, so its tests ran (and failed) again.
    assert tis["dbt.stg_stock_run"]["try_number"] == 2
    assert tis["dbt.stg_stock_run"]["queued"] is not None
    assert "Failure in test not_negative_stg_stock_quantity" in log
    # The failure stayed in initech's file: acme's run is the other test's subject, untouched by this one.
    schemas = {
        r[0] for r in query(runs["warehouse"], "initech", "select distinct table_schema from information_schema.tables")
    }
    assert all(s.startswith("tenant_initech") for s in schemas)


def test_a_sql_error_fails_the_models_task_with_dbts_error_on_first_try_and_retry(runs: dict[str, Any]) -> None:
    assert runs["states"]["globex"] == "failed"
    tis = runs["tis"]["globex"]
    assert tis["dbt.stg_stock_run"]["state"] == "failed"
    assert tis["dbt.stg_stock_run"]["try_number"] == 2
    assert tis["dbt.int_stock_latest_run"]["state"] == "upstream_failed"
    assert tis["dbt.stock_status_bands_seed"]["state"] == "success"
    log = runs["log"]("globex", "dbt.stg_stock_run")
    assert "Binder Error" in log and "quantity" in log, log[-3000:]
