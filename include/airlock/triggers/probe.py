"""Is a notification queue being watched? Ask SQS, not the triggerer's log.

`wait_until_watched` sends a probe message (message attribute `airlock-probe`) and waits until a
watcher has received and deleted it: proof that the queue is polled *and* acked, i.e. that an upload
made now is picked up at once. Stronger than "the trigger started"
(`AirflowStack.wait_watchers_polling`): the fault tests and benchmarks need it. It takes a boto3 SQS
client (plain, blocking): CLIs and tests, never the triggerer. Per-watcher health for the status page
is `airlock.observability.airflow_state.watcher_health`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from airlock.errors import AirlockError
from airlock.triggers.sqs import PROBE_ATTRIBUTE


class NotWatched(AirlockError):
    """No watcher consumed the probe in time: the triggerer is down, starting, or not watching this queue."""


def _depth(sqs: Any, queue_url: str) -> tuple[int, int]:
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs.get("ApproximateNumberOfMessages", 0)), int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0))


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
        visible, in_flight = _depth(sqs, queue_url)
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
