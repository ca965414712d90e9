"""Loading a snapshot into the tenant's own DuckDB file: replace-by-batch, so a re-run changes nothing."""

from __future__ import annotations

import duckdb

from airlock.intake import Intake
from airlock.processing import plan_run
from airlock.warehouse import load_snapshot, warehouse_path

from ..conftest import CUSTOMERS_CSV, ORDERS_CSV


def test_load_is_idempotent_and_per_tenant(registry, zone, tmp_path):
    zone.put("globex/orders/b1/orders.jsonl", '{"order_id": 7, "customer_id": "c", "ordered_at": "d", "amount": 1.5}\n')
    zone.put("globex/orders/b1/customers.csv", "customer_id,customer_name,country,segment\nc,Cy,FR,smb\n")
    zone.put("acme/orders/20261120/orders.csv", ORDERS_CSV)
    zone.put("acme/orders/20261120/customers.csv", CUSTOMERS_CSV)
    Intake(registry, zone.landing, zone.raw, zone.quarantine).sweep()
    warehouse = tmp_path / "warehouse"
    for key in ("globex|b1", "acme|20261120", "globex|b1"):  # globex twice: a re-run
        plan = plan_run(key, "orders", registry, zone.raw, "r", "process_orders")
        rows = load_snapshot(plan, registry, zone.raw, warehouse, tmp_path / key.replace("|", "_"))
    assert rows == {"orders": 1, "customers": 1, "refunds": 0}
    con = duckdb.connect(str(warehouse_path(warehouse, "globex")), read_only=True)
    assert con.execute("select order_id, amount, _batch_id from tenant_globex_raw.orders").fetchall() == [
        ("7", "1.5", "b1")
    ]
    assert con.execute("select count(*) from tenant_globex_raw.refunds").fetchone() == (0,)
    columns = [r[0] for r in con.execute("describe tenant_globex_raw.customers").fetchall()]
    assert "segment" not in columns  # only the dataflow's canonical columns reach the warehouse
    schemas = {r[0] for r in con.execute("select schema_name from information_schema.schemata").fetchall()}
    assert "tenant_acme_raw" not in schemas  # acme's data lives in acme's file only
    con.close()
