"""Hostile notifications: whatever reaches the queue ends as hints or reasons, never an exception.

A listed corpus (shapes, field types, depths, sizes, encodings) plus hypothesis over arbitrary
JSON, bytes and Python values. The router's parser is the first code an outsider's bytes reach.
"""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airlock.events import ParsedEvents, parse_body, parse_sqs_messages, parse_trigger_extras
from airlock.storage import key_problem

KEY = "acme/orders/20261120/orders.csv"


def s3(key: Any = KEY, bucket: Any = "airlock-local-landing", event: Any = "ObjectCreated:Put") -> dict:
    return {"Records": [{"eventName": event, "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}]}


def bridge(key: Any = KEY, bucket: Any = "b", kind: Any = "Object Created") -> dict:
    return {"source": "aws.s3", "detail-type": kind, "detail": {"bucket": {"name": bucket}, "object": {"key": key}}}


def sns(message: Any) -> dict:
    return {"Type": "Notification", "Message": message}


def nested(depth: int, leaf: Any = 1, kind: str = "list") -> str:
    return ("[" * depth + json.dumps(leaf) + "]" * depth) if kind == "list" else ('{"a":' * depth + "1" + "}" * depth)


# (case id, body, expected: "hint" | a reason | "ignored" | "test_event")
CORPUS: list[tuple[str, Any, str]] = [
    # not JSON, or not the JSON we expect
    ("empty string", "", "malformed_json"),
    ("whitespace", "   \n\t", "malformed_json"),
    ("truncated", '{"Records": [', "malformed_json"),
    ("json null", "null", "not_an_object"),
    ("json number", "42", "not_an_object"),
    ("json string", '"acme/orders/1/orders.csv"', "not_an_object"),
    ("json list", "[1, 2]", "not_an_object"),
    ("json true", "true", "not_an_object"),
    ("NaN literal", "NaN", "not_an_object"),
    ("huge integer", "1" * 5000, "malformed_json"),
    ("xml", "<Event>s3:TestEvent</Event>", "malformed_json"),
    ("empty object", "{}", "unknown_message"),
    ("BOM then JSON", "\ufeff" + json.dumps(s3()), "malformed_json"),
    # encodings
    ("latin-1 bytes", "é".encode("latin-1"), "undecodable"),
    ("utf-16 bytes", json.dumps(s3()).encode("utf-16"), "undecodable"),
    ("lone surrogate escaped key", json.dumps(s3("acme/\ud800.csv")), "malformed_record"),
    ("bytearray body", bytearray(json.dumps(s3()).encode()), "hint"),
    ("memoryview body", memoryview(json.dumps(s3()).encode()), "hint"),
    # wrong Python types where a body should be
    ("None body", None, "not_an_object"),
    ("int body", 7, "not_an_object"),
    ("list body", [s3()], "not_an_object"),
    ("set body", {1, 2}, "not_an_object"),
    ("float body", float("nan"), "not_an_object"),
    # sizes and depths
    ("deep list", nested(100_000), "too_deep"),
    ("deep object", nested(100_000, kind="object"), "too_deep"),
    ("oversize body", '{"x": "' + "a" * (1024 * 1024 + 10) + '"}', "oversize"),
    ("oversize bytes", b"{" + b" " * (1024 * 1024 + 10) + b"}", "oversize"),
    ("thousands of records", json.dumps({"Records": [s3()["Records"][0]] * 5000}), "oversize"),
    ("1 KiB+ key", json.dumps(s3("a" * 1025)), "malformed_record"),
    # S3 record shapes
    ("Records null", json.dumps({"Records": None}), "malformed_record"),
    ("Records string", json.dumps({"Records": "nope"}), "malformed_record"),
    ("Records object", json.dumps({"Records": {"0": 1}}), "malformed_record"),
    ("Records empty", json.dumps({"Records": []}), "malformed_record"),
    ("record is a number", json.dumps({"Records": [42]}), "malformed_record"),
    ("record is null", json.dumps({"Records": [None]}), "malformed_record"),
    ("no eventName", json.dumps({"Records": [{"s3": {}}]}), "malformed_record"),
    ("eventName number", json.dumps(s3(event=3)), "malformed_record"),
    ("eventName list", json.dumps(s3(event=["ObjectCreated:Put"])), "malformed_record"),
    ("eventName empty", json.dumps(s3(event="")), "malformed_record"),
    ("removal", json.dumps(s3(event="ObjectRemoved:Delete")), "ignored"),
    ("restore", json.dumps(s3(event="ObjectRestore:Completed")), "ignored"),
    ("s3 missing", json.dumps({"Records": [{"eventName": "ObjectCreated:Put"}]}), "malformed_record"),
    ("s3 is a list", json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": []}]}), "malformed_record"),
    ("key number", json.dumps(s3(1234)), "malformed_record"),
    ("key null", json.dumps(s3(None)), "malformed_record"),
    ("key list", json.dumps(s3(["a"])), "malformed_record"),
    ("key object", json.dumps(s3({"k": "v"})), "malformed_record"),
    ("key bool", json.dumps(s3(True)), "malformed_record"),
    ("key empty", json.dumps(s3("")), "malformed_record"),
    ("key encodes NUL", json.dumps(s3("acme%00/x")), "malformed_record"),
    ("key NUL raw", json.dumps(s3("acme\u0000/x")), "malformed_record"),
    ("bucket number", json.dumps(s3(bucket=5)), "malformed_record"),
    ("bucket null", json.dumps(s3(bucket=None)), "malformed_record"),
    ("bucket object", json.dumps(s3(bucket={"name": "x"})), "malformed_record"),
    ("bucket empty", json.dumps(s3(bucket="")), "malformed_record"),
    ("absolute key", json.dumps(s3("/acme/orders/1/orders.csv")), "hint"),  # S3 allows it: the router decides
    ("dot-dot key", json.dumps(s3("acme/../../etc/passwd")), "hint"),
    ("bad percent escapes", json.dumps(s3("acme/%zz%/x.csv")), "hint"),
    ("one good one bad", json.dumps({"Records": [s3()["Records"][0], 42]}), "hint+malformed_record"),
    # test events
    ("s3 test event", json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}), "test_event"),
    ("test event, odd bucket", json.dumps({"Event": "s3:TestEvent", "Bucket": [[[1]]]}), "test_event"),
    # SNS envelopes
    ("sns ok", json.dumps(sns(json.dumps(s3()))), "hint"),
    ("sns message object", json.dumps(sns(s3())), "hint"),
    ("sns message number", json.dumps(sns(5)), "not_an_object"),
    ("sns message null", json.dumps(sns(None)), "not_an_object"),
    ("sns message garbage", json.dumps(sns("{oops")), "malformed_json"),
    ("sns in sns", json.dumps(sns(json.dumps(sns(json.dumps(s3()))))), "nested_envelope"),
    ("sns type only", json.dumps({"Type": "Notification"}), "unknown_message"),
    # EventBridge
    ("eventbridge ok", json.dumps(bridge()), "hint"),
    ("eventbridge delete", json.dumps(bridge(kind="Object Deleted")), "ignored"),
    ("eventbridge key number", json.dumps(bridge(key=12)), "malformed_record"),
    ("eventbridge key list", json.dumps(bridge(key=["a", "b"])), "malformed_record"),
    ("eventbridge key object", json.dumps(bridge(key={"a": 1})), "malformed_record"),
    ("eventbridge key null", json.dumps(bridge(key=None)), "malformed_record"),
    ("eventbridge bucket number", json.dumps(bridge(bucket=9)), "malformed_record"),
    ("eventbridge bucket list", json.dumps(bridge(bucket=["b"])), "malformed_record"),
    ("eventbridge detail-type number", json.dumps(bridge(kind=1)), "malformed_record"),
    ("eventbridge no detail-type", json.dumps({"source": "aws.s3", "detail": {}}), "malformed_record"),
    ("eventbridge detail string", json.dumps({"source": "aws.s3", "detail": "x"}), "unknown_message"),
    ("eventbridge empty key", json.dumps(bridge(key="")), "malformed_record"),
    ("eventbridge object is a list", json.dumps({**bridge(), "detail": {"object": [1], "bucket": {}}}),
     "malformed_record"),
]  # fmt: skip


def outcomes(parsed: ParsedEvents) -> list[str]:
    """Every end a body reached: 'hint', a rejection reason, 'ignored' or 'test_event'."""
    return (
        ["hint"] * len(parsed.hints)
        + [r.reason for r in parsed.rejected]
        + ["ignored"] * parsed.ignored
        + ["test_event"] * parsed.test_events
    )


def test_the_corpus_is_big_enough():
    assert len(CORPUS) >= 60


@pytest.mark.parametrize(("body", "expected"), [(b, e) for _, b, e in CORPUS], ids=[c[0] for c in CORPUS])
def test_every_hostile_body_ends_in_a_hint_or_a_reason(body, expected):
    parsed = parse_body(body)
    assert sorted(outcomes(parsed)) == sorted(expected.split("+"))
    for hint in parsed.hints:
        assert key_problem(hint.key) is None and isinstance(hint.bucket, str) and hint.bucket
    for rejected in parsed.rejected:
        assert rejected.detail and isinstance(rejected.body, str) and len(rejected.body) <= 300


def test_sqs_and_trigger_payload_shapes_never_raise():
    good = {"Body": json.dumps(s3())}
    weird_batches: list[Any] = [None, 5, "x", b"x", {"Body": 1}, [None], [good, 3, {"Body": None}], {"a": 1}]
    for batch in weird_batches:
        outcomes(parse_sqs_messages(batch))  # no exception
    extras: list[Any] = [
        None,
        {},
        5,
        "payload",
        {"payload": None},
        {"payload": 5},
        {"payload": []},
        {"payload": {"message_batch": None}},
        {"payload": {"message_batch": {"Body": "x"}}},
        {"payload": {"message_batch": [good]}},
        {"payload": {"message_batch": [[good]]}},
    ]
    parsed = parse_trigger_extras(extras)
    assert [h.key for h in parsed.hints] == [KEY]
    assert len(parsed.rejected) >= 6


# -- property tests --------------------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)
field_names = st.sampled_from(
    ["Records", "eventName", "s3", "bucket", "name", "object", "key", "Type", "Message", "source", "detail",
     "detail-type", "Event", "Bucket"]
)  # fmt: skip
# Documents built from the field names the parser looks for, so hypothesis reaches its deeper branches.
notification_like = st.recursive(
    json_values | st.sampled_from(["ObjectCreated:Put", "aws.s3", "Object Created", "Notification", KEY]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(field_names, children, max_size=5),
    max_leaves=25,
)


def _total(parsed: ParsedEvents) -> None:
    assert isinstance(parsed, ParsedEvents)
    assert outcomes(parsed), "a body must end somewhere"
    for hint in parsed.hints:
        assert key_problem(hint.key) is None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(notification_like)
def test_any_json_document_is_parsed_totally(doc):
    _total(parse_body(json.dumps(doc)))
    _total(parse_body(doc))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000) | st.text(max_size=2000))
def test_any_bytes_or_text_is_parsed_totally(body):
    _total(parse_body(body))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=string.printable + "é/%+\x00\ud800", max_size=300))
def test_any_key_in_an_s3_record_is_a_valid_hint_or_a_reason(key):
    parsed = parse_body(json.dumps(s3(key)))
    _total(parsed)
    assert len(parsed.hints) + len(parsed.rejected) == 1


@settings(max_examples=200, deadline=None)
@given(st.lists(json_values, max_size=5))
def test_any_trigger_extras_are_parsed_without_raising(extras):
    parse_trigger_extras(extras)
    parse_trigger_extras([{"payload": {"message_batch": extras}}])
