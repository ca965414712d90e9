"""Completion rules: a batch is snapshotted when its contract says nothing more will come, and a file
that still comes after the snapshot is quarantined `after_snapshot`, alerted and shown by status.

Each rule through the real intake on a folder landing zone, with a clock the test moves.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from airlock.completion import ControlFileError, parse_control_manifest
from airlock.errors import RegistryError
from airlock.events import ObjectHint
from airlock.intake import Intake
from airlock.landing import BatchRef
from airlock.metrics import metrics
from airlock.observability.status import collect_status
from airlock.snapshot import RUN_MARKER, marker_key, read_manifest
from airlock.tenants import load_registry

from ..conftest import CUSTOMERS_CSV, ORDERS_CSV

STOCK = "warehouse_id,sku,quantity,counted_at\nw1,s1,3,2026\n"
REFUNDS = '{"order_id": 1, "refunded_at": "x", "amount": 1}\n'
ORDERS = BatchRef("acme", "orders", "20261120")
INVENTORY = BatchRef("acme", "inventory", "20261120")


def set_completion(dirs: tuple[Path, Path], tenant: str, dataflow: str, completion: dict | None):
    path = dirs[0] / f"{tenant}.yaml"
    doc = yaml.safe_load(path.read_text())
    if completion is None:
        doc["dataflows"][dataflow].pop("completion", None)
    else:
        doc["dataflows"][dataflow]["completion"] = completion
    path.write_text(yaml.safe_dump(doc))
    return load_registry(*dirs)


class Clock:
    """The intake's `now`, moved by the test; file times come from the disk, so start at real time."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def intake(self, registry, zone, **kwargs) -> Intake:
        return Intake(registry, zone.landing, zone.raw, zone.quarantine, now=self.now, **kwargs)

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)

    def put(self, zone, key: str, body: str) -> None:
        """Upload at the clock's time (the file's mtime is what the rules read)."""
        zone.put(key, body)
        os.utime(zone.landing.root / key, (self.now.timestamp(), self.now.timestamp()))


def keys_of(manifest) -> list[str]:
    return sorted(f["file"] for f in manifest["files"])


def quarantined(zone) -> dict[str, str]:
    return {
        json.loads(zone.quarantine.read_bytes(o.key))["original_key"]: json.loads(zone.quarantine.read_bytes(o.key))[
            "reason"
        ]
        for o in zone.quarantine.list()
        if o.key.endswith(".reason.json")
    }


# -- settle (the default) --------------------------------------------------------------------------
def test_settle_waits_for_the_optional_file_within_the_window(registry, zone):
    clock = Clock()
    zone.put("acme/orders/20261120/orders.csv", ORDERS_CSV)
    zone.put("acme/orders/20261120/customers.csv", CUSTOMERS_CSV)
    outcome = clock.intake(registry, zone).sweep().outcomes[0]
    assert outcome.state == "settling" and outcome.recheck_at is not None
    clock.advance(minutes=2)
    clock.put(zone, "acme/orders/20261120/refunds.jsonl", REFUNDS)  # the optional file, two minutes later
    assert clock.intake(registry, zone).sweep().partition_keys == ["acme|20261120"]  # all named files: at once
    assert keys_of(read_manifest(zone.raw, ORDERS)) == ["customers.csv", "orders.csv", "refunds.jsonl"]


def test_settle_completes_without_the_optional_file_once_quiet(registry, zone):
    clock = Clock()
    zone.put("acme/orders/20261120/orders.csv", ORDERS_CSV)
    zone.put("acme/orders/20261120/customers.csv", CUSTOMERS_CSV)
    clock.advance(minutes=4, seconds=59)
    assert clock.intake(registry, zone).sweep().partition_keys == []
    clock.advance(seconds=2)
    report = clock.intake(registry, zone).sweep()
    assert report.partition_keys == ["acme|20261120"]
    assert read_manifest(zone.raw, ORDERS)["completion"] == "no file arrived for 0:05:00"


