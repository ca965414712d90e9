"""Parse S3 object notifications as delivered through SQS (directly, via SNS, or via EventBridge).

Events are hints, not facts: they can be lost, repeated or reordered, so this module only turns
message bodies into `ObjectHint`s (bucket + key) for the router to look at in the landing zone.
A message it cannot use becomes a `RejectedMessage` with a reason: logged, never raised.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

log = logging.getLogger(__name__)

_BODY_PREVIEW = 300


@dataclass(frozen=True)
class ObjectHint:
    """An object that was (probably) created: the router checks it against the landing zone."""

    bucket: str
    key: str


@dataclass(frozen=True)
class RejectedMessage:
    reason: str
    detail: str
    body: str


@dataclass
class ParsedEvents:
    hints: list[ObjectHint] = field(default_factory=list)
    rejected: list[RejectedMessage] = field(default_factory=list)
    test_events: int = 0
    ignored: int = 0  # removals and other events that create nothing

    def extend(self, other: ParsedEvents) -> None:
        self.hints.extend(other.hints)
        self.rejected.extend(other.rejected)
        self.test_events += other.test_events
        self.ignored += other.ignored

    def unique_hints(self) -> list[ObjectHint]:
        """Hints without repeats, in first-seen order: a duplicate notification changes nothing."""
        return list(dict.fromkeys(self.hints))


def _reject(reason: str, detail: str, body: Any) -> ParsedEvents:
    text = body if isinstance(body, str) else repr(body)
    rejected = RejectedMessage(reason, detail, text[:_BODY_PREVIEW])
    log.warning("ignoring queue message (%s): %s; body=%r", reason, detail, rejected.body)
    return ParsedEvents(rejected=[rejected])


def _from_s3_record(record: Any, body: Any) -> ParsedEvents:
    if not isinstance(record, Mapping):
        return _reject("malformed_record", "a Records entry is not an object", body)
    name = str(record.get("eventName", ""))
    s3 = record.get("s3")
    if not name.startswith("ObjectCreated:"):
        return ParsedEvents(ignored=1) if name else _reject("malformed_record", "no eventName", body)
    try:
        bucket = s3["bucket"]["name"]
        raw_key = s3["object"]["key"]
    except (KeyError, TypeError):
        return _reject("malformed_record", "no s3.bucket.name or s3.object.key", body)
    if not isinstance(bucket, str) or not isinstance(raw_key, str) or not raw_key:
        return _reject("malformed_record", "bucket or key is not a non-empty string", body)
    # S3 URL-encodes keys in notifications ('+' for space, %2F for '/' on some emulators).
    return ParsedEvents(hints=[ObjectHint(bucket, unquote_plus(raw_key))])


def _from_document(doc: Any, body: Any, depth: int = 0) -> ParsedEvents:
    if not isinstance(doc, Mapping):
        return _reject("not_an_object", "the message is JSON but not an object", body)
    if doc.get("Event") == "s3:TestEvent":
        log.info("S3 test event from bucket %s: nothing to do", doc.get("Bucket"))
        return ParsedEvents(test_events=1)
    if "Records" in doc:
        records = doc["Records"]
        if not isinstance(records, list):
            return _reject("malformed_record", "Records is not a list", body)
        parsed = ParsedEvents()
        for record in records:
            parsed.extend(_from_s3_record(record, body))
        return parsed
    if doc.get("Type") == "Notification" and isinstance(doc.get("Message"), str) and depth == 0:
        return parse_body(doc["Message"], depth=1)  # S3 -> SNS -> SQS
    if doc.get("source") == "aws.s3" and isinstance(doc.get("detail"), Mapping):  # EventBridge
        detail = doc["detail"]
        if doc.get("detail-type") != "Object Created":
            return ParsedEvents(ignored=1)
        try:
            return ParsedEvents(hints=[ObjectHint(detail["bucket"]["name"], detail["object"]["key"])])
        except (KeyError, TypeError):
            return _reject("malformed_record", "EventBridge detail lacks bucket.name or object.key", body)
    return _reject("unknown_message", "neither an S3 notification, an SNS envelope nor an EventBridge event", body)


def parse_body(body: str | bytes | Mapping[str, Any], depth: int = 0) -> ParsedEvents:
    """Parse one SQS message body."""
    if isinstance(body, Mapping):
        return _from_document(body, body, depth)
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            return _reject("undecodable", "the message body is not UTF-8", body)
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, TypeError) as exc:
        return _reject("malformed_json", str(exc), body)
    return _from_document(doc, body, depth)


def parse_sqs_messages(messages: Iterable[Any]) -> ParsedEvents:
    """Parse SQS messages as boto3 returns them (dicts with a 'Body')."""
    parsed = ParsedEvents()
    for message in messages:
        if not isinstance(message, Mapping) or "Body" not in message:
            parsed.extend(_reject("malformed_message", "an SQS message without a Body", message))
            continue
        parsed.extend(parse_body(message["Body"]))
    return parsed


def parse_trigger_extras(extras: Iterable[Mapping[str, Any] | None]) -> ParsedEvents:
    """Parse the `extra` of asset events created by an SQS AssetWatcher.

    The triggerer stores the trigger's event as {"from_trigger": true, "payload": {...}}, and the
    SQS trigger's payload is {"status": "success", "message_batch": [<boto3 message>, ...]}.
    """
    parsed = ParsedEvents()
    for extra in extras:
        payload = (extra or {}).get("payload")
        if not isinstance(payload, Mapping):
            continue  # a manual or API event for the asset: carries no hint, the sweep covers it
        batch = payload.get("message_batch")
        if not isinstance(batch, list):
            parsed.extend(_reject("malformed_payload", "trigger payload has no message_batch list", payload))
            continue
        parsed.extend(parse_sqs_messages(batch))
    return parsed
