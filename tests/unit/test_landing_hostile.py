"""Hostile keys: every landing object ends snapshotted or quarantined with a reason, whatever its key.

Real objects under hostile keys in moto's S3 (in-process) and in a folder, through the sweep and
through the router, plus hypothesis over the key classifier. Nothing may be mapped to a tenant it
does not belong to, nothing may be skipped, and no exception may escape.
"""

from __future__ import annotations

import json
import os
import unicodedata
from datetime import UTC, datetime

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from airlock.events import ObjectHint, parse_body
from airlock.intake import Intake
from airlock.landing import Arrival, ControlFile, Rejection, classify
from airlock.quarantine import REASON_SUFFIX, quarantine_key
from airlock.storage import LocalStorage, ObjectInfo, S3Storage
from airlock.tenants import load_registry

from ..conftest import ORDERS_CSV, REPO

# hypothesis runs many examples per test: one registry, read once (the demo tenants, unchanged)
REGISTRY = load_registry(REPO / "dags" / "registry" / "tenants", REPO / "dags" / "registry" / "dataflows")

STOCK = "warehouse_id,sku,quantity,counted_at\nw1,s1,3,2026\n"

# (id, key, the reason it must end quarantined with)
KEYS: list[tuple[str, str, str]] = [
    ("unregistered prefix", "nobody/orders/20261120/orders.csv", "unknown_tenant"),
    ("case variant", "Acme/orders/20261120/orders.csv", "unknown_tenant"),
    ("upper case", "ACME/orders/20261120/orders.csv", "unknown_tenant"),
    ("leading space", " acme/orders/20261120/orders.csv", "unknown_tenant"),
    ("trailing space tenant", "acme /orders/20261120/orders.csv", "unknown_tenant"),
    ("cyrillic a", "\u0430cme/orders/20261120/orders.csv", "unknown_tenant"),
    ("fullwidth", "\uff41cme/orders/20261120/orders.csv", "unknown_tenant"),
    ("leading slash", "/acme/orders/20261120/orders.csv", "unsafe_key"),
    ("two leading slashes", "//acme/orders/20261120/orders.csv", "unsafe_key"),
    ("double slash", "acme//orders/20261120/orders.csv", "unsafe_key"),
    ("dot segment", "acme/./orders/20261120/orders.csv", "unsafe_key"),
    ("dot-dot segment", "acme/orders/../orders/20261120/orders.csv", "unsafe_key"),
    ("backslashes", "acme\\orders\\20261120\\orders.csv", "unsafe_key"),
    ("newline", "acme/orders/20261120/orders.csv\n", "unsafe_key"),
    ("tab", "acme/orders/20261120/ord\ters.csv", "unsafe_key"),
    ("bell", "acme/orders/20261120/ord\x07ers.csv", "unsafe_key"),
    ("DEL", "acme/orders/20261120/orders\x7f.csv", "unsafe_key"),
    ("folder marker", "acme/orders/20261120/", "unsafe_key"),
    ("tenant folder marker", "acme/", "unsafe_key"),
    ("root object", "orders.csv", "unknown_tenant"),
    ("root object named like a tenant", "acme", "unknown_tenant"),
    ("tenant and dataflow only", "acme/orders", "unmatched_key"),
    ("unknown dataflow", "acme/payroll/20261120/pay.csv", "unknown_dataflow"),
    ("dataflow of another tenant", "initech/orders/20261120/orders.csv", "unknown_dataflow"),
    ("bad batch id for pattern", "acme/orders/not-a-date/orders.csv", "unmatched_key"),
    ("invalid batch id", "globex/orders/-bad/orders.jsonl", "invalid_batch_id"),
    ("too long batch id", "globex/orders/" + "x" * 65 + "/orders.jsonl", "invalid_batch_id"),
    ("extra depth", "acme/orders/20261120/sub/orders.csv", "unmatched_key"),
    ("file under file", "acme/orders/20261120/orders.csv/x", "unmatched_key"),
    ("unknown file", "acme/orders/20261120/invoices.csv", "unmatched_key"),
    ("case variant file", "acme/orders/20261120/ORDERS.CSV", "unmatched_key"),
    ("control file without a rule", "acme/orders/20261120/_SUCCESS", "unmatched_key"),
    ("a reason-file look-alike", "acme/orders/20261120/orders.csv.reason.json", "unmatched_key"),
    ("percent in key", "acme%2Forders%2F20261120%2Forders.csv", "unknown_tenant"),
    ("right-to-left override", "acme/orders/20261120/\u202eorders.csv", "unmatched_key"),
    ("emoji", "acme/orders/20261120/\U0001f4a5.csv", "unmatched_key"),
    ("1000-byte key", "acme/orders/20261120/" + "x" * 970 + ".csv", "unsafe_key"),
    ("900-byte unknown file", "acme/orders/20261120/" + "x" * 870 + ".csv", "unmatched_key"),
    ("_unknown prefix", "_unknown/unknown_tenant/x", "unknown_tenant"),
    ("NFD file name", "acme/orders/20261120/" + unicodedata.normalize("NFD", "caf\u00e9.csv"), "unmatched_key"),
]