def test_the_late_optional_file_is_quarantined_alerted_and_shown(registry, zone, caplog, monkeypatch):
    sent = []
    monkeypatch.setattr(metrics, "incr", lambda name, value=1, tags=None: sent.append((name, dict(tags or {}))))
    clock = Clock()
    zone.put("acme/orders/20261120/orders.csv", ORDERS_CSV)
    zone.put("acme/orders/20261120/customers.csv", CUSTOMERS_CSV)
    clock.advance(minutes=6)
    assert clock.intake(registry, zone).sweep().partition_keys == ["acme|20261120"]
    zone.put("acme/orders/20261120/refunds.jsonl", REFUNDS)  # too late: the batch is snapshotted
    report = clock.intake(registry, zone).handle_hints([ObjectHint("b", "acme/orders/20261120/refunds.jsonl")])
    assert report.partition_keys == []
    assert report.after_snapshot == ["acme/orders/20261120/refunds.jsonl"]
    assert quarantined(zone) == {"acme/orders/20261120/refunds.jsonl": "after_snapshot"}
    assert "incomplete-delivered" in caplog.text
    assert ("files.quarantined", {"reason": "after_snapshot", "tenant": "acme", "dataflow": "orders"}) in sent
    rows = collect_status(registry, zone.landing, zone.raw, zone.quarantine)
    (row,) = [r for r in rows if (r.tenant_id, r.dataflow) == ("acme", "orders")]
    assert (row.batch_id, row.state, row.incomplete_delivered, row.after_snapshot_files) == (
        "20261120",
        "snapshotted",
        True,
        1,
    )
    assert row.to_dict()["incomplete_delivered"] is True


def test_settle_with_a_glob_waits_for_the_second_file(registry_dirs, zone):
    registry = set_completion(registry_dirs, "acme", "inventory", {"rule": "settle", "settle": "2m"})
    clock = Clock()
    clock.put(zone, "acme/inventory/20261120/stock_eu.csv", STOCK)
    assert clock.intake(registry, zone).sweep().outcomes[0].state == "settling"  # a glob: more may come
    clock.advance(minutes=1)
    clock.put(zone, "acme/inventory/20261120/stock_us.csv", STOCK)
    clock.advance(minutes=1, seconds=30)  # 2.5 min after the first file, 30 s after the second
    assert clock.intake(registry, zone).sweep().partition_keys == []
    clock.advance(minutes=2)
    assert clock.intake(registry, zone).sweep().partition_keys == ["acme|20261120"]
    assert keys_of(read_manifest(zone.raw, INVENTORY)) == ["stock_eu.csv", "stock_us.csv"]


def test_the_router_waits_in_task_for_a_short_settle_window(registry_dirs, zone):
    registry = set_completion(registry_dirs, "acme", "inventory", {"rule": "settle", "settle": "20s"})
    clock = Clock()
    slept: list[float] = []
    zone.put("acme/inventory/20261120/stock_eu.csv", STOCK)
    intake = clock.intake(registry, zone, settle_wait=timedelta(seconds=30), sleep=slept.append)
    report = intake.handle_hints([ObjectHint("b", "acme/inventory/20261120/stock_eu.csv")])
    assert report.partition_keys == ["acme|20261120"] and not report.settling
    assert len(slept) == 1 and 19 < slept[0] < 21
    # a window longer than the router may wait is the sweep's
    zone.put("acme/inventory/20261121/stock_eu.csv", STOCK)
    intake = clock.intake(registry, zone, settle_wait=timedelta(seconds=10), sleep=slept.append)
    report = intake.handle_hints([ObjectHint("b", "acme/inventory/20261121/stock_eu.csv")])
    assert [o.state for o in report.outcomes] == ["settling"] and len(slept) == 1
    assert list(report.settling) == [BatchRef("acme", "inventory", "20261121")]


