"""The intake end to end on a folder: exactly one snapshot and one emit per batch, nothing lost."""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta

import boto3
from moto import mock_aws

from airlock.errors import StorageError
from airlock.events import ObjectHint
from airlock.intake import Intake
from airlock.landing import BatchRef
from airlock.metrics import metrics
from airlock.snapshot import EMITTED_MARKER, MANIFEST, RUN_MARKER, SNAPSHOT_MARKER, read_manifest
from airlock.storage import LocalStorage, open_storage, read_json, write_json
from airlock.tenants import load_registry

from ..conftest import CUSTOMERS_CSV, ORDERS_CSV

BATCH = BatchRef("acme", "orders", "20261120")
REFUNDS = '{"order_id": 1, "refunded_at": "x", "amount": 1}\n'
# Every file acme's orders contract names: the default completion rule completes the batch at once.
KEYS = {
    "acme/orders/20261120/orders.csv": ORDERS_CSV,
    "acme/orders/20261120/customers.csv": CUSTOMERS_CSV,
    "acme/orders/20261120/refunds.jsonl": REFUNDS,
}


def intake(registry, zone, now=None, grace=timedelta(minutes=5)) -> Intake:
    return Intake(registry, zone.landing, zone.raw, zone.quarantine, snapshot_grace=grace, now=now)


def hints(*keys):
    return [ObjectHint("airlock-local-landing", k) for k in keys]


def snapshot_folders(zone, batch=BATCH):
    return sorted({o.key.split("/")[3] for o in zone.raw.list(batch.raw_prefix) if o.key.count("/") == 4})


def test_waits_until_complete_then_snapshots_once(registry, zone):
    zone.put("acme/orders/20261120/orders.csv", ORDERS_CSV)
    first = intake(registry, zone).handle_hints(hints("acme/orders/20261120/orders.csv"))
    assert [(o.state, o.detail) for o in first.outcomes] == [("waiting", "waiting for ['customers']")]
    zone.put("acme/orders/20261120/customers.csv", CUSTOMERS_CSV)
    second = intake(registry, zone).handle_hints(hints("acme/orders/20261120/customers.csv"))
    assert [o.state for o in second.outcomes] == ["settling"]  # refunds is optional: it may still come
    settled = datetime.now(UTC) + timedelta(minutes=6)
    third = intake(registry, zone, now=settled).handle_hints(hints("acme/orders/20261120/customers.csv"))
    assert third.partition_keys == ["acme|20261120"]
    manifest = read_manifest(zone.raw, BATCH)
    assert {f["file"]: f["rows"] for f in manifest["files"]} == {"orders.csv": 2, "customers.csv": 2}
    assert manifest["completion"] == "no file arrived for 0:05:00"
    assert all(len(f["sha256"]) == 64 for f in manifest["files"])
    assert len(snapshot_folders(zone)) == 1


def test_duplicates_and_shuffled_hints_emit_exactly_once(registry, zone):
    for key, data in KEYS.items():
        zone.put(key, data)
    stream = hints(*KEYS) * 3
    random.Random(7).shuffle(stream)
    emitted = []
    for i in range(0, len(stream), 2):  # hints arrive in several router runs
        emitted += intake(registry, zone).handle_hints(stream[i : i + 2]).partition_keys
    emitted += intake(registry, zone).sweep().partition_keys  # and the sweep finds nothing new
    assert emitted == ["acme|20261120"]
    assert len(snapshot_folders(zone)) == 1


def test_bad_file_is_quarantined_with_reason_and_other_tenants_go_on(registry, zone):
    zone.put("acme/orders/20261120/orders.csv", "order_id,amount\n1,2\n")  # lacks columns
    zone.put("acme/orders/20261120/customers.csv", CUSTOMERS_CSV)
    zone.put("acme/orders/20261120/refunds.jsonl", REFUNDS)
    zone.put("initech/inventory/20261120/stock_eu.csv", "warehouse_id,sku,quantity,counted_at\nw1,s1,3,2026\n")
    report = intake(registry, zone).sweep()
    assert report.partition_keys == ["initech|20261120"]
    assert report.quarantined == ["acme/wrong_columns/acme/orders/20261120/orders.csv"]
    reason = json.loads(zone.quarantine.read_bytes("acme/wrong_columns/acme/orders/20261120/orders.csv.reason.json"))
    assert reason["reason"] == "wrong_columns" and "lacks" in reason["detail"]
    assert reason["original_key"] == "acme/orders/20261120/orders.csv"
    assert not zone.landing.exists("acme/orders/20261120/orders.csv")  # moved, not copied
    # the tenant re-uploads a corrected file: the batch completes
    zone.put("acme/orders/20261120/orders.csv", ORDERS_CSV)
    assert intake(registry, zone).handle_hints(hints("acme/orders/20261120/orders.csv")).partition_keys == [
        "acme|20261120"
    ]


