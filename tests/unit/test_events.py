"""S3 notifications through SQS: every shape we may see, and every bad one logged, never raised."""

from __future__ import annotations

import json

import pytest

from airlock.events import ObjectHint, parse_body, parse_sqs_messages, parse_trigger_extras


def record(key: str, bucket: str = "airlock-local-landing", event: str = "ObjectCreated:Put") -> dict:
    return {"eventName": event, "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 3}}}


def test_batched_records_yield_one_hint_each():
    body = json.dumps({"Records": [record("acme/orders/20261120/orders.csv"), record("acme/orders/20261120/c.csv")]})
    assert parse_body(body).hints == [
        ObjectHint("airlock-local-landing", "acme/orders/20261120/orders.csv"),
        ObjectHint("airlock-local-landing", "acme/orders/20261120/c.csv"),
    ]


def test_s3_test_event_is_counted_not_hinted():
    parsed = parse_body(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}))
    assert (parsed.hints, parsed.rejected, parsed.test_events) == ([], [], 1)


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("acme%2Forders%2F20261120%2Forders.csv", "acme/orders/20261120/orders.csv"),  # moto encodes slashes
        ("acme/orders/20261120/my+file.csv", "acme/orders/20261120/my file.csv"),  # S3 encodes spaces as +
        ("acme/orders/20261120/caf%C3%A9.csv", "acme/orders/20261120/café.csv"),
    ],
)
def test_url_encoded_keys_are_decoded(encoded, decoded):
    assert parse_body(json.dumps({"Records": [record(encoded)]})).hints[0].key == decoded


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{not json", "malformed_json"),
        ("[1, 2]", "not_an_object"),
        (json.dumps({"hello": "world"}), "unknown_message"),
        (json.dumps({"Records": "nope"}), "malformed_record"),
        (json.dumps({"Records": [42]}), "malformed_record"),
        (json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {}}]}), "malformed_record"),
        (
            json.dumps(
                {
                    "Records": [
                        {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {"key": ""}}}
                    ]
                }
            ),
            "malformed_record",
        ),
        (json.dumps({"Records": [{"s3": {}}]}), "malformed_record"),
        (b"\xff\xfe", "undecodable"),
    ],
)
def test_bad_bodies_are_rejected_with_a_reason(body, reason, caplog):
    parsed = parse_body(body)
    assert parsed.hints == []
    assert [r.reason for r in parsed.rejected] == [reason]
    assert reason in caplog.text


def test_removals_are_ignored_not_rejected():
    parsed = parse_body(json.dumps({"Records": [record("acme/x", event="ObjectRemoved:Delete")]}))
    assert (parsed.hints, parsed.rejected, parsed.ignored) == ([], [], 1)


def test_sns_envelope_and_eventbridge():
    inner = json.dumps({"Records": [record("acme/orders/1/orders.csv")]})
    assert parse_body(json.dumps({"Type": "Notification", "Message": inner})).hints[0].key == "acme/orders/1/orders.csv"
    bridge = {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": "b"}, "object": {"key": "acme/orders/1/c.csv"}},
    }
    assert parse_body(json.dumps(bridge)).hints == [ObjectHint("b", "acme/orders/1/c.csv")]


def test_duplicates_collapse_and_order_is_kept():
    body = json.dumps({"Records": [record("a/b/1/x"), record("a/b/1/y"), record("a/b/1/x")]})
    messages = [{"Body": body}, {"Body": body}, {"NoBody": True}]
    parsed = parse_sqs_messages(messages)
    assert [h.key for h in parsed.unique_hints()] == ["a/b/1/x", "a/b/1/y"]
    assert [r.reason for r in parsed.rejected] == ["malformed_message"]


def test_trigger_extras_from_the_sqs_watcher():
    body = json.dumps({"Records": [record("acme/orders/1/orders.csv")]})
    extras = [
        {"from_trigger": True, "payload": {"status": "success", "message_batch": [{"Body": body}]}},
        {"from_trigger": True, "payload": {"status": "success"}},  # malformed payload
        {},  # a manual event: no payload, nothing to say
        None,
    ]
    parsed = parse_trigger_extras(extras)
    assert [h.key for h in parsed.hints] == ["acme/orders/1/orders.csv"]
    assert [r.reason for r in parsed.rejected] == ["malformed_payload"]