def test_a_settling_batch_never_holds_back_a_complete_one(registry_dirs, zone):
    """Outlet events leave when the task ends: with a complete batch to emit, the router does not wait."""
    registry = set_completion(registry_dirs, "acme", "inventory", {"rule": "settle", "settle": "20s"})
    clock = Clock()
    slept: list[float] = []
    zone.put("acme/inventory/20261120/stock_eu.csv", STOCK)
    zone.put("initech/inventory/20261120/stock_main.csv", STOCK)  # initech: one stock file completes a batch
    intake = clock.intake(registry, zone, settle_wait=timedelta(seconds=30), sleep=slept.append)
    report = intake.handle_hints([ObjectHint("b", "acme/inventory/20261120/stock_eu.csv"),
                                  ObjectHint("b", "initech/inventory/20261120/stock_main.csv")])  # fmt: skip
    assert report.partition_keys == ["initech|20261120"] and not slept
    assert list(report.settling) == [BatchRef("acme", "inventory", "20261120")]
    clock.advance(seconds=21)  # the next sweep completes it
    assert clock.intake(registry, zone).sweep().partition_keys == ["acme|20261120"]


# -- count ---------------------------------------------------------------------------------------------
def test_count_waits_for_the_second_glob_file_and_quarantines_a_third(registry, zone):
    clock = Clock()  # the demo's acme.yaml: rule count, expected stock: 2
    zone.put("acme/inventory/20261120/stock_eu.csv", STOCK)
    outcome = clock.intake(registry, zone).sweep().outcomes[0]
    assert (outcome.state, outcome.detail) == ("waiting", "waiting for 1 more stock file(s)")
    clock.advance(hours=1)  # however long the wait: the contract says two
    zone.put("acme/inventory/20261120/stock_us.csv", STOCK)
    assert clock.intake(registry, zone).sweep().partition_keys == ["acme|20261120"]
    assert keys_of(read_manifest(zone.raw, INVENTORY)) == ["stock_eu.csv", "stock_us.csv"]
    zone.put("acme/inventory/20261120/stock_asia.csv", STOCK)
    assert clock.intake(registry, zone).sweep().after_snapshot == ["acme/inventory/20261120/stock_asia.csv"]


def test_the_late_second_glob_file_without_a_rule_for_it(registry_dirs, zone):
    """The reported bug, now visible: with a count of 1 the second stock file comes after the snapshot."""
    registry = set_completion(registry_dirs, "acme", "inventory", {"rule": "count", "expected": {"stock": 1}})
    clock = Clock()
    zone.put("acme/inventory/20261120/stock_eu.csv", STOCK)
    assert clock.intake(registry, zone).sweep().partition_keys == ["acme|20261120"]
    zone.put("acme/inventory/20261120/stock_us.csv", STOCK)
    report = clock.intake(registry, zone).handle_hints([ObjectHint("b", "acme/inventory/20261120/stock_us.csv")])
    assert report.after_snapshot == ["acme/inventory/20261120/stock_us.csv"]
    assert quarantined(zone) == {"acme/inventory/20261120/stock_us.csv": "after_snapshot"}


def test_count_of_zero_for_an_optional_table_completes_without_it(registry_dirs, zone):
    registry = set_completion(registry_dirs, "acme", "orders", {"rule": "count", "expected": {"refunds": 0}})
    zone.put("acme/orders/20261120/orders.csv", ORDERS_CSV)
    zone.put("acme/orders/20261120/customers.csv", CUSTOMERS_CSV)
    assert Clock().intake(registry, zone).sweep().partition_keys == ["acme|20261120"]


# -- control file ----------------------------------------------------------------------------------
def test_control_file_success_marker(registry_dirs, zone):
    registry = set_completion(registry_dirs, "acme", "orders", {"rule": "control_file"})
    clock = Clock()
    for name, body in (("orders.csv", ORDERS_CSV), ("customers.csv", CUSTOMERS_CSV), ("refunds.jsonl", REFUNDS)):
        zone.put(f"acme/orders/20261120/{name}", body)
    clock.advance(minutes=20)
    outcome = clock.intake(registry, zone).sweep().outcomes[0]
    assert outcome.detail == "waiting for the control file _SUCCESS"  # every file in, still not complete
    zone.put("acme/orders/20261120/_SUCCESS", "")
    assert clock.intake(registry, zone).sweep().partition_keys == ["acme|20261120"]
    manifest = read_manifest(zone.raw, ORDERS)
    assert keys_of(manifest) == ["customers.csv", "orders.csv", "refunds.jsonl"]
    (control,) = manifest["control_files"]
    assert control["file"] == "_SUCCESS" and zone.raw.exists(control["key"])
    assert control["key"].endswith("/_control/_SUCCESS")


