"""Offboarding's warehouse side, on each real warehouse: export every table, then drop the tenant, and only it."""

from __future__ import annotations

import csv

from airlock.warehouse import open_warehouse
from airlock.warehouse.base import TenantSpace

from ..conftest import CUSTOMERS_CSV, ORDERS_CSV

GLOBEX_ORDERS = '{"order_id": "9", "customer_id": "c1", "ordered_at": "2026-11-20", "amount": "5"}\n'
GLOBEX_CUSTOMERS = "customer_id,customer_name,country,segment\nc1,Ann,FR,b2b\n"


def test_export_then_drop_leaves_no_schema_and_the_other_tenant_untouched(warehouse, tmp_path):
    warehouse.deliver(
        {
            "acme/orders/20261120/orders.csv": ORDERS_CSV,
            "acme/orders/20261120/customers.csv": CUSTOMERS_CSV,
            "globex/orders/20261120/orders.jsonl": GLOBEX_ORDERS,
            "globex/orders/20261120/customers.csv": GLOBEX_CUSTOMERS,
        }
    )
    warehouse.load("acme|20261120")
    warehouse.load("globex|20261120")
    impl = open_warehouse(warehouse.config)
    acme, globex = TenantSpace("acme", "tenant_acme"), TenantSpace("globex", "tenant_globex")
    assert "tenant_acme_raw" in impl.tenant_schemas(acme)

    counts = impl.export_tenant(acme, tmp_path / "export")
    assert counts["tenant_acme_raw.orders"] == 2 and counts["tenant_acme_raw.customers"] == 2
    with (tmp_path / "export" / "tenant_acme_raw" / "orders.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["order_id"] for r in rows) == ["1", "2"] and rows[0]["_batch_id"] == "20261120"
    assert not [name for name in counts if "globex" in name], "an export holds the tenant's tables only"
    raw = sorted(name for name in counts if name.startswith("tenant_acme_raw."))
    assert raw == [f"tenant_acme_raw.{t}" for t in ("_airlock_loads", "customers", "orders", "refunds")], (
        "each raw table once (on Postgres a batch's child table is exported through its raw table)"
    )

    dropped = impl.drop_tenant(acme)
    assert "tenant_acme_raw" in dropped
    assert impl.tenant_schemas(acme) == []
    assert impl.drop_tenant(acme) == [], "dropping again is a no-op"
    assert warehouse.query("globex", "select count(*) from tenant_globex_raw.orders") == [(1,)]
    assert "tenant_globex_raw" in impl.tenant_schemas(globex)
