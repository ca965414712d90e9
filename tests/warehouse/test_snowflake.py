"""Snowflake through fakesnow (a Snowflake stand-in on DuckDB), patched into this process.

What runs for real here: the loader's own statements (temp tables, `COPY INTO … FROM @stage FILES = (…)`,
the one transaction that replaces the batch, the ledger and the retention), with the snapshot made by the real
intake, credentials from an Airflow connection.

What fakesnow cannot do, and how the test stands in (each says why):
- The stage reads the raw root through a `file://` URL: fakesnow has no S3 and no storage integrations.
- The file formats lack SKIP_BLANK_LINES / SKIP_BYTE_ORDER_MARK / ERROR_ON_COLUMN_COUNT_MISMATCH / ENCODING:
  fakesnow 0.12.1 raises NotImplementedError for them (its CSV reader skips blank lines anyway).
- Roles and grants (sql/snowflake/*.sql) are not implemented by fakesnow ("create role" is a parser error):
  their text is asserted instead, and the tenant's schemas are created directly.
- fakesnow 0.12.1 is written for DuckDB 2.0; the kit pins DuckDB 1.5.5 (dbt-duckdb 1.11 hangs on 2.0, and a
  2.0 file cannot be read by 1.5.5). `duckdb.ResourceInUseException` (new in 2.0) is aliased so that fakesnow
  reports DuckDB's own errors instead of an AttributeError.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from airlock.settings import load_settings
from airlock.warehouse import load_warehouse_config
from airlock.warehouse.base import TenantNotProvisionedError, TenantSpace
from airlock.warehouse.snowflake import render, tenant_sql

from .conftest import CUSTOMERS_CSV, Harness, orders_csv

if not hasattr(duckdb, "ResourceInUseException"):  # see the module docstring

    class _ResourceInUseException(duckdb.Error):
        pass

    duckdb.ResourceInUseException = _ResourceInUseException  # type: ignore[attr-defined]

import fakesnow
import snowflake.connector

STAGE = "AIRLOCK.LOADING.AIRLOCK_RAW_STAGE"
FAKESNOW_SETUP = [
    "create schema if not exists AIRLOCK.LOADING",
    "create file format if not exists AIRLOCK.LOADING.AIRLOCK_CSV type = csv skip_header = 1 "
    "field_optionally_enclosed_by = '\"'",
    "create file format if not exists AIRLOCK.LOADING.AIRLOCK_JSONL type = json",
]


@pytest.fixture
def sf(registry, zone, tmp_path: Path, monkeypatch) -> Iterator[Harness]:
    db_path = tmp_path / "fakesnow"
    db_path.mkdir()
    env = {
        "AIRLOCK_HOME": str(tmp_path),
        "AIRLOCK_WAREHOUSE": "snowflake",
        "AIRLOCK_SNOWFLAKE_STAGE": STAGE,
        "AIRFLOW_CONN_AIRLOCK_WAREHOUSE": "snowflake://loader:pw@/AIRLOCK?account=fakesnow&warehouse=AIRLOCK_WH",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with fakesnow.patch(db_path=str(db_path)):
        conn = snowflake.connector.connect(database="AIRLOCK", schema="PUBLIC")
        cur = conn.cursor()
        for sql in FAKESNOW_SETUP:
            cur.execute(sql)
        cur.execute(f"create stage if not exists {STAGE} url = '{Path(zone.raw.root).resolve().as_uri()}/'")
        for tenant in ("acme", "globex", "initech"):
            cur.execute(f"create schema if not exists AIRLOCK.TENANT_{tenant.upper()}")
            cur.execute(f"create schema if not exists AIRLOCK.TENANT_{tenant.upper()}_RAW")

        def query(_tenant: str, sql: str) -> list[tuple]:
            return [tuple(r) for r in conn.cursor().execute(sql).fetchall()]

        config = load_warehouse_config(load_settings(env), env)
        yield Harness("snowflake", config, registry, zone, tmp_path, query)
        conn.close()


def test_the_loader_copies_from_the_stage_and_a_retry_changes_nothing(sf: Harness) -> None:
    sf.deliver(
        {
            "acme/orders/20261120/orders.csv": orders_csv("1", "2"),
            "acme/orders/20261120/customers.csv": CUSTOMERS_CSV,
            "acme/orders/20261120/refunds.jsonl": '{"order_id": "1", "refunded_at": "2026-11-21", "amount": 2.5}\n',
        }
    )
    assert sf.load("acme|20261120") == {"orders": 2, "customers": 2, "refunds": 1}
    rows = "select order_id, amount, _batch_id from AIRLOCK.TENANT_ACME_RAW.ORDERS order by 1"
    first = sf.query("acme", rows)
    assert first == [("1", "10.5", "20261120"), ("2", "10.5", "20261120")]
    assert sf.query("acme", "select order_id, amount from AIRLOCK.TENANT_ACME_RAW.REFUNDS") == [("1", "2.5")]
    assert sf.load("acme|20261120") == {"orders": 2, "customers": 2, "refunds": 1}
    assert sf.query("acme", rows) == first
    assert sf.query("acme", "select batch_id from AIRLOCK.TENANT_ACME_RAW._AIRLOCK_LOADS") == [("20261120",)]


def test_extra_and_reordered_columns_map_by_header_name(sf: Harness) -> None:
    sf.deliver(
        {
            "globex/orders/b1/orders.jsonl": '{"amount": 1.5, "order_id": 7, "customer_id": "c", "ordered_at": "d"}\n',
            "globex/orders/b1/customers.csv": "segment,country,customer_id,customer_name\nsmb,FR,c,Cy\n",
        }
    )
    assert sf.load("globex|b1") == {"orders": 1, "customers": 1, "refunds": 0}
    assert sf.query(
        "globex", "select customer_id, customer_name, country from AIRLOCK.TENANT_GLOBEX_RAW.CUSTOMERS"
    ) == [("c", "Cy", "FR")]
    assert sf.query("globex", "select order_id, amount from AIRLOCK.TENANT_GLOBEX_RAW.ORDERS") == [("7", "1.5")]


def test_a_tenant_without_its_schemas_is_refused_naming_the_admin_step(sf: Harness, monkeypatch) -> None:
    space = TenantSpace("hooli", "tenant_hooli")
    from airlock.warehouse import open_warehouse

    with pytest.raises(TenantNotProvisionedError, match="airlock warehouse sql --kind snowflake --tenant hooli"):
        open_warehouse(sf.config).ensure_tenant(space)


def test_the_shipped_grants_give_each_tenant_a_role_that_owns_its_schemas() -> None:
    names = {
        "database": "AIRLOCK",
        "warehouse": "AIRLOCK_WH",
        "stage_schema": "LOADING",
        "stage": "AIRLOCK_RAW_STAGE",
        "loader_role": "AIRLOCK_LOADER",
    }
    sql = tenant_sql(TenantSpace("acme", "tenant_acme"), names)
    assert "create role if not exists AIRLOCK_TENANT_ACME;" in sql
    assert "grant role AIRLOCK_TENANT_ACME to role AIRLOCK_LOADER;" in sql
    assert "grant ownership on schema AIRLOCK.TENANT_ACME_RAW to role AIRLOCK_TENANT_ACME copy current grants;" in sql
    assert "GLOBEX" not in sql.upper()
    setup = render(
        "setup",
        **names,
        integration="AIRLOCK_RAW",
        iam_role_arn="arn:aws:iam::123456789012:role/airlock-prod-snowflake-raw-reader",
        raw_url="s3://airlock-prod-raw",
        loader_user="AIRLOCK_LOADER",
    )
    assert "storage_aws_role_arn = 'arn:aws:iam::123456789012:role/airlock-prod-snowflake-raw-reader'" in setup
    assert "storage_allowed_locations = ('s3://airlock-prod-raw/')" in setup
    assert "url = 's3://airlock-prod-raw/'" in setup and "skip_blank_lines = true" in setup
