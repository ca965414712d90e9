"""Re-delivery: an explicit new snapshot version from the late files, validated, and processed as a new attempt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airlock.intake import Intake
from airlock.lifecycle.redeliver import RedeliveryError, plan_redelivery, redeliver
from airlock.lifecycle.versions import CodeVersion, content_hash
from airlock.processing import new_request, parse_partition_key, plan_run, record_done, write_request
from airlock.snapshot import read_claim, read_manifest

from ..conftest import CUSTOMERS_CSV, ORDERS_CSV

KEY = "acme|20261120"
CODE = CodeVersion("orders", "c" * 64, "0.1.0")
FIXED_ORDERS = ORDERS_CSV + "3,c1,2026-11-20,99\n"


def sweep(registry, zone, minutes=10):
    later = datetime.now(UTC) + timedelta(minutes=minutes)
    return Intake(registry, zone.landing, zone.raw, zone.quarantine, now=later).sweep()


@pytest.fixture
def processed(registry, zone):
    """acme|20261120 snapshotted and processed once (attempt 1, success)."""
    zone.put("acme/orders/20261120/orders.csv", ORDERS_CSV)
    zone.put("acme/orders/20261120/customers.csv", CUSTOMERS_CSV)
    sweep(registry, zone)
    batch = parse_partition_key(KEY, "orders", registry)
    plan_run(KEY, "orders", registry, zone.raw, "asset__1", "process_orders", code=CODE)
    record_done(zone.raw, batch, "asset__1", "process_orders", "success", {"orders": 2})
    sweep(registry, zone)  # hands the landing files over to the snapshot
    return batch


def plan(registry, zone, batch):
    return plan_redelivery(registry, zone.raw, zone.landing, zone.quarantine, batch)


def test_a_late_file_is_quarantined_and_redelivery_makes_a_new_version_with_it(registry, zone, processed):
    first = read_manifest(zone.raw, processed)
    zone.put("acme/orders/20261120/orders.csv", FIXED_ORDERS)
    report = sweep(registry, zone)
    assert report.after_snapshot == ["acme/orders/20261120/orders.csv"], "the intake never adds to a snapshot"
    p = plan(registry, zone, processed)
    assert (p.replaced, p.added, p.kept) == (["orders.csv"], [], ["customers.csv"])
    assert "replaces orders.csv: 3 rows" in "\n".join(p.describe())
    snap = redeliver(p, zone.raw, new_request("resent", requested_by="ops", kind="redeliver"))
    second = read_manifest(zone.raw, processed)
    assert second["snapshot_ts"] == snap.snapshot_ts > first["snapshot_ts"]
    assert (second["version"], second["supersedes"]) == (2, first["snapshot_ts"])
    assert second["redelivery"]["files"] == ["orders.csv"] and second["redelivery"]["requested_by"] == "ops"
    rows = {f["file"]: f["rows"] for f in second["files"]}
    assert rows == {"orders.csv": 3, "customers.csv": 2}
    assert all(f["key"].startswith(f"{processed.raw_prefix}{snap.snapshot_ts}/") for f in second["files"])
    assert zone.raw.read_bytes(f"{snap.prefix}orders.csv").decode() == FIXED_ORDERS
    assert read_claim(zone.raw, processed)["previous"] == [first["snapshot_ts"]]
    assert zone.raw.exists(f"{processed.raw_prefix}{first['snapshot_ts']}/orders.csv"), "the old version stays"
    assert not list(zone.quarantine.list("acme/after_snapshot/")), "the new version holds the late file now"
    assert sweep(registry, zone).after_snapshot == [] and not list(zone.landing.list("acme/"))
    assert content_hash(second) != content_hash(first)


def test_the_new_version_runs_as_a_new_attempt_and_identical_files_are_skipped(registry, zone, processed):
    zone.put("acme/orders/20261120/orders.csv", FIXED_ORDERS)
    sweep(registry, zone)
    request = new_request("resent", requested_by="ops", kind="redeliver")
    redeliver(plan(registry, zone, processed), zone.raw, request)
    write_request(zone.raw, processed, request)
    attempt = plan_run(KEY, "orders", registry, zone.raw, "asset__1", "process_orders", clear_number=1, code=CODE)
    assert (attempt.attempt, attempt.skipped) == (2, None), "new content: it runs"
    record_done(zone.raw, processed, "asset__1", "process_orders", "success", {"orders": 3})
    zone.put("acme/orders/20261120/orders.csv", FIXED_ORDERS)  # the same bytes once more
    sweep(registry, zone)
    again = new_request("resent twice", requested_by="ops", kind="redeliver")
    redeliver(plan(registry, zone, processed), zone.raw, again)
    write_request(zone.raw, processed, again)
    third = plan_run(KEY, "orders", registry, zone.raw, "asset__1", "process_orders", clear_number=2, code=CODE)
    assert third.skipped and "unchanged" in third.skipped, "identical content and code: nothing to do"


def test_a_bad_redelivered_file_stops_everything_and_says_which(registry, zone, processed):
    before = read_manifest(zone.raw, processed)
    zone.put("acme/orders/20261120/customers.csv", "id,name\n1,x\n")
    sweep(registry, zone)
    with pytest.raises(RedeliveryError, match=r"customers.csv \(quarantined after_snapshot\): wrong_columns"):
        plan(registry, zone, processed)
    assert read_manifest(zone.raw, processed) == before


def test_nothing_new_or_nothing_snapshotted_is_refused_with_the_way_out(registry, zone, processed):
    with pytest.raises(RedeliveryError, match="airlock reprocess"):
        plan(registry, zone, processed)
    never = parse_partition_key("acme|20261121", "orders", registry)
    zone.put("acme/orders/20261121/orders.csv", ORDERS_CSV)
    with pytest.raises(RedeliveryError, match="never snapshotted"):
        plan(registry, zone, never)
