"""`SqsQueueTrigger`: one long-polling consumer per SQS queue, shared by every watcher of the queue.

Built on Airflow 3.3's shared-stream triggers (`airflow.triggers.shared_stream`) in ack mode:

- every watcher of a queue subscribes to one stream, so the queue is polled once however many
  assets watch it, with one aiobotocore client for the stream's lifetime;
- a message is deleted only after the asset events derived from it are stored in the metadata
  database (a triggerer that dies in between leaves it to SQS to redeliver);
- a message that cannot be parsed is rejected, and dead-lettered with its reason once it has been
  received as often as the queue's redrive policy allows;
- back-to-back long polls, no sleep: a message is picked up as soon as it arrives, and an idle
  queue costs 60 / `wait_time_seconds` requests a minute.

Each message becomes one trigger event whose payload is `{"message_batch": [<message>]}`: the shape
`airlock.events.parse_trigger_extras` reads in the router.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent
from airflow.triggers.shared_stream import AdvanceItem, SharedStreamProducer, reject_shared_stream_event

from airlock.events import parse_body

log = logging.getLogger(__name__)

PROBE_ATTRIBUTE = "airlock-probe"
"""A message carrying this message attribute is a readiness probe: consumed, deleted, never an event."""
REASON_ATTRIBUTE = "airlock-reject-reason"
"""Set on a message the trigger dead-letters: why it could not be used."""

_RECEIVE_ATTRIBUTES = ["ApproximateReceiveCount", "SentTimestamp"]
_PAYLOAD_ATTRIBUTES = ("SentTimestamp", "ApproximateReceiveCount")
_RETRY_BACKOFF_MAX = 60.0
_REJECT_BACKOFF_MAX = 60
_DELETE_BATCH = 10  # SQS's limit for DeleteMessageBatch


class SqsQueueTrigger(BaseEventTrigger):
    """Fire one event per usable message on an SQS queue of S3 notifications; delete it once stored.

    Use it in an `AssetWatcher`. Watchers of the same queue (same `queue_url`, `aws_conn_id` and
    `region_name`) share one poll: the first watcher's polling settings apply to the stream.

    :param queue_url: URL of the queue (AWS-style; a local endpoint comes from the connection's
        `endpoint_url`).
    :param aws_conn_id: Airflow connection of the AWS credentials; None uses boto3's default chain.
    :param region_name: AWS region; None takes the connection's.
    :param key_prefixes: fire only for notifications of objects under one of these key prefixes
        (e.g. `["acme/"]`); None fires for every notification. A message this watcher does not want
        is still deleted once every watcher of the queue has handled it.
    :param wait_time_seconds: long-poll wait of each ReceiveMessage call (1-20). A call returns as soon
        as a message is there, so this bounds idle API calls (60 / wait per minute), not latency.
    :param max_messages: messages per ReceiveMessage call (1-10).
    :param visibility_timeout: seconds a received message stays hidden from other consumers; after a
        triggerer crash, SQS redelivers within this time. Keep `[triggerer] shared_stream_ack_timeout`
        at or below it, or a slow store shows up as a redelivered (harmless, duplicate) message.
    :param max_in_flight: received messages not yet deleted or released, at most; the poll pauses at
        this number instead of piling up messages that would time out and be redelivered.
    :param max_receive_count: receives after which a message that cannot be parsed is moved to the
        dead-letter queue with its reason; None reads `maxReceiveCount` of the queue's redrive policy.
    """

    def __init__(
        self,
        *,
        queue_url: str,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        key_prefixes: Sequence[str] | None = None,
        wait_time_seconds: int = 20,
        max_messages: int = 10,
        visibility_timeout: int = 60,
        max_in_flight: int = 100,
        max_receive_count: int | None = None,
    ) -> None:
        super().__init__()
        if not queue_url:
            raise ValueError("queue_url is required")
        if not 1 <= wait_time_seconds <= 20:
            raise ValueError(f"wait_time_seconds={wait_time_seconds}: SQS long polls wait 1 to 20 seconds")
        if not 1 <= max_messages <= 10:
            raise ValueError(f"max_messages={max_messages}: SQS returns 1 to 10 messages per call")
        if not 1 <= visibility_timeout <= 43200:
            raise ValueError(f"visibility_timeout={visibility_timeout}: SQS accepts 1 to 43200 seconds")
        if max_in_flight < max_messages:
            raise ValueError(f"max_in_flight={max_in_flight} must be at least max_messages={max_messages}")
        if max_receive_count is not None and max_receive_count < 1:
            raise ValueError(f"max_receive_count={max_receive_count} must be at least 1")
        self.queue_url = queue_url
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.key_prefixes = list(key_prefixes) if key_prefixes is not None else None
        self.wait_time_seconds = wait_time_seconds
        self.max_messages = max_messages
        self.visibility_timeout = visibility_timeout
        self.max_in_flight = max_in_flight
        self.max_receive_count = max_receive_count

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{self.__class__.__module__}.{self.__class__.__qualname__}",
            {
                "queue_url": self.queue_url,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "key_prefixes": self.key_prefixes,
                "wait_time_seconds": self.wait_time_seconds,
                "max_messages": self.max_messages,
                "visibility_timeout": self.visibility_timeout,
                "max_in_flight": self.max_in_flight,
                "max_receive_count": self.max_receive_count,
            },
        )

    # -- shared stream ------------------------------------------------------------------------------
    def shared_stream_key(self) -> Hashable:
        """One stream per queue and identity: two pollers of one queue would split its messages."""
        return ("airlock.sqs", self.queue_url, self.aws_conn_id, self.region_name)

    @classmethod
    def create_shared_stream_producer(cls, kwargs: dict[str, Any]) -> SharedStreamProducer:
        """Ack mode: the producer deletes a message only once its events are persisted."""
        return SqsStreamProducer(SqsPollSettings.from_kwargs(kwargs))

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """One event per usable message; reject what can never be parsed; skip the rest (deleted)."""
        async for message in shared_stream:
            verdict = classify(message, self.key_prefixes)
            if verdict.fire:
                yield TriggerEvent(event_payload(message, self.queue_url))
            elif verdict.reject:
                log.warning("rejecting message %s on %s: %s", message.get("MessageId"), self.queue_url, verdict.reason)
                reject_shared_stream_event()
            # else: a probe, an S3 test event, a removal or another watcher's prefix: nothing to do.

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Only the shared stream deletes after the event is stored; a standalone poll would lose messages."""
        raise RuntimeError(
            f"{type(self).__name__} runs as a shared stream (Airflow >= 3.3 triggerer); it has no standalone "
            "poll, because one could only delete a message before its event is stored."
        )
        yield  # pragma: no cover - makes this an async generator


