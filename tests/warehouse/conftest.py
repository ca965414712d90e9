"""Warehouse tests: real DuckDB files and a real PostgreSQL server; snapshots made by the real intake.

`warehouse` is parametrized over the warehouses that run here for real (local DuckDB, PostgreSQL); each test
gets its own DuckDB folder or its own Postgres database (tenant roles are cluster-wide, and idempotent).
Credentials reach the Postgres loader the production way: an Airflow connection (AIRFLOW_CONN_*), resolved
through Airflow's secrets backends.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from airlock.devstack.postgres import LocalPostgres
from airlock.intake import Intake
from airlock.processing import plan_run
from airlock.settings import load_settings
from airlock.tenants import Registry
from airlock.warehouse import (
    QueryTag,
    WarehouseConfig,
    batch_load,
    load_snapshot,
    load_warehouse_config,
    open_warehouse,
)

from ..conftest import Zone

ORDERS = "order_id,customer_id,ordered_at,amount\n{rows}"
CUSTOMERS_CSV = "customer_id,customer_name,country\nc1,Ann,FR\nc2,Bob,DE\n"


def orders_csv(*ids: str, amount: str = "10.5") -> str:
    return ORDERS.format(rows="".join(f"{i},c1,2026-11-20,{amount}\n" for i in ids))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[LocalPostgres]:
    """One throwaway PostgreSQL server (pg_stat_statements on) for the session."""
    with LocalPostgres() as server:
        yield server


@pytest.fixture
def pg_database(pg_server: LocalPostgres) -> Iterator[str]:
    name = f"wh_{uuid.uuid4().hex[:10]}"
    pg_server.psql(f'create database "{name}"', database="postgres")
    pg_server.psql("create extension if not exists pg_stat_statements", database=name)
    yield name
    pg_server.psql(f'drop database "{name}" with (force)', database="postgres")


def airflow_conn_env(server: LocalPostgres, database: str, user: str | None = None) -> str:
    """An AIRFLOW_CONN_* value: how a deployment hands the loader its credentials (secrets backend)."""
    return server.dsn(database, user=user)


@dataclass
class Harness:
    """One warehouse under test, with the real intake in front of it."""

    kind: str
    config: WarehouseConfig
    registry: Registry
    zone: Zone
    tmp: Path
    run_query: Callable[[str, str], list[tuple[Any, ...]]]
    pg_server: LocalPostgres | None = None
    pg_database: str | None = None

    def deliver(self, files: dict[str, str]) -> None:
        for key, body in files.items():
            self.zone.put(key, body)
        # past the default completion rule's settle window: acme's optional refunds never come
        settled = datetime.now(UTC) + timedelta(minutes=10)
        Intake(self.registry, self.zone.landing, self.zone.raw, self.zone.quarantine, now=settled).sweep()

    def plan(self, key: str, dataflow: str = "orders", run_id: str = "run-1"):
        return plan_run(key, dataflow, self.registry, self.zone.raw, run_id, f"process_{dataflow}")

    def load(self, key: str, dataflow: str = "orders", run_id: str = "run-1", loaded_at: datetime | None = None):
        plan = self.plan(key, dataflow, run_id)
        workdir = self.tmp / "work" / uuid.uuid4().hex
        tag = QueryTag(plan.batch.tenant_id, dataflow, plan.batch.batch_id, f"process_{dataflow}", run_id, "load")
        if loaded_at is None:
            return load_snapshot(plan, self.registry, self.zone.raw, self.config, workdir, tag=tag)
        load = batch_load(plan, self.registry, self.zone.raw, self.config, workdir, tag=tag, loaded_at=loaded_at)
        warehouse = open_warehouse(self.config)
        warehouse.ensure_tenant(load.space)
        return warehouse.load(load)

    def query(self, tenant: str, sql: str) -> list[tuple[Any, ...]]:
        return self.run_query(tenant, sql)


def _duckdb_query(folder: Path) -> Callable[[str, str], list[tuple[Any, ...]]]:
    def run(tenant: str, sql: str) -> list[tuple[Any, ...]]:
        con = duckdb.connect(str(folder / f"{tenant}.duckdb"), read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    return run


def _postgres_query(server: LocalPostgres, database: str) -> Callable[[str, str], list[tuple[Any, ...]]]:
    def run(_tenant: str, sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(server.dsn(database)) as conn:
            return conn.execute(sql).fetchall()  # type: ignore[arg-type]

    return run


def warehouse_env(
    kind: str, tmp: Path, server: LocalPostgres | None = None, database: str | None = None
) -> dict[str, str]:
    env = {"AIRLOCK_HOME": str(tmp), "AIRLOCK_WAREHOUSE": kind, "AIRLOCK_WAREHOUSE_DIR": str(tmp / "warehouse")}
    if server is not None and database is not None:
        env["AIRFLOW_CONN_AIRLOCK_WAREHOUSE"] = airflow_conn_env(server, database)
    return env


def _harness(
    kind: str, request: pytest.FixtureRequest, registry: Registry, zone: Zone, tmp: Path, monkeypatch
) -> Harness:
    server: LocalPostgres | None = None
    database: str | None = None
    if kind == "postgres":
        server = request.getfixturevalue("pg_server")
        database = request.getfixturevalue("pg_database")
        env = warehouse_env(kind, tmp, server, database)
        query = _postgres_query(server, database)
    else:
        env = warehouse_env(kind, tmp)
        query = _duckdb_query(tmp / "warehouse")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = load_warehouse_config(load_settings(env), env)
    return Harness(kind, config, registry, zone, tmp, query, server, database)


@pytest.fixture(params=["local", "postgres"])
def warehouse(request: pytest.FixtureRequest, registry: Registry, zone: Zone, tmp_path: Path, monkeypatch) -> Harness:
    """Each real warehouse in turn."""
    return _harness(request.param, request, registry, zone, tmp_path, monkeypatch)


@pytest.fixture
def pg(request: pytest.FixtureRequest, registry: Registry, zone: Zone, tmp_path: Path, monkeypatch) -> Harness:
    """PostgreSQL only."""
    return _harness("postgres", request, registry, zone, tmp_path, monkeypatch)
