"""Offboarding and erasure: intake stops for the tenant alone, the registry file retires, the key is shredded."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import duckdb
import pytest
from moto import mock_aws

from airlock.cli import main
from airlock.events import ObjectHint
from airlock.intake import Intake
from airlock.lifecycle import erase as erasure
from airlock.lifecycle.offboard import retire_registry_file, stop_intake, stopped_tenants
from airlock.storage import open_storage
from airlock.tenants import load_registry, tenant_ids

from ..conftest import CUSTOMERS_CSV, ORDERS_CSV

ACME = {"acme/orders/20261120/orders.csv": ORDERS_CSV, "acme/orders/20261120/customers.csv": CUSTOMERS_CSV}
GLOBEX = {
    "globex/orders/20261120/orders.jsonl": '{"order_id":"1","customer_id":"c1","ordered_at":"x","amount":"1"}\n',
    "globex/orders/20261120/customers.csv": "customer_id,customer_name,country,segment\nc1,A,FR,b\n",
}
LATER = datetime.now(UTC) + timedelta(minutes=10)


def test_stopped_intake_leaves_the_tenants_files_alone_and_the_others_go_on(registry, zone):
    for key, body in {**ACME, **GLOBEX}.items():
        zone.put(key, body)
    stop_intake(zone.raw, "acme", "ops")
    first = stop_intake(zone.raw, "acme", "someone else")
    assert first["by"] == "ops", "the first stop is the one recorded"
    stopped = stopped_tenants(zone.raw)
    assert stopped == {"acme"}
    intake = Intake(registry, zone.landing, zone.raw, zone.quarantine, now=LATER, stopped=stopped)
    report = intake.sweep(unknown_prefixes=True)
    assert report.partition_keys == ["globex|20261120"]
    assert sorted(i.key for i in zone.landing.list("acme/")) == sorted(ACME), "waiting, untouched"
    assert not list(zone.quarantine.list()), "nothing quarantined, nothing under _unknown"
    hints = Intake(registry, zone.landing, zone.raw, zone.quarantine, now=LATER, stopped=stopped).handle_hints(
        [ObjectHint("landing", key) for key in ACME]
    )
    assert hints.partition_keys == [] and not list(zone.quarantine.list())


def test_the_retired_file_leaves_the_registry_and_its_prefix_is_no_strangers(registry_dirs, zone):
    tenants, dataflows = registry_dirs
    moved = retire_registry_file(tenants, "acme", {"at": "2026-11-27T10:00:00+00:00", "by": "ops", "data": "kept"})
    assert moved == tenants.parent / "offboarded" / "acme.yaml" and not (tenants / "acme.yaml").exists()
    assert "offboarded:\n  at: " in moved.read_text() and "tenant_id: acme" in moved.read_text()
    assert retire_registry_file(tenants, "acme", {}) == moved, "a second run finds it done"
    registry = load_registry(tenants, dataflows)
    assert "acme" not in registry.tenants and registry.offboarded == {"acme"}
    assert "acme" not in tenant_ids(tenants), "no watcher: the router's tenants come from these file names"
    for key, body in ACME.items():
        zone.put(key, body)
    Intake(registry, zone.landing, zone.raw, zone.quarantine, now=LATER).sweep(unknown_prefixes=True)
    assert not list(zone.quarantine.list("_unknown/")), "an offboarded tenant's files are not a stranger's"


@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "eu-west-1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3, kms = boto3.client("s3"), boto3.client("kms")
        for bucket in ("landing", "raw", "quarantine"):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        keys = {}
        for tenant in ("acme", "globex"):
            keys[tenant] = kms.create_key(Description=tenant)["KeyMetadata"]
            kms.create_alias(AliasName=f"alias/airlock-test-{tenant}", TargetKeyId=keys[tenant]["KeyId"])
        yield s3, kms, keys


def test_inventory_names_objects_the_key_would_not_shred(aws):
    s3, kms, keys = aws
    raw = open_storage("s3://raw", client=s3)
    raw.write_bytes("acme/orders/1/20261120T000000000000Z/orders.csv", b"x", kms_key_id="alias/airlock-test-acme")
    raw.write_bytes("acme/orders/1/_SNAPSHOT.json", b"{}")
    raw.write_bytes("acme/orders/1/_DBT_STATE.json", b"{}")  # the dbt build's resume state: node names and counts
    key = erasure.key_arn(kms, "alias/airlock-test-acme")
    found = erasure.inventory(raw, "acme", key, kms)
    assert (len(found.shredded), found.unshredded, found.markers) == (1, [], 2)
    raw.write_bytes("acme/orders/2/20261120T000000000000Z/orders.csv", b"y")  # the bucket's key, not acme's
    raw.write_bytes("acme/orders/3/20261120T000000000000Z/orders.csv", b"z", kms_key_id=keys["globex"]["Arn"])
    found = erasure.inventory(raw, "acme", key, kms)
    assert [k for k, _ in found.unshredded] == [
        "acme/orders/2/20261120T000000000000Z/orders.csv",
        "acme/orders/3/20261120T000000000000Z/orders.csv",
    ]


def test_erase_shreds_the_tenants_key_only_and_leaves_an_audit_record(
    aws, registry_dirs, tmp_path, monkeypatch, capsys
):
    s3, kms, keys = aws
    tenants, dataflows = registry_dirs
    retire_registry_file(tenants, "acme", {"by": "ops"})
    env = {
        "AIRLOCK_TENANTS_DIR": str(tenants),
        "AIRLOCK_DATAFLOWS_DIR": str(dataflows),
        "AIRLOCK_LANDING_URL": "s3://landing",
        "AIRLOCK_RAW_URL": "s3://raw",
        "AIRLOCK_QUARANTINE_URL": "s3://quarantine",
        "AIRLOCK_TENANT_KEY_TEMPLATE": "alias/airlock-test-{tenant}",
        "AIRLOCK_WAREHOUSE": "local",
        "AIRLOCK_WAREHOUSE_DIR": str(tmp_path / "warehouse"),
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps({"conn_type": "aws", "extra": {"region_name": "eu-west-1"}}),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "warehouse").mkdir()
    con = duckdb.connect(str(tmp_path / "warehouse" / "acme.duckdb"))  # the tenant's warehouse file: it must go
    con.execute("create schema tenant_acme_raw; create table tenant_acme_raw.orders (order_id varchar)")
    con.close()
    raw = open_storage("s3://raw", client=s3)
    raw.write_bytes("acme/orders/1/20261120T000000000000Z/orders.csv", b"rows", kms_key_id="alias/airlock-test-acme")
    raw.write_bytes(
        "globex/orders/1/20261120T000000000000Z/orders.csv", b"rows", kms_key_id="alias/airlock-test-globex"
    )
    s3.put_object(Bucket="quarantine", Key="acme/after_snapshot/acme/orders/1/orders.csv", Body=b"late")
    s3.put_object(Bucket="landing", Key="acme/orders/2/orders.csv", Body=b"waiting")

    assert main(["tenant", "erase", "globex", "--confirm", "globex"]) == 2, "an active tenant is offboarded first"
    assert "offboard it first" in capsys.readouterr().err
    assert main(["tenant", "erase", "acme", "--confirm", "acm"]) == 2

    assert main(["tenant", "erase", "acme", "--confirm", "acme", "--reason", "GDPR art. 17, ticket 42"]) == 0
    out = capsys.readouterr().out
    state = {t: kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] for t, k in keys.items()}
    assert state == {"acme": "PendingDeletion", "globex": "Enabled"}
    assert not (tmp_path / "warehouse" / "acme.duckdb").exists()
    assert s3.list_objects_v2(Bucket="landing").get("KeyCount") == 0
    assert s3.list_objects_v2(Bucket="quarantine").get("KeyCount") == 0
    audits = [o["Key"] for o in s3.list_objects_v2(Bucket="raw", Prefix=erasure.AUDIT_PREFIX)["Contents"]]
    record = json.loads(s3.get_object(Bucket="raw", Key=audits[0])["Body"].read())
    assert record["tenant_id"] == "acme" and record["reason"] == "GDPR art. 17, ticket 42"
    assert record["key"]["state"] == "PendingDeletion" and record["key"]["key_arn"] == keys["acme"]["Arn"]
    assert record["snapshots"]["objects"] == 1 and record["requested_by"] and record["aws_caller"]
    assert record["warehouse"]["schemas_dropped"] == ["tenant_acme_raw"]
    assert record["deleted"] == {"landing": 1, "quarantine": 1}
    assert "erased in" in out and "terraform state rm" in out
    retired = (tenants.parent / "offboarded" / "acme.yaml").read_text()
    assert "\n  erased: " in retired, "Terraform learns from the file that the key is gone"
    assert main(["tenant", "erase", "acme", "--confirm", "acme"]) == 0, "running it again is harmless"


def test_erase_refuses_when_a_snapshot_is_not_under_the_tenants_key(aws, registry_dirs, tmp_path, monkeypatch, capsys):
    s3, kms, keys = aws
    tenants, dataflows = registry_dirs
    retire_registry_file(tenants, "acme", {"by": "ops"})
    for name, value in {"AIRLOCK_TENANTS_DIR": str(tenants), "AIRLOCK_DATAFLOWS_DIR": str(dataflows),
                        "AIRLOCK_RAW_URL": "s3://raw", "AIRLOCK_LANDING_URL": "s3://landing",
                        "AIRLOCK_QUARANTINE_URL": "s3://quarantine",
                        "AIRLOCK_TENANT_KEY_TEMPLATE": "alias/airlock-test-{tenant}",
                        "AIRLOCK_WAREHOUSE_DIR": str(tmp_path)}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    s3.put_object(Bucket="raw", Key="acme/orders/1/20261120T000000000000Z/orders.csv", Body=b"old")
    assert main(["tenant", "erase", "acme", "--confirm", "acme"]) == 2
    assert "not encrypted with its key" in capsys.readouterr().err
    assert kms.describe_key(KeyId=keys["acme"]["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled", "nothing erased"


def test_registry_fixture_is_a_copy(registry_dirs):
    """Guard for the tests above: they move files in a copy, never in dags/registry."""
    tenants, _ = registry_dirs
    assert Path(tenants).resolve() != (Path(__file__).parents[2] / "dags" / "registry" / "tenants").resolve()
    shutil.rmtree(tenants.parent / "offboarded", ignore_errors=True)
