"""File contents against the contract: good files yield manifest facts, bad ones a reason."""

from __future__ import annotations

import hashlib
import io

import pytest

from airlock.landing import Reason
from airlock.tenants import FileContract
from airlock.validation import FileFacts, FileProblem, check_file

COLUMNS = ["order_id", "customer_id"]
CSV = FileContract(table="orders", pattern="*.csv", format="csv", max_bytes=2000)
JSONL = FileContract(table="orders", pattern="*.jsonl", format="jsonl", max_bytes=2000)


def test_good_csv_facts():
    data = b"order_id,customer_id,extra\n1,c1,x\n2,c2,y\n\n"
    facts = check_file(io.BytesIO(data), CSV, COLUMNS)
    assert facts == FileFacts(size=len(data), sha256=hashlib.sha256(data).hexdigest(), rows=2)


def test_good_jsonl_and_bom():
    data = b'\xef\xbb\xbf{"order_id": 1, "customer_id": "c"}\n{"order_id": 2, "customer_id": "d"}\n'
    facts = check_file(io.BytesIO(data), JSONL, COLUMNS)
    assert isinstance(facts, FileFacts) and facts.rows == 2 and facts.size == len(data)


@pytest.mark.parametrize(
    ("contract", "data", "reason"),
    [
        (CSV, b"", Reason.EMPTY),
        (CSV, b"\n\n  \n", Reason.EMPTY),
        (JSONL, b"\n", Reason.EMPTY),
        (CSV, b"order_id\n1\n", Reason.WRONG_COLUMNS),
        (CSV, b"id,customer\n1,2\n", Reason.WRONG_COLUMNS),
        (JSONL, b'{"order_id": 1}\n', Reason.WRONG_COLUMNS),
        (CSV, b'{"order_id": 1, "customer_id": 2}\n', Reason.WRONG_FORMAT),
        (CSV, b"order_id,customer_id\n1,2,3\n", Reason.WRONG_FORMAT),
        (JSONL, b"order_id,customer_id\n1,2\n", Reason.WRONG_FORMAT),
        (JSONL, b"[1, 2]\n", Reason.WRONG_FORMAT),
        (CSV, b"order_id,customer_id\n\xff\xfe,1\n", Reason.UNDECODABLE),
        (CSV, b"\x89PNG\r\n\x1a\n\x00\x00", Reason.UNDECODABLE),
        (CSV, b"order_id,customer_id\n" + b"1,2\n" * 600, Reason.OVERSIZE),
    ],
)
def test_bad_files(contract, data, reason):
    result = check_file(io.BytesIO(data), contract, COLUMNS)
    assert isinstance(result, FileProblem)
    assert result.reason is reason
    assert result.detail