def _reasons(store) -> dict[str, str]:
    """original key -> reason, from every `.reason.json` in a quarantine root."""
    found = {}
    for info in store.list():
        if info.key.endswith(REASON_SUFFIX):
            record = json.loads(store.read_bytes(info.key))
            found[record["original_key"]] = record["reason"]
    return found


@pytest.fixture
def s3zone(monkeypatch, registry):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        for name in ("landing", "raw", "quarantine"):
            client.create_bucket(Bucket=f"airlock-t-{name}")
        landing = S3Storage("airlock-t-landing", client=client)
        raw, quar = S3Storage("airlock-t-raw", client=client), S3Storage("airlock-t-quarantine", client=client)
        yield client, Intake(registry, landing, raw, quar)


def test_the_key_corpus_is_big_enough():
    assert len(KEYS) >= 35  # with the notification corpus: well over 60 hostile cases


def test_the_sweep_leaves_nothing_unseen_on_s3(s3zone):
    client, intake = s3zone
    keys = {key: reason for _, key, reason in KEYS}
    for key in keys:
        client.put_object(Bucket="airlock-t-landing", Key=key, Body=b"x")
    good = "initech/inventory/20261120/stock_main.csv"
    client.put_object(Bucket="airlock-t-landing", Key=good, Body=STOCK.encode())
    report = intake.sweep(unknown_prefixes=True)
    assert report.failures == []
    assert report.partition_keys == ["initech|20261120"]
    assert _reasons(intake.quarantine_store) == keys
    left = client.list_objects_v2(Bucket="airlock-t-landing").get("Contents", [])
    assert [o["Key"] for o in left] == [good]  # snapshotted; it leaves landing once processing starts


def test_without_the_unknown_prefix_sweep_only_tenant_prefixes_are_looked_at(s3zone):
    client, intake = s3zone
    client.put_object(Bucket="airlock-t-landing", Key="nobody/x", Body=b"x")
    client.put_object(Bucket="airlock-t-landing", Key="acme/payroll/1/x", Body=b"x")
    assert intake.sweep().quarantined == ["acme/unknown_dataflow/acme%2Fpayroll%2F1%2Fx"]
    assert intake.sweep(unknown_prefixes=True).quarantined == ["_unknown/unknown_tenant/nobody%2Fx"]


@pytest.mark.parametrize(("key", "reason"), [(k, r) for _, k, r in KEYS], ids=[i for i, _, _ in KEYS])
def test_a_hint_for_a_hostile_key_ends_in_quarantine(s3zone, key, reason):
    client, intake = s3zone
    client.put_object(Bucket="airlock-t-landing", Key=key, Body=b"x")
    report = intake.handle_hints([ObjectHint("airlock-t-landing", key)])
    assert report.failures == []
    assert _reasons(intake.quarantine_store) == {key: reason}


def test_hints_from_hostile_notifications_reach_the_router_without_raising(s3zone):
    """Whatever the parser lets through as a hint, the router handles: located, looked up, or skipped."""
    _, intake = s3zone
    bodies = [
        {"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": b}, "object": {"key": k}}}]}
        for b in ("airlock-t-landing", "other-bucket")
        for k in ("", "/", "//", "acme", "acme/", "/acme/x", "..", "a%00b", "x" * 1024, "%2F", "acme/orders/1/x")
    ]
    hints = [h for body in bodies for h in parse_body(json.dumps(body)).hints]
    assert len(hints) >= 10
    report = intake.handle_hints(hints)
    assert report.failures == []


def test_a_folder_landing_zone_survives_keys_no_folder_can_hold(registry, zone):
    """Empty, absolute and '..' keys cannot name a file there: they used to raise UnsafeKeyError."""
    intake = Intake(registry, zone.landing, zone.raw, zone.quarantine)
    hints = [ObjectHint("b", k) for k in ("", "/", "/acme/orders/1/o.csv", "../etc/passwd", "acme/../../x", "a\x00b")]
    report = intake.handle_hints(hints)
    assert report.failures == []
    assert len(report.skipped_hints) == 6


