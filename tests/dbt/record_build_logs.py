"""Re-record tests/unit/fixtures/dbt_build/*.jsonl: the runner's real output for four runs of the inventory dataflow.

    PYTHONPATH=include:. .venv/bin/python -m tests.dbt.record_build_logs

acme succeeds; initech fails a data test; globex fails a model (a raw column is missing), then the column
is restored and the build resumes from the failed model. The files are what a pod's log or an ECS task's
CloudWatch stream carries, line for line; tests/unit/test_dbt_results.py and test_build_watchers.py read them.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import duckdb

from tests.dbt.conftest import NEGATIVE_STOCK, PROJECT, REPO, load_raw

OUT = REPO / "tests" / "unit" / "fixtures" / "dbt_build"


def run(warehouse: Path, tenant: str, resume: list[str] | None = None) -> str:
    payload = {
        "tenant_id": tenant,
        "batch_id": "20261102",
        "dataflow": "inventory",
        "tenant_schema": f"tenant_{tenant}",
        "selection": ["--select", "tag:inventory"],
        "resume": resume,
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRLOCK_", "AIRFLOW", "PYTHONPATH"))}
    env.update(
        PYTHONPATH=str(REPO / "include"),
        AIRLOCK_DBT_PROJECT_DIR=str(PROJECT),
        AIRLOCK_WAREHOUSE_DIR=str(warehouse),
        DO_NOT_TRACK="1",
    )
    proc = subprocess.run(
        [
            str(REPO / ".venv-dbt" / "bin" / "python"),
            "-m",
            "airlock.isolation",
            "airlock.transform.runner:build",
            "--payload",
            json.dumps(payload),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tempfile.gettempdir(),
    )
    return proc.stdout


def main() -> None:
    warehouse = Path(tempfile.mkdtemp(prefix="airlock-record-"))
    load_raw(warehouse, "acme", "inventory")
    load_raw(warehouse, "initech", "inventory", overrides={"stock": NEGATIVE_STOCK})
    con = duckdb.connect(str(warehouse / "globex.duckdb"))
    con.execute("create schema tenant_globex_raw")
    con.execute("create table tenant_globex_raw.stock (warehouse_id varchar, sku varchar)")
    con.close()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "acme_success.jsonl").write_text(run(warehouse, "acme"))
    (OUT / "initech_test_failure.jsonl").write_text(run(warehouse, "initech"))
    (OUT / "globex_sql_error.jsonl").write_text(run(warehouse, "globex"))
    load_raw(warehouse, "globex", "inventory")
    (OUT / "globex_resumed.jsonl").write_text(
        run(warehouse, "globex", ["stg_stock", "int_stock_latest", "fct_stock_levels"])
    )
    print(f"recorded into {OUT}")


if __name__ == "__main__":
    main()
