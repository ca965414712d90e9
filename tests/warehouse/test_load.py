"""The load contract, on every warehouse that runs here for real (DuckDB, PostgreSQL).

docs/contracts.md "Raw tables": one transaction replaces the batch's rows; a retry changes nothing; raw
tables keep the batches loaded within the retention; a file whose bytes differ from the manifest, or that
the warehouse parses differently from the validator, loads nothing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from airlock.snapshot import read_manifest
from airlock.warehouse import WarehouseError
from airlock.warehouse.base import SnapshotIntegrityError

from .conftest import CUSTOMERS_CSV, Harness, orders_csv

pytestmark = pytest.mark.postgres

ROWS = (
    "select order_id, customer_id, amount, _batch_id, _snapshot_ts, _source_file from tenant_acme_raw.orders order by 1"
)


def _deliver_acme(warehouse: Harness, batch: str, *ids: str, extra: dict[str, str] | None = None) -> None:
    files = {f"acme/orders/{batch}/orders.csv": orders_csv(*ids), f"acme/orders/{batch}/customers.csv": CUSTOMERS_CSV}
    warehouse.deliver({**files, **(extra or {})})


def test_a_load_lands_the_snapshot_and_a_retry_changes_nothing(warehouse: Harness) -> None:
    _deliver_acme(
        warehouse,
        "20261120",
        "1",
        "2",
        extra={"acme/orders/20261120/refunds.jsonl": '{"order_id": "1", "refunded_at": "2026-11-21", "amount": 2.5}\n'},
    )
    rows = warehouse.load("acme|20261120")
    assert rows == {"orders": 2, "customers": 2, "refunds": 1}
    first = warehouse.query("acme", ROWS)
    snapshot = read_manifest(warehouse.zone.raw, warehouse.plan("acme|20261120").batch)
    assert snapshot is not None
    ts = snapshot["snapshot_ts"]
    assert first == [
        ("1", "c1", "10.5", "20261120", ts, f"acme/orders/20261120/{ts}/orders.csv"),
        ("2", "c1", "10.5", "20261120", ts, f"acme/orders/20261120/{ts}/orders.csv"),
    ]
    assert warehouse.query("acme", "select order_id, amount from tenant_acme_raw.refunds") == [("1", "2.5")]

    assert warehouse.load("acme|20261120") == rows  # the task's retry
    assert warehouse.query("acme", ROWS) == first
    ledger = warehouse.query("acme", "select batch_id, snapshot_ts, rows_loaded from tenant_acme_raw._airlock_loads")
    assert [(b, s, json.loads(r)) for b, s, r in ledger] == [
        ("20261120", ts, {"customers": 2, "orders": 2, "refunds": 1})
    ]


def test_two_dataflows_of_a_tenant_with_the_same_batch_id_keep_each_others_rows(warehouse: Harness) -> None:
    """A tenant's dataflows share its raw schema and ledger, and often a batch id: neither load is the other's retry."""
    stock = "warehouse_id,sku,quantity,counted_at\n{w},sku-1,4,2026-11-20T06:00:00\n"
    _deliver_acme(warehouse, "20261120", "1", "2")
    warehouse.deliver({f"acme/inventory/20261120/stock_{w}.csv": stock.format(w=w) for w in ("eu", "us")})
    assert warehouse.load("acme|20261120") == {"orders": 2, "customers": 2, "refunds": 0}
    assert warehouse.load("acme|20261120", dataflow="inventory") == {"stock": 2}
    assert warehouse.load("acme|20261120") == {"orders": 2, "customers": 2, "refunds": 0}  # a retry of orders
    for table, rows in (("orders", 2), ("customers", 2), ("stock", 2)):
        got = warehouse.query("acme", f"select _batch_id, count(*) from tenant_acme_raw.{table} group by 1")
        assert got == [("20261120", rows)], table
    ledger = warehouse.query("acme", "select batch_id, rows_loaded from tenant_acme_raw._airlock_loads order by 2")
    assert [(b, sorted(json.loads(r))) for b, r in ledger] == [
        ("20261120", ["customers", "orders", "refunds"]),
        ("20261120", ["stock"]),
    ]


def test_only_the_dataflows_columns_reach_the_raw_tables_in_any_file_order(warehouse: Harness) -> None:
    warehouse.deliver(
        {
            "globex/orders/b1/orders.jsonl": GLOBEX_ORDER,
            "globex/orders/b1/customers.csv": "segment,country,customer_id,customer_name\nsmb,FR,c,Cy\n",
        }
    )
    assert warehouse.load("globex|b1") == {"orders": 1, "customers": 1, "refunds": 0}
    assert warehouse.query("globex", "select order_id, amount from tenant_globex_raw.orders") == [("7", "1.5")]
    assert warehouse.query("globex", "select customer_id, customer_name, country from tenant_globex_raw.customers") == [
        ("c", "Cy", "FR")
    ]
    columns = warehouse.query(
        "globex",
        "select column_name from information_schema.columns where table_schema = 'tenant_globex_raw' "
        "and table_name = 'customers' order by ordinal_position",
    )
    assert [c for (c,) in columns] == ["customer_id", "customer_name", "country", *META]


GLOBEX_ORDER = '{"amount": 1.5, "order_id": 7, "customer_id": "c", "ordered_at": "d", "x": 1}\n'
GLOBEX_CUSTOMERS = "customer_id,customer_name,country,segment\nc1,Ann,FR,smb\n"
META = ["_batch_id", "_snapshot_ts", "_source_file", "_loaded_at"]


def test_blank_lines_bom_crlf_and_quoted_newlines_load_as_the_validator_counted(warehouse: Harness) -> None:
    body = (
        '\ufefforder_id,customer_id,ordered_at,amount\r\n1,"c\r\n\r\n1",2026-11-20,1\r\n\r\n'
        '2,c2,2026-11-20,"2,5"\r\n\r\n'
    )
    warehouse.deliver(
        {"acme/orders/20261122/orders.csv": body, "acme/orders/20261122/customers.csv": CUSTOMERS_CSV + "\n\n"}
    )
    assert warehouse.load("acme|20261122") == {"orders": 2, "customers": 2, "refunds": 0}
    assert warehouse.query("acme", "select order_id, customer_id, amount from tenant_acme_raw.orders order by 1") == [
        ("1", "c\r\n\r\n1", "1"),
        ("2", "c2", "2,5"),
    ]


def test_raw_tables_keep_the_batches_loaded_within_the_retention(warehouse: Harness) -> None:
    now = datetime.now(UTC)
    for batch, age_days in (("20261101", 9), ("20261105", 5), ("20261109", 0)):
        _deliver_acme(warehouse, batch, f"o-{batch}")
        warehouse.load(f"acme|{batch}", loaded_at=now - timedelta(days=age_days))
    held = warehouse.query("acme", "select distinct _batch_id from tenant_acme_raw.orders order by 1")
    assert held == [("20261105",), ("20261109",)]  # 7d retention: the 9-day-old batch left with the last load
    ledger = warehouse.query("acme", "select batch_id from tenant_acme_raw._airlock_loads order by 1")
    assert ledger == held
    assert warehouse.query("acme", "select count(*) from tenant_acme_raw.customers where _batch_id = '20261101'") == [
        (0,)
    ]


def test_a_snapshot_altered_after_commit_loads_nothing(warehouse: Harness) -> None:
    _deliver_acme(warehouse, "20261120", "1")
    warehouse.load("acme|20261120")
    before = warehouse.query("acme", ROWS)
    manifest = read_manifest(warehouse.zone.raw, warehouse.plan("acme|20261120").batch)
    assert manifest is not None
    key = next(f["key"] for f in manifest["files"] if f["table"] == "orders")
    warehouse.zone.raw.write_bytes(key, orders_csv("9").encode())  # same size, other bytes
    with pytest.raises(SnapshotIntegrityError, match=r"sha256 .* but the manifest records"):
        warehouse.load("acme|20261120")
    assert warehouse.query("acme", ROWS) == before


@pytest.mark.parametrize(
    ("body", "messages"),
    [
        # JSON the validator (Python's json) accepts and the warehouses' JSON parsers refuse: a lone surrogate
        (
            '{"order_id": "1", "customer_id": "c\\ud800", "ordered_at": "d", "amount": 1}\n',
            {"local": "no low surrogate in string", "postgres": "Unicode low surrogate must follow a high surrogate"},
        ),
    ],
)
def test_a_file_the_warehouse_cannot_parse_fails_the_load_with_its_message(
    warehouse: Harness, body: str, messages: dict[str, str]
) -> None:
    warehouse.deliver({"globex/orders/b1/orders.jsonl": body, "globex/orders/b1/customers.csv": GLOBEX_CUSTOMERS})
    with pytest.raises(WarehouseError, match=messages[warehouse.kind]):
        warehouse.load("globex|b1")
    tables = warehouse.query(
        "globex", "select count(*) from information_schema.tables where table_schema = 'tenant_globex_raw'"
    )
    if tables[0][0]:
        assert warehouse.query("globex", "select count(*) from tenant_globex_raw.customers") == [(0,)]


def test_a_failed_load_fails_the_task_with_the_warehouses_words_and_the_batch_is_marked_failed(
    warehouse: Harness, registry_dirs, monkeypatch
) -> None:
    """The task bodies the processing DAG runs: claim → load (fails) → record_failure (trigger_rule one_failed)."""
    from airlock import tasks
    from airlock.processing import BatchRef
    from airlock.snapshot import DONE_MARKER, marker_key
    from airlock.storage import read_json

    tenants, dataflows = registry_dirs
    settings = {
        "AIRLOCK_TENANTS_DIR": str(tenants),
        "AIRLOCK_DATAFLOWS_DIR": str(dataflows),
        "AIRLOCK_LANDING_URL": warehouse.zone.landing.url,
        "AIRLOCK_RAW_URL": warehouse.zone.raw.url,
        "AIRLOCK_QUARANTINE_URL": warehouse.zone.quarantine.url,
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    bad = '{"order_id": "1", "customer_id": "\\ud800", "ordered_at": "d", "amount": 1}\n'
    warehouse.deliver({"globex/orders/b9/orders.jsonl": bad, "globex/orders/b9/customers.csv": GLOBEX_CUSTOMERS})
    plan = tasks.claim("orders", "globex|b9", "run-9", "process_orders")
    with pytest.raises(WarehouseError, match="low surrogate"):
        tasks.load(plan)
    tasks.record_failure("orders", "globex|b9", "run-9", "process_orders")
    done = read_json(warehouse.zone.raw, marker_key(BatchRef("globex", "orders", "b9"), DONE_MARKER))
    assert done is not None and (done["status"], done["run_id"]) == ("failed", "run-9")
