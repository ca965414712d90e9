"""Parse S3 object notifications as delivered through SQS (directly, via SNS, or via EventBridge).

Events are hints, not facts: they can be lost, repeated or reordered, so this module only turns
message bodies into `ObjectHint`s (bucket + key) for the router to look at in the landing zone.
A message it cannot use becomes a `RejectedMessage` with a reason: logged, never raised.

Every function here is total: whatever arrives (any JSON shape, field type, depth, size or
encoding, or no JSON at all) ends as hints or reasons, never as an exception. The corpus and
the property tests in tests/unit/test_events_hostile.py hold it to that.
"""

from __future__ import annotations

import json
import logging
import reprlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from airlock.storage import key_problem

log = logging.getLogger(__name__)

_BODY_PREVIEW = 300
MAX_BODY_BYTES = 1024 * 1024
"""SQS caps a message at 256 KiB (1 MiB since 2025); anything larger is not a notification."""
MAX_RECORDS = 1000
"""S3 sends one record per message; a body claiming thousands is not from S3."""

_preview = reprlib.Repr()
_preview.maxstring = _preview.maxother = _BODY_PREVIEW
_preview.maxlevel = 4


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


def preview(value: Any) -> str:
    """A bounded, printable rendering of anything (deep, huge or self-referencing values included)."""
    try:
        text = value if isinstance(value, str) else _preview.repr(value)
    except Exception:  # a hostile __repr__ must not turn a rejection into a crash
        text = f"<unprintable {type(value).__name__}>"
    return text[:_BODY_PREVIEW].encode("utf-8", "backslashreplace").decode("utf-8")


def _reject(reason: str, detail: str, body: Any) -> ParsedEvents:
    rejected = RejectedMessage(reason, detail, preview(body))
    log.warning("ignoring queue message (%s): %s; body=%r", reason, detail, rejected.body)
    return ParsedEvents(rejected=[rejected])


def _hint(bucket: Any, key: Any, body: Any, source: str) -> ParsedEvents:
    if not isinstance(bucket, str) or not bucket:
        return _reject("malformed_record", f"{source}: the bucket name is not a non-empty string", body)
    if problem := key_problem(key):
        return _reject("malformed_record", f"{source}: {problem}", body)
    return ParsedEvents(hints=[ObjectHint(bucket, key)])


def _dig(doc: Any, *path: str) -> Any:
    """doc[p0][p1]... or None when any step is missing or not a mapping."""
    for part in path:
        if not isinstance(doc, Mapping):
            return None
        doc = doc.get(part)
    return doc


def _from_s3_record(record: Any, body: Any) -> ParsedEvents:
    if not isinstance(record, Mapping):
        return _reject("malformed_record", "a Records entry is not an object", body)
    name = record.get("eventName")
    if not isinstance(name, str) or not name:
        return _reject("malformed_record", "no eventName string", body)
    if not name.startswith("ObjectCreated:"):
        return ParsedEvents(ignored=1)
    raw_key = _dig(record, "s3", "object", "key")
    if not isinstance(raw_key, str):
        return _reject("malformed_record", "no s3.object.key string", body)
    # S3 URL-encodes keys in notifications ('+' for space, %2F for '/' on some emulators).
    return _hint(_dig(record, "s3", "bucket", "name"), unquote_plus(raw_key), body, "S3 record")


def _from_eventbridge(doc: Mapping[str, Any], body: Any) -> ParsedEvents:
    kind = doc.get("detail-type")
    if not isinstance(kind, str) or not kind:
        return _reject("malformed_record", "EventBridge: no detail-type string", body)
    if kind != "Object Created":
        return ParsedEvents(ignored=1)
    # EventBridge carries the key as stored (not URL-encoded).
    return _hint(_dig(doc, "detail", "bucket", "name"), _dig(doc, "detail", "object", "key"), body, "EventBridge")


