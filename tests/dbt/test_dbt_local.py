"""The dbt project on the local target: tenants isolated, queries attributed, runs concurrent.

dbt's start-up dominates here (several seconds per invocation on two cores), so runs are started in
parallel and each test asserts several properties of the same runs.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.dbt.conftest import dbt_cmd, dbt_env, load_raw, query, run_vars

AIRFLOW_CTX = {
    "AIRFLOW_CTX_DAG_RUN_ID": "asset_triggered__acme|20261102",
    "AIRFLOW_CTX_TASK_ID": "dbt.fct_orders_model_build",
}


def start(project: Path, run_dir: Path, warehouse: Path, vars_: str, *args: str) -> subprocess.Popen[str]:
    flow = vars_.split("dataflow: ")[1].split(",")[0]
    return subprocess.Popen(
        dbt_cmd(project, run_dir, *args, "--vars", vars_),
        env=dbt_env(warehouse, {**AIRFLOW_CTX, "AIRFLOW_CTX_DAG_ID": f"process_{flow}"}),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_concurrent_runs_stay_in_their_tenant_and_attribute_every_query(
    tmp_path: Path, project_copy: Path, warehouse: Path
) -> None:
    # An analyst's model that tries to write into another tenant's schema.
    (project_copy / "models" / "marts" / "orders" / "sneaky.sql").write_text(
        "{{ config(schema='tenant_globex', materialized='table') }}\nselect 1 as id\n"
    )
    for tenant, flow in (("acme", "orders"), ("acme", "inventory"), ("globex", "orders"), ("initech", "inventory")):
        load_raw(warehouse, tenant, flow)
    runs = {
        (tenant, flow): start(
            project_copy,
            tmp_path / f"run-{tenant}-{flow}",
            warehouse,
            run_vars(tenant, flow),
            "build",
            "--select",
            f"tag:{flow}",
        )
        for tenant, flow in (("acme", "orders"), ("acme", "inventory"), ("globex", "orders"), ("initech", "inventory"))
    }
    outputs = {key: proc.communicate(timeout=240)[0] for key, proc in runs.items()}
    for key, proc in runs.items():
        # Two runs of acme share acme.duckdb: the second waits on DuckDB's file lock (profile retries).
        assert proc.returncode == 0, (key, outputs[key][-3000:])

    # Each run had its own target/ and logs/ (Cosmos gives each task its own project copy).
    assert (tmp_path / "run-acme-orders" / "target" / "run_results.json").exists()
    assert (tmp_path / "run-globex-orders" / "logs" / "dbt.log").exists()

    for tenant in ("acme", "globex"):
        sql = "select distinct table_schema from information_schema.tables"
        schemas = {row[0] for row in query(warehouse, tenant, sql)}
        assert schemas == {
            f"tenant_{tenant}",
            f"tenant_{tenant}_raw",
            f"tenant_{tenant}_audit",
            f"tenant_{tenant}_tenant_globex",
        }
        (net,) = query(warehouse, tenant, f"select sum(net_amount) from tenant_{tenant}.fct_orders")[0]
        assert float(net) == 372.75  # 120.50 + 37.00 (restated) + 0 (fully refunded) + 200.00 + 15.25
    # The sneaky model landed under acme's own prefix, in acme's own file.
    assert query(warehouse, "acme", "select count(*) from tenant_acme_tenant_globex.sneaky") == [(1,)]
    assert query(warehouse, "acme", "select distinct _tenant_id from tenant_acme.fct_orders") == [("acme",)]
    assert query(warehouse, "acme", "select count(*) from tenant_acme.fct_stock_levels") == [(4,)]
    assert query(warehouse, "initech", "select count(*) from tenant_initech.fct_stock_levels") == [(4,)]
    assert_cost_attribution(warehouse)


def assert_cost_attribution(warehouse: Path) -> None:
    """Every statement of acme's run carries tenant, dataflow, batch, DAG, run, task and model, read back
    from the warehouse (DuckDB's query log, persisted by the on-run-end hook)."""
    rows = query(warehouse, "acme", "select query_text from tenant_acme_audit.query_log")
    comments = [json.loads(text[text.rindex("/* ") + 3 : text.rindex(" */")]) for (text,) in rows if "/* {" in text]
    assert len(comments) > 20
    fct = [c for c in comments if c["model"] == "model.airlock.fct_orders"]
    assert fct, "the model's own statements are attributed to it"
    assert fct[0] | {"invocation_id": None} == {
        "app": "airlock",
        "tenant_id": "acme",
        "dataflow": "orders",
        "batch_id": "20261102",
        "dag_id": "process_orders",
        "run_id": "asset_triggered__acme|20261102",
        "task_id": "dbt.fct_orders_model_build",
        "model": "model.airlock.fct_orders",
        "invocation_id": None,
    }
    assert {c["tenant_id"] for c in comments} == {"acme"}
    assert {c["dataflow"] for c in comments} == {"orders", "inventory"}
    assert [t for (t,) in rows if "create" in t and "fct_orders" in t], "the model's DDL is logged with its comment"


def test_runs_that_would_leave_their_tenant_are_refused(tmp_path: Path, project_copy: Path, warehouse: Path) -> None:
    (project_copy / "models" / "marts" / "orders" / "sneaky_db.sql").write_text(
        "{{ config(database='globex', materialized='table') }}\nselect 1 as id\n"
    )
    load_raw(warehouse, "acme", "orders")
    load_raw(warehouse, "globex", "orders")
    other_db = start(
        project_copy, tmp_path / "r1", warehouse, run_vars("acme", "orders"), "run", "--select", "sneaky_db"
    )
    bad_schema = start(
        project_copy,
        tmp_path / "r2",
        warehouse,
        "{tenant_id: acme, tenant_schema: 'tenant_globex; drop', dataflow: orders, batch_id: b1}",
        "build",
        "--select",
        "stg_orders",
    )
    other_out, bad_out = other_db.communicate(timeout=120)[0], bad_schema.communicate(timeout=120)[0]
    # Naming another tenant's database fails: only the run's own DuckDB file is attached.
    assert other_db.returncode != 0
    assert 'Catalog "globex" does not exist' in other_out
    # A tenant_schema that is not a plain identifier is refused before anything is written.
    assert bad_schema.returncode != 0
    assert "is not a valid schema name" in bad_out
    tables = {row[0] for row in query(warehouse, "globex", "select table_name from information_schema.tables")}
    assert "sneaky_db" not in tables
