"""`airlock reprocess` plans: the selection, what re-runs and why, and a dry run that changes nothing."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from airlock.cli import main
from airlock.intake import Intake
from airlock.lifecycle.batches import BatchFilter, SelectionError, committed_batches
from airlock.lifecycle.reprocess import plan_reprocess
from airlock.lifecycle.versions import code_version, record_code
from airlock.processing import list_attempts, new_request, parse_partition_key, plan_run, record_done
from airlock.snapshot import marker_key

from ..conftest import CUSTOMERS_CSV, ORDERS_CSV

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "dbt_project" / "target" / "manifest.json"
STOCK = "warehouse_id,sku,quantity,counted_at\nw1,s1,3,2026-11-20\n"


@pytest.fixture
def world(registry, zone):
    """acme orders 20261118..20261120 and initech inventory 20261120, all processed once with today's code."""
    for batch in ("20261118", "20261119", "20261120"):
        zone.put(f"acme/orders/{batch}/orders.csv", ORDERS_CSV)
        zone.put(f"acme/orders/{batch}/customers.csv", CUSTOMERS_CSV)
    zone.put("initech/inventory/20261120/stock_w1.csv", STOCK)
    later = datetime.now(UTC) + timedelta(minutes=10)
    Intake(registry, zone.landing, zone.raw, zone.quarantine, now=later).sweep()
    for key, flow in [(f"acme|{b}", "orders") for b in ("20261118", "20261119", "20261120")] + [
        ("initech|20261120", "inventory")
    ]:
        code = code_version(registry.dataflows[flow], MANIFEST)
        record_code(zone.raw, code)
        plan_run(key, flow, registry, zone.raw, f"asset__{key}", f"process_{flow}", code=code)
        record_done(zone.raw, parse_partition_key(key, flow, registry), f"asset__{key}", f"process_{flow}",
                    "success", {})  # fmt: skip
    return zone


def request():
    return new_request("test", requested_by="tester")


def keys(plan, action="re-run"):
    return sorted(i.batch.batch.partition_key for i in plan.items if i.action == action)


def test_selection_by_tenant_dataflow_batch_and_range(registry, world):
    every = committed_batches(registry, world.raw, BatchFilter())
    assert len(every) == 4
    orders = committed_batches(registry, world.raw, BatchFilter(dataflows=("orders",)))
    assert {b.batch.tenant_id for b in orders} == {"acme"}
    ranged = committed_batches(registry, world.raw, BatchFilter(tenants=("acme",), first="20261119", last="20261120"))
    assert [b.batch.batch_id for b in ranged] == ["20261119", "20261120"]
    one = committed_batches(registry, world.raw, BatchFilter(batch_ids=("20261120",)))
    assert sorted(b.batch.partition_key for b in one) == ["acme|20261120", "initech|20261120"]
    assert {b.state for b in every} == {"done"} and {b.attempt for b in every} == {1}


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        (BatchFilter(tenants=("hooli",)), "no tenant hooli"),
        (BatchFilter(dataflows=("payments",)), "no dataflow payments"),
        (BatchFilter(first="20261130", last="20261101"), "is after"),
        (BatchFilter(batch_ids=("../x",)), "must match"),
    ],
)
def test_a_bad_selection_says_what_is_wrong(registry, world, selection, message):
    with pytest.raises(SelectionError, match=message):
        committed_batches(registry, world.raw, selection)


def test_unchanged_batches_are_left_alone_unless_forced(registry, world):
    plan = plan_reprocess(registry, world.raw, BatchFilter(), MANIFEST, request())
    assert keys(plan) == [] and len(keys(plan, "leave")) == 4
    assert all("unchanged since attempt 1" in i.why for i in plan.items)
    forced = plan_reprocess(registry, world.raw, BatchFilter(), MANIFEST, request(), force=True)
    assert len(keys(forced)) == 4


def test_changed_reruns_only_the_dataflow_whose_nodes_changed_and_names_them(registry, world, tmp_path):
    manifest = json.loads(MANIFEST.read_text())
    changed = copy.deepcopy(manifest)
    changed["nodes"]["model.airlock.fct_orders"]["checksum"]["checksum"] = "0" * 64
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(changed))
    plan = plan_reprocess(registry, world.raw, BatchFilter(), path, request(), changed=True)
    assert keys(plan) == ["acme|20261118", "acme|20261119", "acme|20261120"]
    assert keys(plan, "leave") == ["initech|20261120"]
    rerun = plan.reruns[0]
    assert rerun.changed == {"model.airlock.fct_orders": "modified"} and "fct_orders modified" in rerun.why
    without_changed = plan_reprocess(registry, world.raw, BatchFilter(), path, request())
    assert keys(without_changed) == keys(plan), "changed code re-runs without --changed too"


def test_a_running_batch_is_never_rerun(registry, world):
    batch = parse_partition_key("acme|20261120", "orders", registry)
    world.raw.write_bytes(marker_key(batch, "_RUN.json"), json.dumps({"run_id": "x", "attempt": 2}).encode())
    plan = plan_reprocess(registry, world.raw, BatchFilter(batch_ids=("20261120",)), MANIFEST, request(), force=True)
    running = next(i for i in plan.items if i.batch.batch == batch)
    assert running.action == "leave" and "is running" in running.why


def test_dry_run_prints_the_plan_and_changes_nothing(registry_dirs, world, monkeypatch, capsys):
    tenants, dataflows = registry_dirs
    for name, value in {
        "AIRLOCK_TENANTS_DIR": tenants,
        "AIRLOCK_DATAFLOWS_DIR": dataflows,
        "AIRLOCK_RAW_URL": world.raw.root,
        "AIRLOCK_LANDING_URL": world.landing.root,
        "AIRLOCK_QUARANTINE_URL": world.quarantine.root,
    }.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("AIRLOCK_AIRFLOW_URL", raising=False)
    before = sorted(i.key for i in world.raw.list())
    assert main(["reprocess", "--dataflow", "orders", "--force", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "3 committed batch(es) selected, 3 to re-run" in out and "clearDagRuns" in out
    assert "acme    orders    20261120  done   1        re-run  forced" in out
    assert sorted(i.key for i in world.raw.list()) == before, "a dry run writes nothing"
    assert main(["reprocess"]) == 2
    assert "--all" in capsys.readouterr().err
    assert main(["reprocess", "--tenant", "acme", "--force"]) == 2  # no Airflow to ask: says how to set it
    assert "AIRLOCK_AIRFLOW_URL" in capsys.readouterr().err
    batch = parse_partition_key("acme|20261120", "orders", registry_from(tenants, dataflows))
    assert [a["attempt"] for a in list_attempts(world.raw, batch)] == [1]


def registry_from(tenants, dataflows):
    from airlock.tenants import load_registry

    return load_registry(tenants, dataflows)