def test_unknown_tenant_and_unsafe_keys_are_quarantined_under_unknown(registry, zone):
    zone.put("hooli/orders/1/orders.csv", "x")
    zone.put("acme/orders/20261120/ord\x07.csv", "x")
    report = intake(registry, zone).sweep(unknown_prefixes=True)
    assert sorted(report.quarantined) == [
        "_unknown/unknown_tenant/hooli%2Forders%2F1%2Forders.csv",
        "_unknown/unsafe_key/acme%2Forders%2F20261120%2Ford%07.csv",
    ]
    assert list(zone.landing.list()) == []


def test_late_batch_alerts_without_crashing(registry, zone, caplog):
    zone.put("acme/orders/20261120/orders.csv", ORDERS_CSV)
    later = datetime.now(UTC) + timedelta(hours=1)
    outcome = intake(registry, zone, now=later).sweep().outcomes[0]
    assert outcome.state == "late" and "customers" in outcome.detail
    assert "is late" in caplog.text


def test_file_after_snapshot_is_quarantined(registry, zone):
    for key, data in KEYS.items():
        zone.put(key, data)
    intake(registry, zone).sweep()
    zone.put("acme/orders/20261120/refunds.jsonl", '{"order_id": 1, "refunded_at": "x", "amount": 1}\n')
    report = intake(registry, zone).handle_hints(hints("acme/orders/20261120/refunds.jsonl"))
    assert report.partition_keys == []
    assert report.quarantined == ["acme/after_snapshot/acme/orders/20261120/refunds.jsonl"]


def test_crash_after_claim_resumes_into_the_same_snapshot(registry, zone):
    for key, data in KEYS.items():
        zone.put(key, data)
    old = datetime.now(UTC) - timedelta(hours=1)
    claim = {
        "tenant_id": "acme",
        "dataflow": "orders",
        "batch_id": "20261120",
        "snapshot_ts": "20261120T000000000000Z",
        "created_at": old.isoformat(),
    }
    write_json(zone.raw, BATCH.raw_prefix + SNAPSHOT_MARKER, claim)  # a crashed snapshotter left only its claim
    assert intake(registry, zone).handle_hints(hints(*KEYS)).outcomes[0].state == "snapshot_in_progress"
    report = intake(registry, zone).sweep()  # the sweep recovers claims older than the grace period
    assert report.partition_keys == ["acme|20261120"]
    assert zone.raw.exists(f"{BATCH.raw_prefix}20261120T000000000000Z/{MANIFEST}")


def test_lost_emission_is_recovered_once_processing_never_started(registry, zone):
    for key, data in KEYS.items():
        zone.put(key, data)
    assert intake(registry, zone).sweep().partition_keys == ["acme|20261120"]
    later = datetime.now(UTC) + timedelta(minutes=10)
    assert intake(registry, zone, now=later).sweep().partition_keys == []  # emitted 10 min ago: maybe queued
    later = datetime.now(UTC) + timedelta(minutes=31)
    assert intake(registry, zone, now=later).sweep().partition_keys == ["acme|20261120"]  # no run ever started
    zone.raw.write_bytes(BATCH.raw_prefix + RUN_MARKER, b"{}")
    assert intake(registry, zone, now=later).sweep().partition_keys == []  # a run started: leave it alone


