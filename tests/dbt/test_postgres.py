"""The same project on the postgres target, against a throwaway server: tenants isolated, queries attributed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.dbt.conftest import PROJECT, Postgres, dbt_cmd, dbt_env, load_raw_postgres, run_dbt, run_vars

pytestmark = pytest.mark.postgres


def test_two_tenants_build_concurrently_on_postgres(tmp_path: Path, postgres: Postgres) -> None:
    for tenant in ("acme", "globex"):
        load_raw_postgres(postgres, tenant, "orders")
    procs = {}
    for tenant in ("acme", "globex"):
        ctx = {
            "AIRFLOW_CTX_DAG_ID": "process_orders",
            "AIRFLOW_CTX_DAG_RUN_ID": f"run-{tenant}",
            "AIRFLOW_CTX_TASK_ID": "dbt.fct_orders_model_build",
        }
        with (tmp_path / f"{tenant}.log").open("w") as out:
            procs[tenant] = subprocess.Popen(
                dbt_cmd(
                    PROJECT, tmp_path / tenant, "build", "--select", "tag:orders", "--vars", run_vars(tenant, "orders")
                ),
                env=dbt_env(tmp_path, {**postgres.dbt_env(), **ctx}),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
    for tenant, proc in procs.items():
        assert proc.wait(timeout=240) == 0, (tmp_path / f"{tenant}.log").read_text()[-3000:]

    schemas = set(
        postgres.psql("select schema_name from information_schema.schemata where schema_name like 'tenant_%'").split()
    )
    assert schemas == {"tenant_acme", "tenant_acme_raw", "tenant_globex", "tenant_globex_raw"}
    for tenant in ("acme", "globex"):
        assert postgres.psql(f"select distinct _tenant_id from tenant_{tenant}.fct_orders").split() == [tenant]
        assert postgres.psql(f"select sum(net_amount) from tenant_{tenant}.fct_orders").strip() == "372.75"

    # Cost attribution, read back from the warehouse: pg_stat_statements keeps each statement's comment.
    texts = postgres.psql('select query from pg_stat_statements where query like \'%"app": "airlock"%\'')
    comments = [
        json.loads(line[line.rindex("/* ") + 3 : line.rindex(" */")])
        for line in texts.splitlines()
        if "/* {" in line and " */" in line
    ]
    fct = [c for c in comments if c["model"] == "model.airlock.fct_orders"]
    assert {c["tenant_id"] for c in fct} == {"acme", "globex"}
    acme = next(c for c in fct if c["tenant_id"] == "acme")
    assert acme | {"invocation_id": None} == {
        "app": "airlock",
        "tenant_id": "acme",
        "dataflow": "orders",
        "batch_id": "20261102",
        "dag_id": "process_orders",
        "run_id": "run-acme",
        "task_id": "dbt.fct_orders_model_build",
        "model": "model.airlock.fct_orders",
        "invocation_id": None,
    }


def test_a_run_without_its_tenant_vars_is_refused_outside_local(tmp_path: Path, postgres: Postgres) -> None:
    """On a shared warehouse a task that lost its vars must not build into the analysts' `dev` schema."""
    result = run_dbt(PROJECT, tmp_path / "run", tmp_path, "run", "--select", "stg_orders", env=postgres.dbt_env())
    assert result.returncode != 0
    assert "dbt var 'tenant_id' is missing on target 'postgres'" in result.stdout
    assert postgres.psql("select count(*) from information_schema.schemata where schema_name = 'dev'").strip() == "0"
