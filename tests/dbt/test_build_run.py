"""One dbt build per run under the real scheduler, triggerer, DAG processor and API server.

One stack (folder landing zone), two DAGs:
- the real `process_inventory` (dags/processing.py, the default: one build task, one asset event per
  model), fed by committed snapshots made by the real intake: acme succeeds, initech fails a data test,
  hooli fails a model (a model of the project copy that breaks for hooli only) and retries;
- `t_inventory_tasks`, a throwaway DAG shaped like it (claim from conf >> dbt step) with
  AIRLOCK_DBT_MODEL_STATUS=tasks: one task per node, started and ended in the triggerer.
Every wait has a deadline and, when it gives up, says what it saw (issue 15: no bare `None`).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airlock.devstack import LocalStack
from airlock.devstack.local_aws import free_port
from airlock.intake import Intake
from airlock.settings import load_settings
from airlock.storage import open_storage
from airlock.tenants import load_registry
from tests.dbt.conftest import DBT, PROJECT, REPO, query

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

BATCH = "20261120"
FAILS_FOR_HOOLI = """{{ config(materialized='table', tags=['inventory']) }}
-- Breaks for one tenant only: the model error of tests/dbt/test_build_run.py.
select {{ 'no_such_column' if var('tenant_id') == 'hooli' else 'count(*)' }} as stock_rows
from {{ ref('stg_stock') }}
"""
TASKS_DAG = '''
"""Throwaway airflow DAG for tests/dbt/test_build_run.py: the dbt step in tasks mode, tenant from conf."""
import os
from datetime import datetime

from airflow.sdk import DAG, get_current_context, task

from airlock.settings import load_settings
from airlock.tenants import load_dataflows
from airlock.transform.steps import dbt_steps

settings = load_settings()
flow = load_dataflows(settings.dataflows_dir)["inventory"]
environ = {**os.environ, "AIRLOCK_DBT_MODEL_STATUS": "tasks"}

with DAG("t_inventory_tasks", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):

    @task
    def claim() -> dict:
        run = get_current_context()["dag_run"]
        tenant = run.conf["tenant"]
        return {"tenant_id": tenant, "batch_id": "20261120", "dataflow": "inventory",
                "tenant_schema": f"tenant_{tenant}", "claimed_at": run.run_id}

    claim() >> dbt_steps(flow, settings, environ=environ).entry
'''


def stock_csv(tenant: str, warehouse: int = 1) -> str:
    quantity = -3 if tenant == "initech" else 7  # initech's batch fails not_negative on stg_stock
    rows = [f"w-{tenant}-{warehouse},sku-{i:03d},{quantity + i},2026-11-20T06:00:00" for i in range(4)]
    return "warehouse_id,sku,quantity,counted_at\n" + "\n".join(rows) + "\n"


def wait_until(what: str, check: Callable[[], Any], seen: Callable[[], Any], deadline_s: float) -> Any:
    """Poll `check` until it returns something truthy; past the deadline, fail saying what was seen."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(1)
    pytest.fail(f"{what}: not reached within {deadline_s:.0f}s; last seen: {json.dumps(seen(), default=str)[:3000]}")


def task_rows(db: Path, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "select task_id, state, queued_dttm, try_number from task_instance where dag_id = ? and run_id = ?",
            (dag_id, run_id),
        ).fetchall()
    return {t: {"state": s, "queued": q, "try_number": n} for t, s, q, n in rows}