def test_every_landed_file_is_snapshotted_or_quarantined(registry, zone):
    files = {
        **KEYS,
        "acme/orders/20261120/refunds.jsonl": "not json\n",
        "acme/orders/20261121/orders.csv": ORDERS_CSV,  # incomplete batch: stays in landing
        "globex/orders/b1/orders.jsonl": '{"order_id": 1, "customer_id": 2, "ordered_at": 3, "amount": 4}\n',
        "globex/orders/b1/customers.csv": "customer_id,customer_name,country,segment\n1,a,b,c\n",
        "globex/orders/b1/extra.txt": "?",
        "nobody/x/y/z": "?",
        "acme/orders/20261120/empty.csv": "",
    }
    for key, data in files.items():
        zone.put(key, data)
    settled = datetime.now(UTC) + timedelta(minutes=6)  # acme's batch lacks its optional refunds (bad)
    intake(registry, zone, now=settled).sweep(unknown_prefixes=True)
    snapshotted = {
        f["landing_key"]
        for b in (BATCH, BatchRef("globex", "orders", "b1"))
        for f in read_manifest(zone.raw, b)["files"]
    }
    quarantined = {
        json.loads(zone.quarantine.read_bytes(o.key))["original_key"]
        for o in zone.quarantine.list()
        if o.key.endswith(".reason.json")
    }
    waiting = {o.key for o in zone.landing.list()} - snapshotted
    assert snapshotted | quarantined | waiting == set(files)
    assert waiting == {"acme/orders/20261121/orders.csv"}
    assert not snapshotted & quarantined


def test_a_retry_of_the_committing_run_emits_again_at_once(registry, zone):
    for key, data in KEYS.items():
        zone.put(key, data)
    first_try = Intake(registry, zone.landing, zone.raw, zone.quarantine, owner="airlock_router/run1")
    assert first_try.handle_hints(hints(*KEYS)).partition_keys == ["acme|20261120"]
    # the try died before Airflow recorded its events; its retry has the same owner
    retry = Intake(registry, zone.landing, zone.raw, zone.quarantine, owner="airlock_router/run1")
    assert retry.handle_hints(hints(*KEYS)).partition_keys == ["acme|20261120"]
    other = Intake(registry, zone.landing, zone.raw, zone.quarantine, owner="airlock_router/run2")
    assert other.handle_hints(hints(*KEYS)).partition_keys == []  # another run must not duplicate it


def test_a_retry_resumes_its_own_half_made_snapshot(registry, zone):
    for key, data in KEYS.items():
        zone.put(key, data)
    claim = {
        "tenant_id": "acme",
        "dataflow": "orders",
        "batch_id": "20261120",
        "snapshot_ts": "20261121T000000000000Z",
        "created_at": datetime.now(UTC).isoformat(),
        "claimed_by": "airlock_router/run1",
    }
    write_json(zone.raw, BATCH.raw_prefix + SNAPSHOT_MARKER, claim)
    other = Intake(registry, zone.landing, zone.raw, zone.quarantine, owner="airlock_router/run2")
    assert other.handle_hints(hints(*KEYS)).outcomes[0].state == "snapshot_in_progress"
    retry = Intake(registry, zone.landing, zone.raw, zone.quarantine, owner="airlock_router/run1")
    assert retry.handle_hints(hints(*KEYS)).partition_keys == ["acme|20261120"]


# -- one tenant's trouble is its own --------------------------------------------------------------
class FailingFor(LocalStorage):
    """A landing zone whose storage fails for one tenant's prefix (an S3 or KMS error in production)."""

    def __init__(self, root, tenant: str) -> None:
        super().__init__(root)
        self.tenant = tenant

    def _check(self, key: str) -> None:
        if key.startswith(f"{self.tenant}/"):
            raise StorageError(f"AccessDenied: KMS key of {self.tenant} disabled")

    def list(self, prefix: str = ""):
        self._check(prefix)
        return super().list(prefix)

    def head(self, key: str):
        self._check(key)
        return super().head(key)