# -- what a message means ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    """What a watcher does with one message: fire an event, reject it, or let it go (deleted)."""

    fire: bool = False
    reject: bool = False
    reason: str = ""


def is_probe(message: dict[str, Any]) -> bool:
    return PROBE_ATTRIBUTE in (message.get("MessageAttributes") or {})


def classify(message: dict[str, Any], key_prefixes: Sequence[str] | None = None) -> Verdict:
    """Decide from the body alone (pure CPU, no I/O): the triggerer's event loop must never block."""
    if is_probe(message):
        return Verdict()
    parsed = parse_body(message.get("Body", ""))
    if parsed.hints:
        if key_prefixes is None or any(h.key.startswith(tuple(key_prefixes)) for h in parsed.hints):
            return Verdict(fire=True)
        return Verdict()
    if parsed.rejected:
        return Verdict(reject=True, reason=reject_reason(parsed.rejected))
    return Verdict()  # a test event or a removal: valid, and nothing to do


def reject_reason(rejected: Sequence[Any]) -> str:
    return "; ".join(f"{r.reason}: {r.detail}" for r in rejected)[:900]


def event_payload(message: dict[str, Any], queue_url: str) -> dict[str, Any]:
    """What the router receives: the message without its receipt handle (useless once stored)."""
    attributes = message.get("Attributes") or {}
    return {
        "status": "success",
        "queue_url": queue_url,
        "message_batch": [
            {
                "MessageId": message.get("MessageId"),
                "Body": message.get("Body"),
                "Attributes": {k: attributes[k] for k in _PAYLOAD_ATTRIBUTES if k in attributes},
            }
        ],
    }


# -- the broker side --------------------------------------------------------------------------------
@dataclass(frozen=True)
class SqsPollSettings:
    """The stream's settings, taken from the first watcher of the queue (see SqsQueueTrigger)."""

    queue_url: str
    aws_conn_id: str | None = "aws_default"
    region_name: str | None = None
    wait_time_seconds: int = 20
    max_messages: int = 10
    visibility_timeout: int = 60
    max_in_flight: int = 100
    max_receive_count: int | None = None

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> SqsPollSettings:
        return cls(**{k: kwargs[k] for k in cls.__dataclass_fields__ if k in kwargs})


@dataclass(frozen=True)
class Receipt:
    """The broker payload of one message: what the producer needs to delete, release or dead-letter it."""

    message_id: str
    receipt_handle: str
    receive_count: int
    body: str
    message_attributes: dict[str, Any] = field(default_factory=dict)


