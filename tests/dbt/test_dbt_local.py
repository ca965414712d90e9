"""The dbt project on the local target: tenants isolated, queries attributed, failures reported, runs concurrent."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.dbt.conftest import PROJECT, dbt_cmd, dbt_env, load_raw, query, run_dbt, run_vars

AIRFLOW_CTX = {
    "AIRFLOW_CTX_DAG_ID": "process_orders",
    "AIRFLOW_CTX_DAG_RUN_ID": "asset_triggered__acme|20261102",
    "AIRFLOW_CTX_TASK_ID": "dbt.fct_orders_model_build",
}


def test_two_tenants_build_concurrently_each_into_its_own_file_and_schema(tmp_path: Path, warehouse: Path) -> None:
    load_raw(warehouse, "acme", "orders")
    load_raw(warehouse, "globex", "orders")
    load_raw(warehouse, "initech", "inventory")
    runs = {
        tenant: subprocess.Popen(
            dbt_cmd(PROJECT, tmp_path / f"run-{tenant}", "build", "--select", f"tag:{flow}", "--vars", run_vars(tenant, flow)),
            env=dbt_env(warehouse, {**AIRFLOW_CTX, "AIRFLOW_CTX_DAG_ID": f"process_{flow}"}),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for tenant, flow in (("acme", "orders"), ("globex", "orders"), ("initech", "inventory"))
    }
    outputs = {tenant: proc.communicate(timeout=180)[0] for tenant, proc in runs.items()}
    for tenant, proc in runs.items():
        assert proc.returncode == 0, outputs[tenant][-3000:]
    # Each run kept its own target/ and logs/: nothing was written into the shared project.
    assert (tmp_path / "run-acme" / "target" / "run_results.json").exists()
    assert (tmp_path / "run-globex" / "logs" / "dbt.log").exists()

    for tenant in ("acme", "globex"):
        schemas = {row[0] for row in query(warehouse, tenant, "select distinct table_schema from information_schema.tables")}
        assert schemas == {f"tenant_{tenant}", f"tenant_{tenant}_raw", f"tenant_{tenant}_audit"}
        (net,) = query(warehouse, tenant, f"select sum(net_amount) from tenant_{tenant}.fct_orders")[0]
        assert float(net) == 372.75  # 120.50 + 37.00 (restated) + 0 (fully refunded) + 200.00 + 15.25
    assert query(warehouse, "acme", "select distinct _tenant_id from tenant_acme.fct_orders") == [("acme",)]
    (stock,) = query(warehouse, "initech", "select count(*) from tenant_initech.fct_stock_levels")[0]
    assert stock == 4


def test_every_query_carries_the_cost_attribution_comment(tmp_path: Path, warehouse: Path) -> None:
    load_raw(warehouse, "acme", "orders")
    result = run_dbt(
        PROJECT, tmp_path / "run", warehouse, "build", "--select", "tag:orders", "--vars", run_vars("acme", "orders"),
        env=AIRFLOW_CTX,
    )
    assert result.returncode == 0, result.stdout[-3000:]
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
    create = [t for (t,) in rows if "create" in t and "fct_orders" in t]
    assert create, "DDL of the model is in the log with its comment"


def test_a_model_cannot_write_into_another_tenants_schema(tmp_path: Path, project_copy: Path, warehouse: Path) -> None:
    (project_copy / "models" / "marts" / "orders" / "sneaky.sql").write_text(
        "{{ config(schema='tenant_globex', materialized='table') }}\nselect 1 as id\n"
    )
    (project_copy / "models" / "marts" / "orders" / "sneaky_db.sql").write_text(
        "{{ config(database='globex', materialized='table') }}\nselect 1 as id\n"
    )
    load_raw(warehouse, "acme", "orders")
    load_raw(warehouse, "globex", "orders")
    result = run_dbt(project_copy, tmp_path / "r1", warehouse, "run", "--select", "sneaky", "--vars", run_vars("acme", "orders"))
    assert result.returncode == 0, result.stdout[-2000:]
    # The custom schema is appended to the run's own schema: it lands in acme's file, under acme's prefix.
    assert query(warehouse, "acme", "select count(*) from tenant_acme_tenant_globex.sneaky") == [(1,)]
    globex_tables = query(warehouse, "globex", "select table_schema, table_name from information_schema.tables")
    assert not [t for t in globex_tables if t[1] == "sneaky"]
    # Naming another tenant's database fails: only the run's own DuckDB file is attached.
    result = run_dbt(
        project_copy, tmp_path / "r2", warehouse, "run", "--select", "sneaky_db", "--vars", run_vars("acme", "orders")
    )
    assert result.returncode != 0
    assert not [t for t in query(warehouse, "globex", "select table_name from information_schema.tables") if t[0] == "sneaky_db"]


def test_invalid_tenant_schema_is_refused_before_anything_is_written(tmp_path: Path, warehouse: Path) -> None:
    bad_vars = "{tenant_id: acme, tenant_schema: 'tenant_globex; drop', dataflow: orders, batch_id: b1}"
    result = run_dbt(PROJECT, tmp_path / "run", warehouse, "build", "--select", "tag:orders", "--vars", bad_vars)
    assert result.returncode != 0
    assert "is not a valid schema name" in result.stdout


def test_a_failing_test_fails_with_dbts_message(tmp_path: Path, warehouse: Path) -> None:
    bad = {
        "orders": [
            {"order_id": "o-1", "customer_id": "c-1", "ordered_at": "2026-11-01T09:00:00", "amount": "-5",
             "_batch_id": "b1", "_snapshot_ts": "20261101T000000000000Z", "_source_file": "orders.csv",
             "_loaded_at": "2026-11-01T10:00:00"}
        ]
    }
    load_raw(warehouse, "acme", "orders", overrides=bad)
    result = run_dbt(
        PROJECT, tmp_path / "run", warehouse, "build", "--select", "stg_orders", "--vars", run_vars("acme", "orders")
    )
    assert result.returncode == 1
    assert "Failure in test not_negative_stg_orders_order_amount" in result.stdout


def test_same_tenant_runs_wait_for_the_duckdb_writer(tmp_path: Path, warehouse: Path) -> None:
    """DuckDB has one writer per file: a second run for the same tenant retries the connection (profile
    `retries.connect_attempts`) instead of failing, so same-tenant runs serialise on the file lock."""
    load_raw(warehouse, "acme", "orders")
    load_raw(warehouse, "acme", "inventory")
    procs = [
        subprocess.Popen(
            dbt_cmd(PROJECT, tmp_path / f"run-{flow}", "build", "--select", f"tag:{flow}", "--vars", run_vars("acme", flow)),
            env=dbt_env(warehouse),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for flow in ("orders", "inventory")
    ]
    outputs = [p.communicate(timeout=240)[0] for p in procs]
    for proc, out in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out[-3000:]
