"""PostgreSQL: tenants isolated by the database itself, a dead warehouse mid-load, the loader's statements tagged.

Real parts: a throwaway PostgreSQL 15 server (airlock.devstack.postgres), the real intake, the loader as the
load task runs it, credentials from Airflow connections. Permission errors are PostgreSQL's own.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import psycopg
import pytest

from airlock.devstack.postgres import LocalPostgres
from airlock.settings import load_settings
from airlock.storage import LocalStorage
from airlock.warehouse import WarehouseUnavailableError, load_warehouse_config, open_warehouse
from airlock.warehouse.base import TenantNotProvisionedError, TenantSpace, ledger_ddl
from airlock.warehouse.postgres import tenant_sql

from .conftest import CUSTOMERS_CSV, Harness, _postgres_query, orders_csv, warehouse_env

pytestmark = pytest.mark.postgres

GLOBEX = {
    "globex/orders/b1/orders.jsonl": '{"order_id": "g-1", "customer_id": "c", "ordered_at": "d", "amount": 1}\n',
    "globex/orders/b1/customers.csv": "customer_id,customer_name,country,segment\nc,Cy,FR,smb\n",
}
ACME = {"acme/orders/20261120/orders.csv": orders_csv("a-1"), "acme/orders/20261120/customers.csv": CUSTOMERS_CSV}


def _connect(pg: Harness, user: str | None = None) -> psycopg.Connection:
    assert pg.pg_server is not None and pg.pg_database is not None
    return psycopg.connect(pg.pg_server.dsn(pg.pg_database, user=user), autocommit=True)


def test_a_tenants_role_gets_permission_errors_on_another_tenants_schemas(pg: Harness) -> None:
    pg.deliver({**ACME, **GLOBEX})
    pg.load("acme|20261120")
    pg.load("globex|b1")
    with _connect(pg) as conn:  # a superuser session: after SET ROLE it has the tenant's privileges only
        conn.execute("set role airlock_tenant_acme")
        assert conn.execute("select order_id from tenant_acme_raw.orders").fetchall() == [("a-1",)]
        attempts = {
            "read": "select * from tenant_globex_raw.orders",
            "write": "insert into tenant_globex_raw.orders (order_id) values ('x')",
            "create": "create table tenant_globex.stolen (x int)",
            "drop": "drop table tenant_globex_raw.customers",
        }
        for what, sql in attempts.items():
            with pytest.raises(
                psycopg.errors.InsufficientPrivilege, match="permission denied for schema tenant_globex"
            ):
                conn.execute(sql)
            assert what
    owners = dict(
        _connect(pg)
        .execute("select nspname, pg_get_userbyid(nspowner) from pg_namespace where nspname like 'tenant_%' order by 1")
        .fetchall()
    )
    assert owners == {
        "tenant_acme": "airlock_tenant_acme",
        "tenant_acme_raw": "airlock_tenant_acme",
        "tenant_globex": "airlock_tenant_globex",
        "tenant_globex_raw": "airlock_tenant_globex",
    }


def test_a_per_tenant_connection_cannot_even_switch_to_another_tenant(pg: Harness, monkeypatch) -> None:
    pg.deliver({**ACME, **GLOBEX})
    pg.load("globex|b1")
    pg.load("acme|20261120")  # provisions acme's role and schemas
    with _connect(pg) as conn:
        conn.execute("alter role airlock_tenant_acme login")
    assert pg.pg_server is not None
    monkeypatch.setenv(
        "AIRFLOW_CONN_AIRLOCK_WAREHOUSE_ACME", pg.pg_server.dsn(pg.pg_database, user="airlock_tenant_acme")
    )
    assert pg.load("acme|20261120", run_id="run-2") == {"orders": 1, "customers": 2, "refunds": 0}
    ledger = pg.query("acme", "select run_id from tenant_acme_raw._airlock_loads")
    assert ledger == [("run-2",)]
    with _connect(pg, user="airlock_tenant_acme") as conn:
        with pytest.raises(
            psycopg.errors.InsufficientPrivilege, match='permission denied to set role "airlock_tenant_globex"'
        ):
            conn.execute("set role airlock_tenant_globex")
        with pytest.raises(
            psycopg.errors.InsufficientPrivilege, match="permission denied for schema tenant_globex_raw"
        ):
            conn.execute("select * from tenant_globex_raw.orders")


def test_a_loader_that_may_not_create_roles_names_the_admin_step_then_loads(pg: Harness, monkeypatch) -> None:
    """Production shape: the loader logs in NOINHERIT, without CREATEROLE; an admin provisions each tenant once."""
    assert pg.pg_server is not None and pg.pg_database is not None
    with _connect(pg) as conn:
        conn.execute(
            "do $$ begin if not exists (select from pg_roles where rolname = 'airlock_loader') then "
            "create role airlock_loader login noinherit; end if; end $$"
        )
    monkeypatch.setenv("AIRFLOW_CONN_AIRLOCK_WAREHOUSE", pg.pg_server.dsn(pg.pg_database, user="airlock_loader"))
    pg.deliver({"initech/inventory/20261120/stock_main.csv": "warehouse_id,sku,quantity,counted_at\nw,s,3,d\n"})
    with pytest.raises(TenantNotProvisionedError, match="airlock warehouse sql --kind postgres --tenant initech"):
        pg.load("initech|20261120", dataflow="inventory")

    admin_sql = tenant_sql(TenantSpace("initech", "tenant_initech"), pg.pg_database, "airlock_loader")
    pg.pg_server.psql(admin_sql, database=pg.pg_database)
    assert pg.load("initech|20261120", dataflow="inventory") == {"stock": 1}
    denied = pytest.raises(
        psycopg.errors.InsufficientPrivilege, match="permission denied for schema tenant_initech_raw"
    )
    with _connect(pg, user="airlock_loader") as conn, denied:  # without SET ROLE the loader holds no tenant's rights
        conn.execute("select * from tenant_initech_raw.stock")


def test_schemas_another_role_created_are_refused(pg: Harness) -> None:
    with _connect(pg) as conn:
        conn.execute(
            "do $$ begin if not exists (select from pg_roles where rolname = 'airlock_tenant_globex') then "
            "create role airlock_tenant_globex; end if; end $$"
        )
        conn.execute("create schema tenant_acme_raw authorization airlock_tenant_globex")  # globex squats acme's name
    pg.deliver(ACME)
    with pytest.raises(TenantNotProvisionedError, match=r"schemas \{'tenant_acme_raw': 'airlock_tenant_globex'\}"):
        pg.load("acme|20261120")


def test_the_loaders_statements_carry_the_runs_tag(pg: Harness) -> None:
    pg.deliver(ACME)
    pg.load("acme|20261120", run_id="run-tagged")
    pg.load("acme|20261120", run_id="run-tagged")  # the retry deletes the batch's first rows
    assert pg.pg_server is not None
    texts = pg.pg_server.psql(
        "select regexp_replace(query, '\\s+', ' ', 'g') from pg_stat_statements "
        'where query like \'%"run_id": "run-tagged"%\'',
        database=pg.pg_database,
    )
    statements = [line for line in texts.splitlines() if "/* {" in line]
    kinds = {line.split()[0].lower() for line in statements}
    assert {"copy", "delete", "insert", "select"} <= kinds
    tags = [json.loads(line[line.rindex("/* ") + 3 : line.rindex(" */")]) for line in statements]
    assert {(t["tenant_id"], t["dataflow"], t["batch_id"], t["step"]) for t in tags} == {
        ("acme", "orders", "20261120", "load")
    }


class _KillingStorage(LocalStorage):
    """Raw storage whose big orders file kills the warehouse after the first chunk went into COPY."""

    def __init__(self, root: Path, server: LocalPostgres) -> None:
        super().__init__(root)
        self.server, self.armed = server, True

    def open_read(self, key: str) -> BinaryIO:
        stream = super().open_read(key)
        if not (self.armed and key.endswith("orders.csv")):
            return stream
        self.armed = False
        server, read = self.server, stream.read

        def read_then_kill(n: int = -1) -> bytes:
            chunk = read(n)
            if server.base is not None and not getattr(server, "_killed", False):
                server._killed = True  # type: ignore[attr-defined]
                server.kill()  # pg_ctl stop -m immediate: the postmaster and backends die mid-COPY
            return chunk

        stream.read = read_then_kill  # type: ignore[method-assign]
        return stream


def test_the_warehouse_stopped_mid_load_fails_clearly_and_a_rerun_loads_exactly_once(
    registry, zone, tmp_path, monkeypatch
) -> None:
    with LocalPostgres(preload_pg_stat_statements=False) as server:
        env = warehouse_env("postgres", tmp_path, server, server.database)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        zone.raw = _KillingStorage(zone.raw.root, server)
        pg = Harness(
            "postgres",
            load_warehouse_config(load_settings(env), env),
            registry,
            zone,
            tmp_path,
            _postgres_query(server, server.database),
            server,
            server.database,
        )
        ids = [f"o-{i:07d}" for i in range(120_000)]  # ~4 MB: several chunks, so the kill lands inside COPY
        pg.deliver(
            {"acme/orders/20261120/orders.csv": orders_csv(*ids), "acme/orders/20261120/customers.csv": CUSTOMERS_CSV}
        )
        with pytest.raises(WarehouseUnavailableError) as failure:
            pg.load("acme|20261120")
        message = str(failure.value)
        assert "is unreachable" in message and "Nothing of this batch was committed" in message
        assert "a re-run (clear the failed run) loads the batch exactly once" in message

        server.restart()
        assert pg.load("acme|20261120", run_id="run-1") == {"orders": 120_000, "customers": 2, "refunds": 0}
        assert pg.query("acme", "select count(*), count(distinct order_id) from tenant_acme_raw.orders") == [
            (120_000, 120_000)
        ]
        assert pg.query("acme", "select count(*) from tenant_acme_raw._airlock_loads") == [(1,)]


def _children(pg: Harness) -> list[tuple[str, str]]:
    return pg.query(
        "acme",
        "select p.relname, c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
        "join pg_class p on p.oid = i.inhparent where p.relnamespace = 'tenant_acme_raw'::regnamespace order by 1, 2",
    )


def test_each_batch_is_a_child_table_readers_of_one_batch_touch_only_it_and_retention_drops_it(pg: Harness) -> None:
    now = datetime.now(UTC)
    for batch, age_days in (("20261101", 9), ("20261120", 1)):
        pg.deliver({f"acme/orders/{batch}/orders.csv": orders_csv(f"o-{batch}"), **_customers(batch)})
        pg.load(f"acme|{batch}", loaded_at=now - timedelta(days=age_days))
    assert _children(pg) == [
        ("customers", "_customers__20261120"),
        ("orders", "_orders__20261120"),
    ], "the 9-day-old batch's children were dropped with the next load; no staging table is left"
    pg.deliver({"acme/orders/20261121/orders.csv": orders_csv("o-x"), **_customers("20261121")})
    pg.load("acme|20261121")
    pg.load("acme|20261121")  # a retry replaces the batch's child
    plan = "\n".join(
        r[0] for r in pg.query("acme", "explain select * from tenant_acme_raw.orders where _batch_id = '20261121'")
    )
    assert "_orders__20261121" in plan and "_orders__20261120" not in plan, plan
    assert pg.query("acme", "select order_id, _batch_id from tenant_acme_raw.orders order by 1") == [
        ("o-20261120", "20261120"),
        ("o-x", "20261121"),
    ]


def _customers(batch: str) -> dict[str, str]:
    return {f"acme/orders/{batch}/customers.csv": CUSTOMERS_CSV}


def test_raw_tables_made_before_batch_children_keep_their_rows_until_retention(pg: Harness) -> None:
    """A deployed warehouse's raw table holds rows itself (the earlier loader's DDL: setting defaults, BRIN)."""
    open_warehouse(pg.config).ensure_tenant(TenantSpace("acme", "tenant_acme"))
    old, recent = (datetime.now(UTC) - timedelta(days=d) for d in (10, 1))
    with _connect(pg) as conn:
        conn.execute("set role airlock_tenant_acme")
        meta = ", ".join(
            f"{c} text not null default current_setting('airlock.{c[1:]}')"
            for c in ("_batch_id", "_snapshot_ts", "_source_file")
        )
        cols = "order_id text, customer_id text, ordered_at text, amount text"
        conn.execute(
            f"create table tenant_acme_raw.orders ({cols}, {meta}, _loaded_at timestamptz not null default now())"
        )
        conn.execute("create index on tenant_acme_raw.orders using brin (_batch_id)")
        conn.execute(ledger_ddl("tenant_acme_raw"))
        for batch, at in (("20261101", old), ("20261119", recent)):
            conn.execute(
                "insert into tenant_acme_raw.orders values (%s, 'c1', 'd', '1', %s, 'ts', 'key', now())",
                [f"legacy-{batch}", batch],
            )
            conn.execute(
                "insert into tenant_acme_raw._airlock_loads values (%s, 'ts', %s, '{\"orders\": 1}', 'run-0')",
                [batch, at.isoformat()],
            )
    pg.deliver(ACME)
    assert pg.load("acme|20261120") == {"orders": 1, "customers": 2, "refunds": 0}
    assert pg.load("acme|20261120") == {"orders": 1, "customers": 2, "refunds": 0}
    assert pg.query("acme", "select order_id, _batch_id from tenant_acme_raw.orders order by 1") == [
        ("a-1", "20261120"),
        ("legacy-20261119", "20261119"),
    ], "the legacy batch within the retention stays, the one past it left"
    ledger = pg.query("acme", "select batch_id from tenant_acme_raw._airlock_loads order by 1")
    assert ledger == [("20261119",), ("20261120",)]


def test_two_batches_of_a_tenant_load_at_once_and_both_may_retire_the_same_old_batch(pg: Harness) -> None:
    now = datetime.now(UTC)
    pg.deliver({"acme/orders/20261101/orders.csv": orders_csv("o-old"), **_customers("20261101")})
    pg.load("acme|20261101", loaded_at=now - timedelta(days=9))
    for batch in ("20261120", "20261121"):
        pg.deliver({f"acme/orders/{batch}/orders.csv": orders_csv(f"o-{batch}"), **_customers(batch)})
    errors: list[BaseException] = []

    def load(batch: str) -> None:
        try:
            pg.load(f"acme|{batch}")
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    with _connect(pg) as holder, _connect(pg) as watcher:  # a transaction sees pg_stat_activity as of its start
        holder.execute("begin")
        holder.execute("lock table tenant_acme_raw.orders in share update exclusive mode")  # as a VACUUM would
        threads = [threading.Thread(target=load, args=(b,)) for b in ("20261120", "20261121")]
        for thread in threads:
            thread.start()
        deadline, waiting = time.monotonic() + 120, 0
        while time.monotonic() < deadline and waiting < 2 and not errors:
            waiting = watcher.execute(
                "select count(*) from pg_stat_activity where application_name like 'airlock:load:%' "
                "and wait_event_type = 'Lock'"
            ).fetchone()[0]  # type: ignore[index]
            time.sleep(0.2)
        assert waiting == 2, f"both loads should wait at the end of their transaction; saw {waiting}, errors {errors}"
        holder.execute("commit")
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert _children(pg) == [
        ("customers", "_customers__20261120"),
        ("customers", "_customers__20261121"),
        ("orders", "_orders__20261120"),
        ("orders", "_orders__20261121"),
    ]
    assert pg.query("acme", "select batch_id from tenant_acme_raw._airlock_loads order by 1") == [
        ("20261120",),
        ("20261121",),
    ]