def test_control_file_before_a_required_file_waits(registry_dirs, zone):
    registry = set_completion(registry_dirs, "acme", "orders", {"rule": "control_file"})
    zone.put("acme/orders/20261120/orders.csv", ORDERS_CSV)
    zone.put("acme/orders/20261120/_SUCCESS", "")
    outcome = Clock().intake(registry, zone).sweep().outcomes[0]
    assert outcome.detail == "waiting for ['customers'] (the control file _SUCCESS is in)"


@pytest.mark.parametrize("style", ["json", "sha256sum"])
def test_control_manifest_defines_the_batch_and_checks_checksums(registry_dirs, zone, style):
    registry = set_completion(
        registry_dirs, "acme", "orders", {"rule": "control_file", "control_file": "_MANIFEST.txt", "manifest": True}
    )
    clock = Clock()
    files = {"orders.csv": ORDERS_CSV, "customers.csv": CUSTOMERS_CSV}
    digests = {n: hashlib.sha256(b.encode()).hexdigest() for n, b in files.items()}
    if style == "json":
        control = json.dumps({"files": [{"file": n, "sha256": d} for n, d in digests.items()]})
    else:
        control = "".join(f"{d}  {n}\n" for n, d in digests.items())
    zone.put("acme/orders/20261120/_MANIFEST.txt", control)
    zone.put("acme/orders/20261120/orders.csv", ORDERS_CSV)
    assert clock.intake(registry, zone).sweep().outcomes[0].detail == (
        "waiting for ['customers.csv'], listed in _MANIFEST.txt"
    )
    zone.put("acme/orders/20261120/customers.csv", "customer_id,customer_name,country\nc1,EVIL,FR\n")  # corrupted
    zone.put("acme/orders/20261120/refunds.jsonl", REFUNDS)  # not listed
    report = clock.intake(registry, zone).sweep()
    assert report.partition_keys == []
    assert quarantined(zone) == {
        "acme/orders/20261120/customers.csv": "checksum_mismatch",
        "acme/orders/20261120/refunds.jsonl": "not_in_manifest",
    }
    zone.put("acme/orders/20261120/customers.csv", CUSTOMERS_CSV)  # the tenant re-uploads the right file
    assert clock.intake(registry, zone).sweep().partition_keys == ["acme|20261120"]
    assert keys_of(read_manifest(zone.raw, ORDERS)) == ["customers.csv", "orders.csv"]


def test_an_unreadable_control_manifest_is_quarantined_with_its_reason(registry_dirs, zone):
    registry = set_completion(
        registry_dirs, "acme", "orders", {"rule": "control_file", "control_file": "_MANIFEST.txt", "manifest": True}
    )
    zone.put("acme/orders/20261120/orders.csv", ORDERS_CSV)
    zone.put("acme/orders/20261120/_MANIFEST.txt", "orders.csv please\n")
    Clock().intake(registry, zone).sweep()
    assert quarantined(zone) == {"acme/orders/20261120/_MANIFEST.txt": "bad_control_file"}


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"{", "not valid JSON"),
        (b'{"files": []}', "expected"),
        (b'{"files": [{"file": "a/b", "sha256": null}]}', "not a file name"),
        (b'{"files": [{"file": "a.csv", "sha256": "xyz"}]}', "64 hex digits"),
        (b"deadbeef  a.csv\n", "sha256sum"),
        (b"\n\n", "lists no files"),
        (b"[" * 100_000, "not valid JSON") if False else (b"{" + b'"a":[' * 50_000, "not valid JSON"),
    ],
)
def test_control_manifest_parser_refuses_with_a_reason(data, problem):
    with pytest.raises(ControlFileError, match=problem):
        parse_control_manifest(data)


