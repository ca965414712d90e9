"""Real Airflow runs of the dbt task group: two tenants at once, one of them failing a dbt test.

Each run is an `airflow dags test` process with its own AIRFLOW_HOME (SQLite allows one writer), on a
throwaway DAG shaped like the processing DAG: claim >> dbt task group, in LOCAL per-model mode (one `dbt build`
per model task, Cosmos), which stays available by configuration; the default, one build per run, is
tests/dbt/test_runner.py's and tests/dbt/test_build_run.py's subject.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.dbt.conftest import NEGATIVE_STOCK, REPO, load_raw, query
from tests.waiting import patience

DAG_FILE = '''
"""Throwaway processing DAG for tests/dbt/test_cosmos_run.py (the text must say airflow)."""
import os
from datetime import datetime

from airflow.sdk import DAG, task

from airlock.settings import load_settings
from airlock.tenants import load_dataflows
from airlock.transform.steps import dbt_steps

settings = load_settings()
flow = load_dataflows(settings.dataflows_dir)["inventory"]

with DAG("t_inventory", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):

    @task
    def claim() -> dict:
        tenant = os.environ["T_TENANT"]
        return {"tenant_id": tenant, "batch_id": "20261102", "dataflow": "inventory",
                "tenant_schema": f"tenant_{tenant}"}

    claim() >> dbt_steps(flow, settings).entry
'''


def airflow_env(home: Path, dags: Path, warehouse: Path, tenant: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AIRLOCK_"))}
    return {
        **env,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "false",
        "AIRFLOW__COSMOS__CACHE_DIR": str(home / "cosmos"),
        "DO_NOT_TRACK": "1",
        "PYTHONPATH": str(REPO / "include"),
        "AIRLOCK_HOME": str(REPO),
        "AIRLOCK_WAREHOUSE_DIR": str(warehouse),
        "T_TENANT": tenant,
        "AIRLOCK_DBT_MODE": "local",
    }


def task_states(home: Path) -> dict[str, str]:
    with sqlite3.connect(home / "airflow.db") as db:
        return dict(db.execute("select task_id, state from task_instance").fetchall())


def test_two_tenants_run_at_once_and_a_failing_dbt_test_fails_only_its_task(tmp_path: Path) -> None:
    dags, warehouse = tmp_path / "dags", tmp_path / "warehouse"
    dags.mkdir()
    (dags / "t_inventory.py").write_text(DAG_FILE)
    load_raw(warehouse, "acme", "inventory")
    load_raw(warehouse, "initech", "inventory", overrides={"stock": NEGATIVE_STOCK})
    airflow = str(Path(sys.executable).with_name("airflow"))
    procs = {}
    for tenant in ("acme", "initech"):
        home = tmp_path / f"home-{tenant}"
        home.mkdir()
        env = airflow_env(home, dags, warehouse, tenant)
        script = f"{airflow} db migrate >/dev/null 2>&1 && exec {airflow} dags test t_inventory"
        # Output to files, not pipes: an undrained pipe would stall the other run.
        with (tmp_path / f"{tenant}.log").open("w") as out:
            procs[tenant] = subprocess.Popen(["bash", "-c", script], env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + patience(300)
    for tenant, proc in procs.items():
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for other in procs.values():
                other.kill()
            seen = {t: task_states(tmp_path / f"home-{t}") for t in procs}
            pytest.fail(
                f"`airflow dags test` of {tenant} still running after {patience(300):.0f}s "
                f"(load average {os.getloadavg()[0]:.1f}); task states: {seen}; "
                f"log tail: {(tmp_path / f'{tenant}.log').read_text()[-1500:]}"
            )
    logs = {tenant: (tmp_path / f"{tenant}.log").read_text() for tenant in procs}

    acme = task_states(tmp_path / "home-acme")
    assert set(acme.values()) == {"success"}, (acme, logs["acme"][-3000:])
    assert len(acme) == 5, "claim + seed + three models: one task per node"

    initech = task_states(tmp_path / "home-initech")
    assert initech["dbt.stg_stock_model_build"] == "failed"
    assert initech["dbt.int_stock_latest_model_build"] == "upstream_failed"
    assert initech["dbt.fct_stock_levels_model_build"] == "upstream_failed"
    assert initech["dbt.stock_status_bands_seed_build"] == "success"
    # dbt's own message is in the failed task's log.
    assert "Failure in test not_negative_stg_stock_quantity" in logs["initech"]

    # acme's run was not disturbed, and its queries name the Airflow DAG, run and task that sent them.
    assert query(warehouse, "acme", "select count(*) from tenant_acme.fct_stock_levels") == [(4,)]
    rows = query(
        warehouse, "acme", "select query_text from tenant_acme_audit.query_log where query_text like '%fct_stock%'"
    )
    comments = [json.loads(t[t.rindex("/* ") + 3 : t.rindex(" */")]) for (t,) in rows if "/* {" in t]
    fct = [c for c in comments if c["model"] == "model.airlock.fct_stock_levels"]
    assert fct[0]["dag_id"] == "t_inventory"
    assert fct[0]["task_id"] == "dbt.fct_stock_levels_model_build"
    assert fct[0]["run_id"].startswith("manual__")
    assert {c["tenant_id"] for c in comments} == {"acme"}
    # Nothing of initech's failed run reached acme's file, nor the reverse.
    schemas = {r[0] for r in query(warehouse, "initech", "select distinct table_schema from information_schema.tables")}
    assert all(s.startswith("tenant_initech") for s in schemas)