class SqsStreamProducer(SharedStreamProducer):
    """Owns the queue's client for one poll; receives, and deletes, releases or dead-letters on advance."""

    def __init__(self, settings: SqsPollSettings, client_factory: Any = None) -> None:
        self.settings = settings
        self._client_factory = client_factory or self._hook_client
        self._client_cm: Any = None
        self.client: Any = None
        self.max_receive_count: int | None = settings.max_receive_count
        self.dead_letter_url: str | None = None
        self._in_flight = 0
        self._room = asyncio.Event()
        self._room.set()
        self.stats = {"receives": 0, "received": 0, "deleted": 0, "released": 0, "dead_lettered": 0}

    async def _hook_client(self) -> Any:
        """The Airflow connection's aiobotocore client: one `sync_to_async` lookup per stream, not per poll."""
        from airflow.providers.amazon.aws.hooks.sqs import SqsHook

        hook = SqsHook(aws_conn_id=self.settings.aws_conn_id, region_name=self.settings.region_name)
        return await hook.get_async_conn()

    async def open_stream(self) -> AsyncIterator[tuple[dict[str, Any], Receipt]]:
        s = self.settings
        self._client_cm = await self._client_factory()
        self.client = await self._client_cm.__aenter__()
        await self._read_redrive_policy()
        log.info(
            "polling %s: long poll %ds, visibility %ds, dead-letter after %s receives (%s)",
            s.queue_url,
            s.wait_time_seconds,
            s.visibility_timeout,
            self.max_receive_count or "the queue's",
            self.dead_letter_url or "no DLQ known",
        )
        backoff = _Backoff()
        while True:
            await self._room.wait()
            try:
                response = await self.client.receive_message(
                    QueueUrl=s.queue_url,
                    MaxNumberOfMessages=min(s.max_messages, s.max_in_flight - self._in_flight),
                    WaitTimeSeconds=s.wait_time_seconds,
                    VisibilityTimeout=s.visibility_timeout,
                    AttributeNames=_RECEIVE_ATTRIBUTES,
                    MessageAttributeNames=["All"],
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any broker error: wait and poll again, never die
                await backoff.wait(s.queue_url, exc)
                continue
            backoff.reset(s.queue_url)
            self.stats["receives"] += 1
            messages = response.get("Messages") or []
            self.stats["received"] += len(messages)
            for message in messages:
                self._take()
                yield message, _receipt(message)

    async def advance(self, batch: Sequence[AdvanceItem]) -> None:
        """Delete what every watcher accepted; dead-letter or release rejects; release failures."""
        delete: list[Receipt] = []
        try:
            for item in batch:
                receipt: Receipt = item.broker_payload
                outcome = item.outcome
                if outcome.is_clean:
                    delete.append(receipt)
                elif outcome.rejected:
                    if await self._dead_letter_if_due(receipt):
                        delete.append(receipt)
                    else:
                        backoff = min(2 ** max(receipt.receive_count - 1, 0), _REJECT_BACKOFF_MAX)
                        await self._release(receipt, backoff)
                else:
                    # A watcher timed out or left before the event was stored (or none was subscribed):
                    # make the message visible again soon, as a crash would after the visibility timeout.
                    await self._release(receipt, 1)
            await self._delete(delete)
        finally:
            self._give_back(len(batch))

    async def aclose(self) -> None:
        if self._client_cm is not None:
            await self._client_cm.__aexit__(None, None, None)
            self._client_cm = self.client = None

    # -- helpers ------------------------------------------------------------------------------------
    def _take(self) -> None:
        self._in_flight += 1
        if self._in_flight >= self.settings.max_in_flight:
            self._room.clear()

    def _give_back(self, count: int) -> None:
        self._in_flight = max(0, self._in_flight - count)
        if self._in_flight < self.settings.max_in_flight:
            self._room.set()

    async def _read_redrive_policy(self) -> None:
        """maxReceiveCount and the DLQ's URL from the queue's redrive policy (once per stream)."""
        try:
            attrs = await self.client.get_queue_attributes(
                QueueUrl=self.settings.queue_url, AttributeNames=["RedrivePolicy"]
            )
            policy = json.loads(attrs.get("Attributes", {}).get("RedrivePolicy") or "{}")
        except Exception as exc:  # polling works without it; rejects then only cycle
            log.warning(
                "cannot read the redrive policy of %s (%s): rejects are not dead-lettered", self.settings.queue_url, exc
            )
            return
        if self.max_receive_count is None and policy.get("maxReceiveCount") is not None:
            self.max_receive_count = int(policy["maxReceiveCount"])
        if arn := policy.get("deadLetterTargetArn"):
            self.dead_letter_url = dlq_url(self.settings.queue_url, arn)

    async def _dead_letter_if_due(self, receipt: Receipt) -> bool:
        """Send a reject to the DLQ with its reason once its receive count is used up."""
        due = self.max_receive_count is not None and receipt.receive_count >= self.max_receive_count
        if not due:
            return False
        if self.dead_letter_url is None:
            log.error(
                "message %s on %s cannot be parsed and has no dead-letter queue: it stays on the queue. Body: %r",
                receipt.message_id,
                self.settings.queue_url,
                receipt.body[:300],
            )
            return False
        reason = reject_reason(parse_body(receipt.body).rejected) or "rejected by a watcher"
        try:
            await self.client.send_message(
                QueueUrl=self.dead_letter_url,
                MessageBody=receipt.body,
                MessageAttributes={
                    REASON_ATTRIBUTE: {"DataType": "String", "StringValue": reason},
                    "airlock-source-queue": {"DataType": "String", "StringValue": self.settings.queue_url},
                    "airlock-receive-count": {"DataType": "Number", "StringValue": str(receipt.receive_count)},
                },
            )
        except Exception as exc:  # keep it on the queue; SQS's own redrive is the backstop
            log.warning("could not dead-letter message %s (%s): it stays on the queue", receipt.message_id, exc)
            return False
        self.stats["dead_lettered"] += 1
        log.error(
            "dead-lettered message %s of %s after %d receives: %s",
            receipt.message_id,
            self.settings.queue_url,
            receipt.receive_count,
            reason,
        )
        return True

    async def _release(self, receipt: Receipt, seconds: int) -> None:
        try:
            await self.client.change_message_visibility(
                QueueUrl=self.settings.queue_url, ReceiptHandle=receipt.receipt_handle, VisibilityTimeout=seconds
            )
            self.stats["released"] += 1
        except Exception as exc:  # it becomes visible after its visibility timeout anyway
            log.warning("could not release message %s (%s): SQS redelivers it later", receipt.message_id, exc)

    async def _delete(self, receipts: Sequence[Receipt]) -> None:
        for start in range(0, len(receipts), _DELETE_BATCH):
            chunk = receipts[start : start + _DELETE_BATCH]
            try:
                response = await self.client.delete_message_batch(
                    QueueUrl=self.settings.queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": r.receipt_handle} for i, r in enumerate(chunk)],
                )
            except Exception as exc:  # SQS redelivers them; a repeated hint changes nothing
                queue = self.settings.queue_url
                log.warning("deleting %d messages on %s failed (%s): SQS redelivers them", len(chunk), queue, exc)
                continue
            failed = response.get("Failed") or []
            self.stats["deleted"] += len(chunk) - len(failed)
            for entry in failed:
                # A stale receipt (the message was redelivered meanwhile): the newer copy is deleted
                # when it is handled, and a repeated hint changes nothing.
                log.warning("delete failed on %s: %s", self.settings.queue_url, entry)


def _receipt(message: dict[str, Any]) -> Receipt:
    attributes = message.get("Attributes") or {}
    return Receipt(
        message_id=message.get("MessageId", ""),
        receipt_handle=message.get("ReceiptHandle", ""),
        receive_count=int(attributes.get("ApproximateReceiveCount", "1")),
        body=message.get("Body", ""),
        message_attributes=message.get("MessageAttributes") or {},
    )


def dlq_url(queue_url: str, dlq_arn: str) -> str:
    """The DLQ's URL from the queue's URL and the DLQ's ARN (same endpoint, account from the ARN)."""
    _, _, _, _region, account, name = dlq_arn.split(":", 5)
    base = queue_url.rstrip("/").rsplit("/", 2)[0]
    return f"{base}/{account}/{name}"


class _Backoff:
    """Exponential wait after broker errors (1 s to 60 s), logging a repeated error once a minute."""

    def __init__(self) -> None:
        self.delay = 1.0
        self.last_log = 0.0
        self.last_error = ""
        self.failing = False

    async def wait(self, queue_url: str, exc: BaseException) -> None:
        error = f"{type(exc).__name__}: {exc}"
        now = time.monotonic()
        if error != self.last_error or now - self.last_log >= 60:
            missing = "NonExistentQueue" in error or "QueueDoesNotExist" in error
            hint = " (the queue does not exist yet: waiting for it)" if missing else ""
            log.warning("receive on %s failed%s, retrying in %.0fs: %s", queue_url, hint, self.delay, error)
            self.last_log, self.last_error = now, error
        self.failing = True
        await asyncio.sleep(self.delay)
        self.delay = min(self.delay * 2, _RETRY_BACKOFF_MAX)

    def reset(self, queue_url: str) -> None:
        if self.failing:
            log.info("receive on %s works again", queue_url)
        self.delay, self.failing, self.last_error = 1.0, False, ""