def test_the_late_control_file_is_after_snapshot_too(registry_dirs, zone):
    registry = set_completion(registry_dirs, "acme", "orders", {"rule": "control_file"})
    for name, body in (("orders.csv", ORDERS_CSV), ("customers.csv", CUSTOMERS_CSV), ("_SUCCESS", "")):
        zone.put(f"acme/orders/20261120/{name}", body)
    intake = Clock().intake(registry, zone)
    assert intake.sweep().partition_keys == ["acme|20261120"]
    zone.raw.write_bytes(marker_key(ORDERS, RUN_MARKER), b"{}")  # processing claimed it: landing hands over
    assert [o.state for o in intake.sweep().outcomes] == ["handed_over"]
    assert list(zone.landing.list()) == []
    zone.put("acme/orders/20261120/_SUCCESS", "")  # uploaded again
    assert intake.sweep().after_snapshot == ["acme/orders/20261120/_SUCCESS"]


# -- the contract's validation -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("dataflow", "completion", "message"),
    [
        ("inventory", {"rule": "count"}, "needs `expected`"),
        ("inventory", {"rule": "count", "expected": {"stocks": 2}}, "not tables of this contract"),
        ("orders", {"rule": "count", "expected": {"orders": 2}}, "use a glob pattern"),
        ("orders", {"rule": "count", "expected": {"orders": 0}}, "expect at least 1"),
        ("orders", {"rule": "count", "expected": {"orders": -1}}, "greater than or equal to 0"),
        ("orders", {"rule": "settle", "expected": {"orders": 1}}, "do not apply to rule 'settle'"),
        ("orders", {"rule": "control_file", "settle": "1m"}, "do not apply to rule 'control_file'"),
        ("orders", {"rule": "control_file", "control_file": "orders.csv"}, "matches the file pattern"),
        ("orders", {"rule": "control_file", "control_file": "_MANIFEST.json"}, "a name airlock writes itself"),
        ("orders", {"rule": "control_file", "control_file": "done/_SUCCESS"}, "no '/'"),
        ("orders", {"rule": "control_file", "control_file": "*.ok"}, "no glob"),
        ("orders", {"rule": "settle", "settle": "soon"}, "90s, 30m, 2h or 1d"),
        ("orders", {"rule": "settle", "settle": -5}, "must not be negative"),
        ("orders", {"rule": "eventually"}, "completion.rule"),
        ("orders", {"rule": "settle", "window": "2m"}, "['window'] do not apply to rule 'settle'"),
        ("orders", "settle", "completion"),
    ],
)
def test_completion_mistakes_name_the_field_and_the_fix(registry_dirs, dataflow, completion, message):
    with pytest.raises(RegistryError) as err:
        set_completion(registry_dirs, "acme", dataflow, completion)
    assert "acme.yaml" in str(err.value) and message in str(err.value)


def test_the_default_rule_is_settle_for_five_minutes(registry_dirs):
    registry = set_completion(registry_dirs, "acme", "orders", None)
    rule = registry.tenants["acme"].dataflows["orders"].completion
    assert (rule.rule, rule.settle) == ("settle", timedelta(minutes=5))


def test_status_labels_the_batch_incomplete_delivered(registry, zone):
    clock = Clock()
    zone.put("acme/inventory/20261120/stock_eu.csv", STOCK)
    zone.put("acme/inventory/20261120/stock_us.csv", STOCK)
    clock.intake(registry, zone).sweep()
    zone.put("acme/inventory/20261120/stock_asia.csv", STOCK)
    clock.intake(registry, zone).sweep()
    rows = collect_status(registry, zone.landing, zone.raw, zone.quarantine)
    (row,) = [r for r in rows if (r.tenant_id, r.dataflow) == ("acme", "inventory")]
    assert row.label == "snapshotted, incomplete-delivered (1 late file)"
