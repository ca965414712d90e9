"""Redshift: the generated COPY and grant SQL asserted; everything else the loader does, run on PostgreSQL.

There is no Redshift here (nor a stand-in). The Redshift module speaks the PostgreSQL protocol, so the test
connects it to a real PostgreSQL server and runs its whole load there — temp tables, the one transaction, the
delete of the batch and of expired batches, the ledger, the row checks — except three Redshift-only statements,
which the test records and emulates (and says so):
- `COPY … FROM 's3://…' IAM_ROLE …` (asserted verbatim, then emulated with PostgreSQL's COPY of the same file),
- `select pg_last_copy_count()` (answered with that COPY's row count),
- `set query_group to …` (asserted, then skipped: PostgreSQL has no WLM).
`diststyle`/`sortkey` are stripped from the DDL, and `getdate()` is defined as a PostgreSQL function.
"""

from __future__ import annotations

import json
import re
from typing import Any

import psycopg
import pytest

from airlock.settings import load_settings
from airlock.warehouse import load_warehouse_config
from airlock.warehouse.base import TenantSpace
from airlock.warehouse.credentials import resolve
from airlock.warehouse.redshift import RedshiftWarehouse, tenant_sql

from .conftest import Harness, _postgres_query, orders_csv

pytestmark = pytest.mark.postgres

ROLE_ARN = "arn:aws:iam::123456789012:role/airlock-prod-redshift-raw-reader"
S3_COPY = re.compile(r"^copy (\S+)(?: \(([^)]*)\))? from 's3://airlock-test-raw/(\S+)' iam_role '([^']+)' (.+)$", re.S)


class _RedshiftOnPostgres:
    """A psycopg connection to PostgreSQL that answers the three Redshift-only statements (module docstring)."""

    def __init__(self, conn: psycopg.Connection, raw: Any, log: list[str]) -> None:
        self._conn, self._raw, self.log = conn, raw, log

    def cursor(self) -> _Cursor:
        return _Cursor(self._conn.cursor(), self._raw, self.log)

    def close(self) -> None:
        self._conn.close()


class _Cursor:
    def __init__(self, cursor: psycopg.Cursor, raw: Any, log: list[str]) -> None:
        self._cursor, self._raw, self._log = cursor, raw, log
        self._last_copy = 0
        self._answer: list[tuple] | None = None

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def execute(self, sql: str, params: Any = None) -> None:
        statement = sql.split("\n/* ")[0]
        self._log.append(statement)
        self._answer = None
        if statement.startswith("set query_group to "):
            return
        if statement == "select pg_last_copy_count()":
            self._answer = [(self._last_copy,)]
            return
        if match := S3_COPY.match(statement):
            self._emulate_copy(*match.groups())
            return
        statement = re.sub(r" diststyle auto sortkey \(_batch_id\)$", "", statement)
        self._cursor.execute(statement, params)

    def _emulate_copy(self, table: str, _columns: str | None, key: str, _role: str, options: str) -> None:
        data = self._raw.read_bytes(key)
        if options.startswith("format as json"):
            cols = [r[0] for r in self._cursor.execute(f"select * from {table} limit 0").description or []]
            rows = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
            for row in rows:
                marks = ", ".join("%s" for _ in cols)
                values = [None if row.get(c) is None else str(row[c]) for c in cols]
                self._cursor.execute(f"insert into {table} values ({marks})", values)
            self._last_copy = len(rows)
            return
        lines = [ln for ln in data.split(b"\n")[1:] if ln.strip(b"\r")]  # ignoreheader 1, ignoreblanklines
        with self._cursor.copy(f"copy {table} from stdin with (format csv)") as copy:
            copy.write(b"\n".join(lines) + b"\n")
        self._last_copy = self._cursor.rowcount

    def fetchall(self) -> list[tuple]:
        return self._answer if self._answer is not None else self._cursor.fetchall()


