"""Processing runs trust no partition key, and a batch is processed by one run only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airlock.errors import PartitionKeyError
from airlock.intake import Intake
from airlock.processing import parse_partition_key, plan_run, record_done
from airlock.snapshot import DONE_MARKER
from airlock.storage import read_json

from ..conftest import CUSTOMERS_CSV, ORDERS_CSV


@pytest.fixture
def snapshotted(registry, zone):
    zone.put("acme/orders/20261120/orders.csv", ORDERS_CSV)
    zone.put("acme/orders/20261120/customers.csv", CUSTOMERS_CSV)
    settled = datetime.now(UTC) + timedelta(minutes=10)  # past acme's settle window: its refunds are optional
    Intake(registry, zone.landing, zone.raw, zone.quarantine, now=settled).sweep()
    return zone


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (None, "is not '<tenant>|<batch_id>'"),
        ("acme", "is not '<tenant>|<batch_id>'"),
        ("acme|1|2", "is not '<tenant>|<batch_id>'"),
        ("hooli|20261120", "no tenant 'hooli'"),
        ("initech|20261120", "not subscribed to orders"),
        ("acme|../../x", "batch id must match"),
        ("acme|20991231", "no committed snapshot"),
    ],
)
def test_forged_or_unknown_keys_are_refused(registry, snapshotted, key, message):
    with pytest.raises(PartitionKeyError, match=message):
        plan_run(key, "orders", registry, snapshotted.raw, "run1", "process_orders")


def test_first_run_claims_and_a_duplicate_run_does_nothing(registry, snapshotted):
    plan = plan_run("acme|20261120", "orders", registry, snapshotted.raw, "run1", "process_orders")
    assert plan.duplicate_of is None
    assert plan.as_xcom()["tenant_schema"] == "tenant_acme"
    again = plan_run("acme|20261120", "orders", registry, snapshotted.raw, "run1", "process_orders")
    assert again.duplicate_of is None  # the same run retried: still its batch
    other = plan_run("acme|20261120", "orders", registry, snapshotted.raw, "run2", "process_orders")
    assert other.duplicate_of == "run1"


def test_record_done(registry, snapshotted):
    batch = parse_partition_key("acme|20261120", "orders", registry)
    record_done(snapshotted.raw, batch, "run1", "process_orders", "success", {"orders": 2})
    done = read_json(snapshotted.raw, batch.raw_prefix + DONE_MARKER)
    assert (done["status"], done["rows_loaded"]) == ("success", {"orders": 2})
