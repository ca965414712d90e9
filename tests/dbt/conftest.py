"""Fixtures for tests that run dbt for real: from its own venv, against per-tenant DuckDB files."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
import pytest

from airlock.devstack.postgres import LocalPostgres
from airlock.warehouse.base import TenantSpace
from airlock.warehouse.postgres import tenant_sql

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "dbt_project"
DBT = REPO / ".venv-dbt" / "bin" / "dbt"
SAMPLES = PROJECT / "seeds" / "samples"
DATAFLOW_TABLES = {"orders": ("orders", "customers", "refunds"), "inventory": ("stock",)}
NEGATIVE_STOCK = [
    {
        "warehouse_id": "w-1",
        "sku": "sku-a",
        "quantity": "-3",
        "counted_at": "2026-11-02T06:00:00",
        "_batch_id": "20261102",
        "_snapshot_ts": "20261102T070000000000Z",
        "_source_file": "stock_1.csv",
        "_loaded_at": "2026-11-02T07:00:02",
    }
]
"""A raw `stock` table that fails the `not_negative` test of stg_stock: the failing tenant's input."""


def run_vars(tenant: str, dataflow: str, batch: str = "20261102") -> str:
    """The --vars the processing DAG passes (docs/contracts.md)."""
    return f"{{tenant_id: {tenant}, tenant_schema: tenant_{tenant}, dataflow: {dataflow}, batch_id: '{batch}'}}"


def dbt_cmd(project: Path, run_dir: Path, *args: str) -> list[str]:
    """A dbt command with its own target/ and logs/ (as each Cosmos task has its own project copy)."""
    return [
        str(DBT),
        *args,
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--target-path",
        str(run_dir / "target"),
        "--log-path",
        str(run_dir / "logs"),
    ]


def dbt_env(warehouse: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRLOCK_", "DBT_", "AIRFLOW_CTX_"))}
    return {**env, "AIRLOCK_WAREHOUSE_DIR": str(warehouse), "DO_NOT_TRACK": "1", **(extra or {})}


def run_dbt(
    project: Path, run_dir: Path, warehouse: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        dbt_cmd(project, run_dir, *args), env=dbt_env(warehouse, env), capture_output=True, text=True, timeout=180
    )


def load_raw(
    warehouse: Path,
    tenant: str,
    dataflow: str,
    overrides: Mapping[str, list[dict[str, str]]] | None = None,
    batch: str = "20261102",
) -> None:
    """What the processing DAG's `load` task leaves behind: <schema>_raw.<table>, all VARCHAR.

    Every sample row is stamped with `batch` (the staging models read the run's batch only).
    """
    warehouse.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse / f"{tenant}.duckdb"))
    try:
        schema = f"tenant_{tenant}_raw"
        con.execute(f"create schema if not exists {schema}")
        for table in DATAFLOW_TABLES[dataflow]:
            with (SAMPLES / f"{table}.csv").open() as handle:
                rows = list(csv.DictReader(handle))
            rows = [{**r, "_batch_id": batch} for r in (overrides or {}).get(table, rows)]
            columns = list(csv.DictReader((SAMPLES / f"{table}.csv").open()).fieldnames or [])
            con.execute(f"create or replace table {schema}.{table} ({', '.join(c + ' varchar' for c in columns)})")
            if rows:
                marks = ", ".join("?" for _ in columns)
                con.executemany(
                    f"insert into {schema}.{table} values ({marks})", [[r[c] for c in columns] for r in rows]
                )
    finally:
        con.close()


def query(warehouse: Path, tenant: str, sql: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(warehouse / f"{tenant}.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A copy of the dbt project a test may edit (the manifest's mtime is kept older than the sources)."""
    target = tmp_path / "dbt_project"
    shutil.copytree(PROJECT, target, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    return target


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse"
    path.mkdir()
    return path


@dataclass(frozen=True)
class Postgres:
    """The throwaway server of `airlock.devstack.postgres`, plus the dbt environment for its postgres target."""

    server: LocalPostgres

    @property
    def user(self) -> str:
        return self.server.superuser

    def dbt_env(self) -> dict[str, str]:
        return {
            "AIRLOCK_DBT_TARGET": "postgres",
            "AIRLOCK_PG_HOST": self.server.host,
            "AIRLOCK_PG_PORT": str(self.server.port),
            "AIRLOCK_PG_USER": self.server.superuser,
            "AIRLOCK_PG_DATABASE": self.server.database,
        }

    def psql(self, sql: str, database: str | None = None) -> str:
        return self.server.psql(sql, database=database)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A throwaway PostgreSQL server with pg_stat_statements, stopped after the session."""
    with LocalPostgres() as server:
        yield Postgres(server)


def load_raw_postgres(server: Postgres, tenant: str, dataflow: str, batch: str = "20261102") -> None:
    """The loader's output on Postgres: <schema>_raw.<table>, all VARCHAR, from the sample CSVs, owned by the
    tenant's role (airlock.warehouse.postgres provisions it: dbt acts as that role)."""
    space = TenantSpace(tenant, f"tenant_{tenant}")
    statements = [tenant_sql(space, server.server.database, server.user), f"set role {space.role}"]
    for table in DATAFLOW_TABLES[dataflow]:
        with (SAMPLES / f"{table}.csv").open() as handle:
            reader = csv.DictReader(handle)
            columns = list(reader.fieldnames or [])
            rows = list(reader)
        name = f"tenant_{tenant}_raw.{table}"
        statements.append(f"drop table if exists {name}")
        statements.append(f"create table {name} ({', '.join(c + ' varchar' for c in columns)})")
        for row in ({**r, "_batch_id": batch} for r in rows):
            values = ", ".join("'" + row[c].replace("'", "''") + "'" for c in columns)
            statements.append(f"insert into {name} values ({values})")
    server.psql(";\n".join(statements))


@dataclass
class FakeTaskInstance:
    """What the build task reads from Airflow's task instance: the claim's XCom, its try; XCom it pushes.

    The operator under test is real and runs dbt for real; this is only the context Airflow would hand it
    (tests/dbt/test_build_run.py runs the same operator under the real scheduler).
    """

    claim: dict[str, Any]
    try_number: int = 1
    dag_id: str = "process_inventory"
    run_id: str = "manual__test"
    task_id: str = "dbt_build"
    map_index: int = -1
    pushed: dict[str, Any] = field(default_factory=dict)

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value", **_: Any) -> Any:
        return dict(self.claim) if task_ids == "claim" and key == "return_value" else None

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def run_context(
    tenant: str,
    dataflow: str = "inventory",
    batch: str = "20261102",
    *,
    try_number: int = 1,
    claimed_at: str = "2026-11-02T07:00:00+00:00",
    partition_key: str | None = "",
) -> dict[str, Any]:
    """The task context of one processing run's dbt task (the claim's XCom, the run's partition key)."""
    from airflow.sdk.execution_time.context import OutletEventAccessors

    claim = {
        "tenant_id": tenant,
        "batch_id": batch,
        "dataflow": dataflow,
        "tenant_schema": f"tenant_{tenant}",
        "claimed_at": claimed_at,
    }
    key = f"{tenant}|{batch}" if partition_key == "" else partition_key
    return {
        "ti": FakeTaskInstance(claim, try_number, dag_id=f"process_{dataflow}"),
        "dag_run": SimpleNamespace(partition_key=key, run_id="manual__test"),
        "outlet_events": OutletEventAccessors(),
    }