@pytest.fixture
def rs(pg: Harness, monkeypatch) -> tuple[Harness, list[str]]:
    assert pg.pg_server is not None and pg.pg_database is not None
    server, database = pg.pg_server, pg.pg_database
    server.psql(
        "create or replace function getdate() returns timestamp as 'select now()::timestamp' language sql",
        database=database,
    )
    for tenant in ("acme", "globex"):
        role = f"airlock_tenant_{tenant}"
        server.psql(
            f"do $$ begin if not exists (select from pg_roles where rolname = '{role}') then create role {role} login; "
            f"end if; end $$; alter role {role} login; "
            f"create schema if not exists tenant_{tenant} authorization {role}; "
            f"create schema if not exists tenant_{tenant}_raw authorization {role}",
            database=database,
        )
        monkeypatch.setenv(f"AIRFLOW_CONN_AIRLOCK_WAREHOUSE_{tenant.upper()}", server.dsn(database, user=role))
    env = {"AIRLOCK_HOME": str(pg.tmp), "AIRLOCK_WAREHOUSE": "redshift", "AIRLOCK_RAW_URL": "s3://airlock-test-raw"}
    env["AIRLOCK_REDSHIFT_IAM_ROLE"] = ROLE_ARN
    config = load_warehouse_config(load_settings(env), env)
    log: list[str] = []

    def connect(creds: Any, _name: str) -> _RedshiftOnPostgres:
        conn = psycopg.connect(
            server.dsn(database, user=creds.login), autocommit=True, cursor_factory=psycopg.ClientCursor
        )
        return _RedshiftOnPostgres(conn, pg.zone.raw, log)

    warehouse = RedshiftWarehouse(lambda t: resolve(config.conn_id, t), ROLE_ARN, config.raw_url, connect=connect)
    monkeypatch.setattr(RedshiftWarehouse, "from_config", classmethod(lambda cls, _c: warehouse))
    harness = Harness("redshift", config, pg.registry, pg.zone, pg.tmp, _postgres_query(server, database))
    return harness, log


def test_copy_from_s3_with_the_terraform_role_then_one_transaction_replaces_the_batch(rs) -> None:
    harness, log = rs
    harness.deliver(
        {
            "acme/orders/20261120/orders.csv": orders_csv("1", "2"),
            "acme/orders/20261120/customers.csv": "country,customer_id,customer_name,segment\nFR,c1,Ann,x\n",
            "acme/orders/20261120/refunds.jsonl": '{"order_id": "1", "refunded_at": "2026-11-21", "amount": 2.5}\n',
        }
    )
    assert harness.load("acme|20261120") == {"orders": 2, "customers": 1, "refunds": 1}
    assert harness.load("acme|20261120") == {"orders": 2, "customers": 1, "refunds": 1}  # the retry
    assert harness.query("acme", "select order_id, amount, _batch_id from tenant_acme_raw.orders order by 1") == [
        ("1", "10.5", "20261120"),
        ("2", "10.5", "20261120"),
    ]
    assert harness.query("acme", "select customer_id, customer_name, country from tenant_acme_raw.customers") == [
        ("c1", "Ann", "FR")
    ]
    copies = [s for s in log if s.startswith("copy ")]
    ts = next(s for s in copies if "orders.csv" in s).split("/")[6]
    assert copies[:3] == [
        f"copy _airlock_load_0 from 's3://airlock-test-raw/acme/orders/20261120/{ts}/customers.csv' iam_role "
        f"'{ROLE_ARN}' format as csv ignoreheader 1 ignoreblanklines encoding utf8 acceptinvchars compupdate off "
        "statupdate off",
        f"copy _airlock_load_1 from 's3://airlock-test-raw/acme/orders/20261120/{ts}/orders.csv' iam_role "
        f"'{ROLE_ARN}' format as csv ignoreheader 1 ignoreblanklines encoding utf8 acceptinvchars compupdate off "
        "statupdate off",
        f"copy _airlock_load_2 from 's3://airlock-test-raw/acme/orders/20261120/{ts}/refunds.jsonl' iam_role "
        f"'{ROLE_ARN}' format as json 'auto ignorecase' acceptinvchars compupdate off statupdate off",
    ]
    assert "set query_group to 'airlock:acme:orders:20261120:load'" in log
    first_begin = log.index("begin")
    assert all(not s.startswith("copy ") for s in log[first_begin : log.index("commit")])  # COPYs precede the txn


def test_the_shipped_grants_give_each_tenant_its_own_user_owning_its_schemas() -> None:
    sql = tenant_sql(TenantSpace("acme", "tenant_acme"), ROLE_ARN, database="analytics")
    assert "create user airlock_tenant_acme password disable;" in sql
    assert "create schema if not exists tenant_acme_raw authorization airlock_tenant_acme;" in sql
    assert f"grant assumerole on '{ROLE_ARN}' to airlock_tenant_acme for copy;" in sql
    assert "globex" not in sql