def _from_document(doc: Any, body: Any, depth: int) -> ParsedEvents:
    if not isinstance(doc, Mapping):
        return _reject("not_an_object", "the message is JSON but not an object", body)
    if doc.get("Event") == "s3:TestEvent":
        log.info("S3 test event from bucket %s: nothing to do", preview(doc.get("Bucket")))
        return ParsedEvents(test_events=1)
    if "Records" in doc:
        records = doc["Records"]
        if not isinstance(records, list) or not records:
            return _reject("malformed_record", "Records is not a non-empty list", body)
        if len(records) > MAX_RECORDS:
            return _reject("oversize", f"{len(records)} records in one message (S3 sends one)", body)
        parsed = ParsedEvents()
        for record in records:
            parsed.extend(_from_s3_record(record, body))
        return parsed
    if doc.get("Type") == "Notification" and "Message" in doc:  # S3 -> SNS -> SQS
        if depth > 0:
            return _reject("nested_envelope", "an SNS envelope inside an SNS envelope", body)
        return parse_body(doc["Message"], depth=depth + 1)
    if doc.get("source") == "aws.s3" and isinstance(doc.get("detail"), Mapping):
        return _from_eventbridge(doc, body)
    return _reject("unknown_message", "neither an S3 notification, an SNS envelope nor an EventBridge event", body)


def parse_body(body: Any, depth: int = 0) -> ParsedEvents:
    """Parse one SQS message body (str, bytes or an already decoded mapping); never raises.

    `depth` counts envelopes already opened (an SNS notification wraps the S3 one): callers pass 0.
    """
    try:
        return _parse_body(body, depth)
    except RecursionError:
        return _reject("too_deep", "the message nests deeper than Python can follow", body)
    except Exception as exc:  # the promise is totality: a parser bug must still end in a reason
        log.exception("unexpected error parsing a queue message")
        return _reject("parser_error", f"{type(exc).__name__}: {exc}", body)


def _parse_body(body: Any, depth: int) -> ParsedEvents:
    if isinstance(body, Mapping):
        return _from_document(body, body, depth)
    if isinstance(body, bytes | bytearray | memoryview):
        raw = bytes(body)
        if len(raw) > MAX_BODY_BYTES:
            return _reject("oversize", f"the message body is {len(raw)} bytes", raw[:_BODY_PREVIEW])
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return _reject("undecodable", f"the message body is not UTF-8 ({exc.reason} at byte {exc.start})", raw)
    if not isinstance(body, str):
        return _reject("not_an_object", f"the message body is a {type(body).__name__}, not text", body)
    if len(body) > MAX_BODY_BYTES:
        return _reject("oversize", f"the message body is {len(body)} characters", body[:_BODY_PREVIEW])
    try:
        doc = json.loads(body)
    except RecursionError:
        return _reject("too_deep", "the JSON nests deeper than the parser follows", body)
    except ValueError as exc:  # JSONDecodeError, and ints too long to convert
        return _reject("malformed_json", str(exc), body)
    return _from_document(doc, body, depth)


def parse_sqs_messages(messages: Any) -> ParsedEvents:
    """Parse SQS messages as boto3 returns them (dicts with a 'Body'); never raises."""
    parsed = ParsedEvents()
    if not isinstance(messages, Iterable) or isinstance(messages, str | bytes | Mapping):
        return _reject("malformed_payload", "message_batch is not a list of messages", messages)
    for message in messages:
        if not isinstance(message, Mapping) or "Body" not in message:
            parsed.extend(_reject("malformed_message", "an SQS message without a Body", message))
            continue
        parsed.extend(parse_body(message["Body"]))
    return parsed


def parse_trigger_extras(extras: Iterable[Any]) -> ParsedEvents:
    """Parse the `extra` of asset events created by an SQS AssetWatcher; never raises.

    The triggerer stores the trigger's event as {"from_trigger": true, "payload": {...}}, and the
    SQS trigger's payload is {"status": "success", "message_batch": [<boto3 message>, ...]}.
    """
    parsed = ParsedEvents()
    if not isinstance(extras, Iterable) or isinstance(extras, str | bytes | Mapping):
        return _reject("malformed_payload", "the run's asset events are not a list", extras)
    for extra in extras:
        if extra is not None and not isinstance(extra, Mapping):
            parsed.extend(_reject("malformed_payload", "an asset event's extra is not an object", extra))
            continue
        payload = (extra or {}).get("payload")
        if payload is None:
            continue  # a manual or API event for the asset: carries no hint, the sweep covers it
        batch = payload.get("message_batch") if isinstance(payload, Mapping) else None
        if not isinstance(batch, list):
            parsed.extend(_reject("malformed_payload", "trigger payload has no message_batch list", payload))
            continue
        parsed.extend(parse_sqs_messages(batch))
    return parsed
