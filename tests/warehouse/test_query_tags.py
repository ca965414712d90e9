"""Cost attribution read back from the warehouse: in WATCHER mode each model's statements name its own task.

One `dbt build` runs in the producer task (`dbt.dbt_producer_watcher`); before, all its statements carried
that task id. Now a model's statements (and its tests') carry `<group>.<model>_run`, a seed's `_seed`, as
the model's own task would in the other modes. DuckDB's query log is persisted by the project's on-run-end
hook into `<tenant_schema>_audit.query_log`, so this reads what the warehouse recorded.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.dbt.conftest import PROJECT, load_raw, query, run_dbt, run_vars


def _comments(warehouse: Path, tenant: str) -> list[dict]:
    rows = query(warehouse, tenant, f"select query_text from tenant_{tenant}_audit.query_log")
    found = []
    for (text,) in rows:
        if "/* {" in text:
            found.append(json.loads(text[text.rindex("/* {") + 3 : text.rindex(" */")]))
    return found


def test_watcher_statements_carry_their_models_task(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse"
    load_raw(warehouse, "acme", "orders")
    ctx = {
        "AIRFLOW_CTX_DAG_ID": "process_orders",
        "AIRFLOW_CTX_DAG_RUN_ID": "run-1",
        "AIRFLOW_CTX_TASK_ID": "dbt.dbt_producer_watcher",
    }
    result = run_dbt(
        PROJECT,
        tmp_path / "run",
        warehouse,
        "build",
        "--select",
        "tag:orders",
        "--vars",
        run_vars("acme", "orders"),
        env=ctx,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    comments = _comments(warehouse, "acme")
    by_model: dict[str, set[str]] = {}
    for comment in comments:
        by_model.setdefault(comment["model"], set()).add(comment["task_id"])
    assert by_model["model.airlock.fct_orders"] == {"dbt.fct_orders_run"}
    assert by_model["model.airlock.stg_orders"] == {"dbt.stg_orders_run"}
    assert by_model["seed.airlock.country_regions"] == {"dbt.country_regions_seed"}
    not_null = next(m for m in by_model if m and m.startswith("test.airlock.not_null_stg_orders_order_id"))
    assert by_model[not_null] == {"dbt.stg_orders_run"}  # a model's task stands for its tests
    # statements that belong to no node (hooks, introspection) stay with the producer
    assert by_model[None] == {"dbt.dbt_producer_watcher"}
    assert {c["tenant_id"] for c in comments} == {"acme"}