def test_one_tenants_storage_failure_stops_only_that_tenant(registry, zone, caplog, monkeypatch):
    sent = []
    monkeypatch.setattr(metrics, "incr", lambda name, value=1, tags=None: sent.append((name, dict(tags or {}))))
    landing = FailingFor(zone.landing.root, "acme")
    for key, data in KEYS.items():
        zone.put(key, data)
    zone.put("initech/inventory/20261120/stock_a.csv", "warehouse_id,sku,quantity,counted_at\nw,s,1,d\n")
    intake = Intake(registry, landing, zone.raw, zone.quarantine)
    report = intake.sweep()
    assert report.partition_keys == ["initech|20261120"]
    assert [(f.tenant_id, f.stage) for f in report.failures] == [("acme", "sweep")]
    assert "AccessDenied" in report.failures[0].error and "tenant acme failed during sweep" in caplog.text
    assert ("intake.errors", {"stage": "sweep", "tenant": "acme", "dataflow": "_all"}) in sent
    # the router too: a hint for acme fails acme, globex's batch still flows
    zone.put("globex/orders/b1/orders.jsonl", '{"order_id": 1, "customer_id": 2, "ordered_at": 3, "amount": 4}\n')
    zone.put("globex/orders/b1/customers.csv", "customer_id,customer_name,country,segment\n1,a,b,c\n")
    report = intake.handle_hints(hints(*KEYS, "globex/orders/b1/orders.jsonl", "globex/orders/b1/customers.csv"))
    assert report.partition_keys == ["globex|b1"]
    assert [(f.tenant_id, f.stage) for f in report.failures] == [("acme", "router")]


def test_a_failing_batch_does_not_stop_the_tenants_other_batches(registry, zone):
    for key, data in KEYS.items():
        zone.put(key, data)
        zone.put(key.replace("20261120", "20261121"), data)
    zone.raw.write_bytes(BATCH.raw_prefix + SNAPSHOT_MARKER, b"{not json")  # a corrupted claim
    report = intake(registry, zone).sweep()
    assert report.partition_keys == ["acme|20261121"]
    assert [(f.tenant_id, f.dataflow, f.batch_id, f.stage) for f in report.failures] == [
        ("acme", "orders", "20261120", "evaluate")
    ]


def test_a_disabled_tenants_files_are_neither_processed_nor_lost(registry_dirs, zone, caplog):
    tenants, dataflows = registry_dirs
    (tenants / "acme.yaml").write_text((tenants / "acme.yaml").read_text().replace("format: csv", "format: xls", 1))
    registry = load_registry(tenants, dataflows, strict=False)
    assert sorted(registry.tenants) == ["globex", "initech"]
    assert "dataflows.orders.files.0.format" in registry.disabled["acme"]
    for key, data in KEYS.items():
        zone.put(key, data)
    zone.put("acme/whatever", "x")
    zone.put("initech/inventory/20261120/stock_a.csv", "warehouse_id,sku,quantity,counted_at\nw,s,1,d\n")
    report = intake(registry, zone).sweep(unknown_prefixes=True)
    assert report.partition_keys == ["initech|20261120"]
    assert report.disabled == {"acme": 4}
    assert report.quarantined == []  # acme's prefix is not "unknown": it waits
    routed = intake(registry, zone).handle_hints(hints(*KEYS))
    assert routed.disabled == {"acme": 3} and routed.outcomes == []
    assert {o.key for o in zone.landing.list("acme/")} == {*KEYS, "acme/whatever"}
    assert "tenant acme is disabled" in caplog.text
    # fixed: the batch completes as if nothing happened
    (tenants / "acme.yaml").write_text((tenants / "acme.yaml").read_text().replace("format: xls", "format: csv", 1))
    fixed = load_registry(tenants, dataflows)
    assert intake(fixed, zone).sweep().partition_keys == ["acme|20261120"]