def task_log(logs: Path, dag_id: str, run_id: str, task_id: str) -> str:
    """Everything logged for one task instance: worker attempts and the triggerer's part."""
    folders = [p for p in logs.rglob(f"task_id={task_id}") if f"run_id={run_id}" in str(p) and dag_id in str(p)]
    return "\n".join(f.read_text(errors="replace") for d in folders for f in sorted(d.rglob("*")) if f.is_file())


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The kit's project plus one model that fails for hooli, with its manifest built."""
    root = tmp_path_factory.mktemp("project") / "dbt_project"
    shutil.copytree(PROJECT, root, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    (root / "models" / "marts" / "inventory" / "fct_stock_rows.sql").write_text(FAILS_FOR_HOOLI)
    env = {**os.environ, "AIRLOCK_WAREHOUSE_DIR": str(root.parent / "parse"), "DO_NOT_TRACK": "1"}
    done = subprocess.run(
        [str(DBT), "parse", "--project-dir", str(root), "--profiles-dir", str(root), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return root


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, project: Path) -> Any:
    root = tmp_path_factory.mktemp("build_run")
    dags, tenants = root / "dags", root / "tenants"
    dags.mkdir()
    tenants.mkdir()
    for name in ("acme", "initech"):
        shutil.copy(REPO / "dags" / "registry" / "tenants" / f"{name}.yaml", tenants)
    # hooli: a third inventory tenant (the registry's own globex does not deliver inventory).
    text = (REPO / "dags" / "registry" / "tenants" / "initech.yaml").read_text()
    (tenants / "hooli.yaml").write_text(text.replace("initech", "hooli").replace("Initech", "Hooli"))
    shutil.copy(REPO / "dags" / "processing.py", dags / "processing.py")
    (dags / "t_inventory_tasks.py").write_text(TASKS_DAG)
    env = {
        "AIRLOCK_DBT_PROJECT_DIR": str(project),
        "AIRLOCK_DBT_RETRIES": "1",  # one retry, soon: hooli's model error is retried (and resumed)
        "AIRLOCK_DBT_RETRY_DELAY": "1",
        "AIRLOCK_WAREHOUSE_DIR": str(root / "warehouse"),
        "AIRLOCK_TENANTS_DIR": str(tenants),
        "AIRLOCK_DATAFLOWS_DIR": str(REPO / "dags" / "registry" / "dataflows"),
    }
    with LocalStack(
        root / "stack",
        ["acme", "hooli", "initech"],
        port=free_port(),
        landing="folder",
        dags_folder=dags,
        extra_env=env,
        wait_dags=["process_inventory", "t_inventory_tasks"],
    ) as started:
        yield started


@pytest.fixture(scope="module")
def processing(stack: Any) -> dict[str, Any]:
    """Three tenants' batches through the real intake, then one `process_inventory` run each."""
    settings = load_settings(stack.env)
    landing = Path(stack.env["AIRLOCK_LANDING_URL"])
    for tenant in ("acme", "hooli", "initech"):
        folder = landing / tenant / "inventory" / BATCH
        folder.mkdir(parents=True)
        # acme's contract expects two stock files per batch (completion rule count), the others one.
        for warehouse in (1, 2) if tenant == "acme" else (1,):
            (folder / f"stock_{warehouse}.csv").write_text(stock_csv(tenant, warehouse))
    registry = load_registry(settings.tenants_dir, settings.dataflows_dir)
    intake = Intake(
        registry,
        open_storage(settings.landing_url),
        open_storage(settings.raw_url),
        open_storage(settings.quarantine_url),
        snapshot_grace=settings.snapshot_grace,
        owner="tests/build_run",
    )
    report = intake.sweep(["acme", "hooli", "initech"])
    assert sorted(report.emitted("inventory")) == [f"{t}|{BATCH}" for t in ("acme", "hooli", "initech")]
    stack.api.unpause("process_inventory")
    run_ids = {
        tenant: stack.api.trigger("process_inventory", partition_key=f"{tenant}|{BATCH}")["dag_run_id"]
        for tenant in ("acme", "hooli", "initech")
    }
    db = stack.state_dir / "airflow" / "airflow.db"

    def runs() -> dict[str, Any]:
        return {r["dag_run_id"]: r for r in stack.api.dag_runs("process_inventory")}

    wait_until(
        "three process_inventory runs terminal",
        lambda: all(runs().get(i, {}).get("state") in ("success", "failed") for i in run_ids.values()),
        lambda: {
            t: (runs().get(i, {}).get("state"), task_rows(db, "process_inventory", i)) for t, i in run_ids.items()
        },
        900,
    )
    return {
        "runs": {t: runs()[i] for t, i in run_ids.items()},
        "tis": {t: task_rows(db, "process_inventory", i) for t, i in run_ids.items()},
        "log": lambda tenant, task: task_log(
            stack.state_dir / "airflow" / "logs", "process_inventory", run_ids[tenant], task
        ),
        "raw": Path(stack.env["AIRLOCK_RAW_URL"]),
        "warehouse": Path(stack.env["AIRLOCK_WAREHOUSE_DIR"]),
    }


def done_marker(raw: Path, tenant: str) -> dict[str, Any]:
    return json.loads((raw / tenant / "inventory" / BATCH / "_DONE.json").read_text())


def test_a_good_batch_is_one_build_task_and_one_event_per_model(processing: dict[str, Any], stack: Any) -> None:
    run, tis = processing["runs"]["acme"], processing["tis"]["acme"]
    assert run["state"] == "success", tis
    assert sorted(tis) == ["claim", "dbt_build", "load", "publish"], "four task instances per batch"
    assert {ti["state"] for ti in tis.values()} == {"success"}, "no skipped task on a successful run"
    assert run["note"] == f"tenant acme · batch {BATCH}", "the run names its tenant in Airflow's UI"
    assert done_marker(processing["raw"], "acme")["status"] == "success"
    assert query(processing["warehouse"], "acme", "select count(*) from tenant_acme.fct_stock_levels") == [(8,)]
    events = [
        e for e in stack.api.asset_events(source_dag_id="process_inventory") if e["partition_key"] == f"acme|{BATCH}"
    ]
    by_model = {e["extra"]["model"]: e["extra"] for e in events if e["name"].startswith("dbt/")}
    assert set(by_model) == {
        "model.airlock.stg_stock",
        "model.airlock.int_stock_latest",
        "model.airlock.fct_stock_levels",
        "model.airlock.fct_stock_rows",
    }
    assert (
        by_model["model.airlock.fct_stock_levels"]["status"],
        by_model["model.airlock.fct_stock_levels"]["rows"],
    ) == (
        "success",
        8,
    )
    log = processing["log"]("acme", "dbt_build")
    assert "dbt nodes of inventory: {'success': 5}" in log
    assert "OK created sql table model tenant_acme.fct_stock_levels" in log, "dbt's own lines, as text"


def test_a_failed_data_test_fails_the_run_once_with_dbts_message(processing: dict[str, Any]) -> None:
    run, tis = processing["runs"]["initech"], processing["tis"]["initech"]
    assert run["state"] == "failed", tis
    assert tis["dbt_build"]["state"] == "failed"
    assert tis["dbt_build"]["try_number"] == 1, "a failed data test is not retried"
    assert tis["publish"]["state"] == "upstream_failed"
    assert run["note"] == f"tenant initech · batch {BATCH}"
    log = processing["log"]("initech", "dbt_build")
    assert "not_negative_stg_stock_quantity: Got 3 results, configured to fail if != 0" in log, log[-3000:]
    assert "A failed data test is not retried" in log
    assert done_marker(processing["raw"], "initech")["status"] == "failed", "the failure callback recorded it"


def test_a_model_error_fails_the_run_after_a_retry_that_resumes(processing: dict[str, Any]) -> None:
    run, tis = processing["runs"]["hooli"], processing["tis"]["hooli"]
    assert run["state"] == "failed", tis
    assert (tis["dbt_build"]["state"], tis["dbt_build"]["try_number"]) == ("failed", 2)
    log = processing["log"]("hooli", "dbt_build")
    assert "model fct_stock_rows" in log and "no_such_column" in log, log[-3000:]
    assert "building ['fct_stock_rows']" in log, "the retry built only the failed model"
    assert done_marker(processing["raw"], "hooli")["status"] == "failed"
    assert query(processing["warehouse"], "hooli", "select count(*) from tenant_hooli.fct_stock_levels") == [(4,)]


def test_tasks_mode_model_tasks_end_in_the_triggerer_with_dbts_result(stack: Any, processing: dict[str, Any]) -> None:
    db = stack.state_dir / "airflow" / "airflow.db"
    stack.api.unpause("t_inventory_tasks")
    run_ids = {t: stack.api.trigger("t_inventory_tasks", conf={"tenant": t})["dag_run_id"] for t in ("acme", "initech")}

    def states() -> dict[str, Any]:
        return {r["dag_run_id"]: r["state"] for r in stack.api.dag_runs("t_inventory_tasks")}

    wait_until(
        "two t_inventory_tasks runs terminal",
        lambda: all(states().get(i) in ("success", "failed") for i in run_ids.values()),
        lambda: {t: (states().get(i), task_rows(db, "t_inventory_tasks", i)) for t, i in run_ids.items()},
        600,
    )
    acme = task_rows(db, "t_inventory_tasks", run_ids["acme"])
    models = {t: ti for t, ti in acme.items() if t.startswith("models.")}
    assert states()[run_ids["acme"]] == "success", acme
    assert len(models) == 5 and {ti["state"] for ti in models.values()} == {"success"}
    assert [t for t, ti in models.items() if ti["queued"] is not None] == [], "no model task took a worker"
    logs = stack.state_dir / "airflow" / "logs"
    assert "dbt model.airlock.fct_stock_levels: success, 8 rows" in task_log(
        logs, "t_inventory_tasks", run_ids["acme"], "models.fct_stock_levels"
    )
    initech = task_rows(db, "t_inventory_tasks", run_ids["initech"])
    assert states()[run_ids["initech"]] == "failed", initech
    assert initech["models.stg_stock"]["state"] == "failed"
    assert initech["models.int_stock_latest"]["state"] == "skipped", "dbt skipped it: its parent's test failed"
    assert initech["models.stock_status_bands"]["state"] == "success"
    stg_log = task_log(logs, "t_inventory_tasks", run_ids["initech"], "models.stg_stock")
    assert "not_negative_stg_stock_quantity: Got 3 results, configured to fail if != 0" in stg_log, stg_log[-3000:]
