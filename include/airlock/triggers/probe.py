"""Is a notification queue being watched? Ask SQS, not the triggerer's log.

- `wait_until_watched` sends a probe message (message attribute `airlock-probe`) and waits until a
  watcher has received and deleted it: proof that the queue is polled *and* acked, i.e. that an
  upload made now is picked up at once. The demo uses it before its first upload.
- `queue_health` reads each watched queue's depth and its DLQ's: what a status page shows per
  watcher. Messages piling up visible means nobody polls; a growing DLQ means rejected messages.

Both take a boto3 SQS client (plain, blocking): they run in CLIs and tests, never in the triggerer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airlock.errors import AirlockError
from airlock.settings import Settings
from airlock.triggers.sqs import PROBE_ATTRIBUTE, dlq_url


class NotWatched(AirlockError):
    """No watcher consumed the probe in time: the triggerer is down, starting, or not watching this queue."""


@dataclass(frozen=True)
class QueueHealth:
    """One watched queue as SQS counts it (approximate counts, as SQS reports them)."""

    watcher: str
    queue_url: str
    visible: int | None
    in_flight: int | None
    dead_lettered: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.dead_lettered

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ok": self.ok}


def _depth(sqs: Any, queue_url: str) -> tuple[int, int, str | None]:
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    return (
        int(attrs.get("ApproximateNumberOfMessages", 0)),
        int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
        json.loads(attrs.get("RedrivePolicy") or "{}").get("deadLetterTargetArn"),
    )


def wait_until_watched(
    sqs: Any, queue_url: str, *, timeout: float = 120.0, interval: float = 0.5, log: Callable[[str], None] = print
) -> float:
    """Send a probe and return the seconds until a watcher consumed it; raise NotWatched after `timeout`.

    The queue counts as watched once nothing is left on it, visible or in flight: the probe was
    received and deleted (a watcher deletes only what it has handled).
    """
    started = time.monotonic()
    sqs.send_message(
        QueueUrl=queue_url,
        MessageBody="airlock watcher probe",
        MessageAttributes={PROBE_ATTRIBUTE: {"DataType": "String", "StringValue": str(time.time())}},
    )
    last_note = 0.0
    visible = in_flight = -1
    while (elapsed := time.monotonic() - started) < timeout:
        visible, in_flight, _ = _depth(sqs, queue_url)
        if visible == 0 and in_flight == 0:
            return elapsed
        if elapsed - last_note >= 5:
            log(f"[probe] waiting for a watcher on {queue_url} ({elapsed:.0f}s: {visible} visible, {in_flight} held)")
            last_note = elapsed
        time.sleep(interval)
    raise NotWatched(
        f"no watcher consumed a probe on {queue_url} within {timeout:.0f}s ({visible} messages visible, {in_flight} "
        "in flight). Is the triggerer running and the router DAG unpaused? See the triggerer's log."
    )


def queue_health(sqs: Any, settings: Settings) -> list[QueueHealth]:
    """Depth and DLQ depth of every queue the router watches (empty for a folder landing zone)."""
    health = []
    for name, url in settings.watched_queues().items():
        try:
            visible, in_flight, dlq_arn = _depth(sqs, url)
            dead = _depth(sqs, dlq_url(url, dlq_arn))[0] if dlq_arn else None
        except Exception as exc:  # a missing queue or a denied call is what the page must show
            health.append(QueueHealth(name, url, None, None, None, error=f"{type(exc).__name__}: {exc}"))
            continue
        health.append(QueueHealth(name, url, visible, in_flight, dead))
    return health