def test_a_folder_landing_zone_quarantines_names_that_are_not_utf8(registry, zone, tmp_path):
    folder = zone.landing.root / "acme" / "orders" / "20261120"
    folder.mkdir(parents=True)
    (folder / "orders.csv").write_text(ORDERS_CSV)
    os.close(os.open(os.fsencode(folder) + b"/\xff\xfe.csv", os.O_CREAT | os.O_WRONLY))
    (zone.landing.root / "Acme").mkdir()
    (zone.landing.root / "Acme" / "x.csv").write_text("x")
    (zone.landing.root / "stray.csv").write_text("x")
    report = Intake(registry, zone.landing, zone.raw, zone.quarantine).sweep(unknown_prefixes=True)
    assert report.failures == []
    reasons = _reasons(zone.quarantine)
    assert reasons == {
        "acme/orders/20261120/\udcff\udcfe.csv": "unsafe_key",
        "Acme/x.csv": "unknown_tenant",
        "stray.csv": "unknown_tenant",
    }
    assert [o.key for o in zone.landing.list()] == ["acme/orders/20261120/orders.csv"]  # waiting for customers


def test_quarantine_paths_never_need_a_file_and_a_folder_at_once(registry, zone):
    """The reported NotADirectoryError: `acme/orders` quarantined as a file, then `acme/orders/...`."""
    intake = Intake(registry, zone.landing, zone.raw, zone.quarantine)
    zone.put("acme/orders", "x")
    intake.sweep()
    zone.put("acme/orders/20261120/invoices.csv", "x")
    zone.put("acme/orders/20261120/ord\x07.csv", "x")
    zone.put("acme/payroll/1/x", "x")
    assert intake.sweep().failures == []
    zone.put("acme/orders/20261120/invoices.csv/x", "x")  # impossible in a folder: invoices.csv left landing
    assert intake.sweep().failures == []
    assert set(_reasons(zone.quarantine)) == {
        "acme/orders",
        "acme/orders/20261120/invoices.csv",
        "acme/orders/20261120/ord\x07.csv",
        "acme/payroll/1/x",
        "acme/orders/20261120/invoices.csv/x",
    }


# -- property tests over the key classifier --------------------------------------------------------
segments = st.sampled_from(
    ["acme", "Acme", "globex", "initech", "orders", "inventory", "payroll", "20261120", "b1", "orders.csv",
     "customers.csv", "stock_a.csv", "refunds.jsonl", "", ".", "..", " ", "_SUCCESS", "x\x07", "\\", "é"]
)  # fmt: skip
keys = st.lists(segments, min_size=1, max_size=6).map("/".join) | st.text(max_size=60)


@settings(max_examples=500, deadline=None)
@given(keys.filter(bool))  # an object key is never empty
def test_classify_is_total_and_never_crosses_tenants(key):
    registry = REGISTRY
    result = classify(ObjectInfo(key, 1, datetime(2026, 11, 20, tzinfo=UTC)), registry)
    if isinstance(result, Arrival | ControlFile):
        assert key.startswith(f"{result.batch.tenant_id}/")
        assert result.batch.tenant_id in registry.tenants
        assert key.split("/")[1] == result.batch.dataflow
    else:
        assert isinstance(result, Rejection) and result.detail
        if result.tenant_id is not None:
            assert key.startswith(f"{result.tenant_id}/")
        dest = quarantine_key(result)
        assert not dest.startswith("/") and ".." not in dest.split("/") and "" not in dest.split("/")
        assert dest.split("/")[0] == (result.tenant_id or "_unknown")


@settings(max_examples=200, deadline=None)
@given(st.lists(keys.filter(lambda k: k and not k.startswith("/")), min_size=1, max_size=8, unique=True))
def test_any_set_of_folder_keys_ends_snapshotted_waiting_or_quarantined(tmp_path_factory, batch):
    registry = REGISTRY
    root = tmp_path_factory.mktemp("prop")
    zone = [LocalStorage(root / n) for n in ("landing", "raw", "quarantine")]
    written = set()
    for key in batch:
        try:
            zone[0].write_bytes(key, ORDERS_CSV.encode())
            written.add(key)
        except Exception:  # a key no folder can hold (a file where a folder is needed): not an upload
            continue
    report = Intake(registry, *zone).sweep(unknown_prefixes=True)
    assert report.failures == []
    left = {o.key for o in zone[0].list()}
    assert left <= written
    assert set(_reasons(zone[2])) | left >= {k for k in written if zone[0].unaddressable(k) is None}