# -- the landing zone as a prefix of a bucket ----------------------------------------------------------
def test_hints_for_a_landing_zone_under_a_prefix_are_found(registry, monkeypatch):
    """`s3://bucket/prefix`: notifications carry the full key; the prefix was applied twice."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="shared")
        landing = open_storage("s3://shared/airlock/landing", client=client)
        raw, quar = open_storage("s3://shared/airlock/raw", client), open_storage("s3://shared/airlock/q", client)
        for key, data in KEYS.items():
            client.put_object(Bucket="shared", Key=f"airlock/landing/{key}", Body=data.encode())
        client.put_object(Bucket="shared", Key="elsewhere/acme/orders/20261120/orders.csv", Body=b"x")
        outside = [ObjectHint("shared", "elsewhere/acme/orders/20261120/orders.csv"), ObjectHint("other", "x")]
        report = Intake(registry, landing, raw, quar).handle_hints(
            [ObjectHint("shared", f"airlock/landing/{k}") for k in KEYS] + outside
        )
        assert report.partition_keys == ["acme|20261120"]
        assert report.skipped_hints == ["elsewhere/acme/orders/20261120/orders.csv", "x"]
        assert client.head_object(Bucket="shared", Key="elsewhere/acme/orders/20261120/orders.csv")  # not ours


# -- one batch, one run ----------------------------------------------------------------------------
class Ledger:
    """What Airflow says: the partition keys whose event it recorded."""

    def __init__(self, recorded: set[str] | None) -> None:
        self.recorded = recorded
        self.asked: list[str] = []

    def emitted(self, batch, since):
        self.asked.append(batch.partition_key)
        return None if self.recorded is None else batch.partition_key in self.recorded


def test_a_queued_run_is_never_multiplied_by_sweeps(registry, zone):
    for key, data in KEYS.items():
        zone.put(key, data)
    assert intake(registry, zone).sweep().partition_keys == ["acme|20261120"]
    recorded = Ledger({"acme|20261120"})  # Airflow has the event: a run is queued behind a backlog
    for minutes in (6, 30, 90, 600):
        later = datetime.now(UTC) + timedelta(minutes=minutes)
        sweep = Intake(registry, zone.landing, zone.raw, zone.quarantine, now=later, ledger=recorded).sweep()
        assert sweep.partition_keys == []
    lost = Ledger(set())  # the committing task died before Airflow recorded the event
    later = datetime.now(UTC) + timedelta(minutes=6)
    report = Intake(registry, zone.landing, zone.raw, zone.quarantine, now=later, ledger=lost).sweep()
    assert report.partition_keys == ["acme|20261120"] and lost.asked == ["acme|20261120"]
    assert read_json(zone.raw, BATCH.raw_prefix + EMITTED_MARKER)["partition_key"] == "acme|20261120"


def test_without_airflow_to_ask_the_emission_note_has_a_time_to_live(registry, zone):
    for key, data in KEYS.items():
        zone.put(key, data)
    intake(registry, zone).sweep()
    unknown = Ledger(None)
    for minutes, expected in ((6, []), (29, []), (31, ["acme|20261120"])):
        later = datetime.now(UTC) + timedelta(minutes=minutes)
        report = Intake(registry, zone.landing, zone.raw, zone.quarantine, now=later, ledger=unknown).sweep()
        assert report.partition_keys == expected, minutes


# -- the sweep costs what is new ---------------------------------------------------------------------
class Counting(LocalStorage):
    def __init__(self, root) -> None:
        super().__init__(root)
        self.listed = 0

    def list(self, prefix: str = ""):
        for info in super().list(prefix):
            self.listed += 1
            yield info


def test_handled_batches_leave_landing_so_sweeps_stop_seeing_them(registry, zone):
    landing = Counting(zone.landing.root)
    for n in range(20):
        for key, data in KEYS.items():
            zone.put(key.replace("20261120", f"202611{n:02d}"), data)
    first = Intake(registry, landing, zone.raw, zone.quarantine).sweep()
    assert len(first.partition_keys) == 20 and landing.listed == 60
    for n in range(20):
        zone.raw.write_bytes(f"acme/orders/202611{n:02d}/{RUN_MARKER}", b"{}")  # processing claimed each
    handed = Intake(registry, landing, zone.raw, zone.quarantine).sweep()
    assert {o.state for o in handed.outcomes} == {"handed_over"}
    assert list(zone.landing.list()) == []
    landing.listed = 0
    zone.put("acme/orders/20261231/orders.csv", ORDERS_CSV)
    Intake(registry, landing, zone.raw, zone.quarantine).sweep()
    assert landing.listed == 1  # the new file, not the 60 handled ones


def test_a_file_replaced_after_the_snapshot_is_not_handed_over_but_quarantined(registry, zone):
    for key, data in KEYS.items():
        zone.put(key, data)
    intake(registry, zone).sweep()
    zone.raw.write_bytes(BATCH.raw_prefix + RUN_MARKER, b"{}")
    time.sleep(0.01)
    zone.put("acme/orders/20261120/orders.csv", ORDERS_CSV + "3,c3,2026-11-21,1\n")  # re-uploaded, new content
    report = intake(registry, zone).sweep()
    assert report.after_snapshot == ["acme/orders/20261120/orders.csv"]
    assert json.loads(zone.quarantine.read_bytes(report.quarantined[0] + ".reason.json"))["reason"] == "after_snapshot"
    assert list(zone.landing.list()) == []
