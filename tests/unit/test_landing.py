"""Placing keys in tenant contracts, and the reasons a key fits nowhere."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airlock.landing import Arrival, BatchRef, Reason, Rejection, classify, group_batches
from airlock.storage import ObjectInfo

NOW = datetime(2026, 11, 21, tzinfo=UTC)


def info(key: str) -> ObjectInfo:
    return ObjectInfo(key, 10, NOW)


def test_good_key(registry):
    result = classify(info("acme/orders/20261120/orders.csv"), registry)
    assert isinstance(result, Arrival)
    assert result.batch == BatchRef("acme", "orders", "20261120")
    assert result.batch.partition_key == "acme|20261120"
    assert result.contract.table == "orders"


def test_default_key_pattern_and_glob(registry):
    result = classify(info("initech/inventory/2026-11-20/stock_eu.csv"), registry)
    assert isinstance(result, Arrival) and result.contract.table == "stock"


@pytest.mark.parametrize(
    ("key", "reason", "tenant"),
    [
        ("/acme/orders/20261120/orders.csv", Reason.UNSAFE_KEY, None),
        ("acme/orders/../../etc/passwd", Reason.UNSAFE_KEY, None),
        ("acme/orders/20261120/ord\x07ers.csv", Reason.UNSAFE_KEY, None),
        ("acme/orders/20261120/orders.csv\n", Reason.UNSAFE_KEY, None),
        ("acme\\orders\\20261120\\orders.csv", Reason.UNSAFE_KEY, None),
        ("acme//orders/20261120/orders.csv", Reason.UNSAFE_KEY, None),
        ("hooli/orders/20261120/orders.csv", Reason.UNKNOWN_TENANT, None),
        ("acme/payroll/20261120/pay.csv", Reason.UNKNOWN_DATAFLOW, "acme"),
        ("initech/orders/1/orders.csv", Reason.UNKNOWN_DATAFLOW, "initech"),
        ("acme/orders/not-a-date/orders.csv", Reason.UNMATCHED_KEY, "acme"),
        ("acme/orders/orders.csv", Reason.UNMATCHED_KEY, "acme"),
        ("acme/orders/20261120/invoices.csv", Reason.UNMATCHED_KEY, "acme"),
        ("acme/readme.txt", Reason.UNMATCHED_KEY, "acme"),
        ("globex/orders/-bad/orders.jsonl", Reason.INVALID_BATCH_ID, "globex"),
        ("globex/orders/" + "x" * 65 + "/orders.jsonl", Reason.INVALID_BATCH_ID, "globex"),
    ],
)
def test_rejections(registry, key, reason, tenant):
    result = classify(info(key), registry)
    assert isinstance(result, Rejection)
    assert result.reason is reason
    assert result.tenant_id == tenant
    assert result.detail


def test_group_batches_keeps_batch_level_rejections_with_their_batch(registry):
    keys = [
        "acme/orders/20261120/orders.csv",
        "acme/orders/20261120/invoices.csv",
        "hooli/x/y/z.csv",
        "acme/orders/20261121/customers.csv",
    ]
    batches, loose = group_batches([info(k) for k in keys], registry)
    first = batches[BatchRef("acme", "orders", "20261120")]
    assert [a.file for a in first.arrivals] == ["orders.csv"]
    assert [r.reason for r in first.rejections] == [Reason.UNMATCHED_KEY]
    assert [r.key for r in loose] == ["hooli/x/y/z.csv"]
    assert first.missing_tables({"orders", "customers"}) == ["customers"]
