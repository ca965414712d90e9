"""SqsQueueTrigger against a real SQS API (moto server over HTTP) and Airflow's real SharedStreamManager.

The manager is driven the way the triggerer's TriggerRunner drives it: subscribe, pull events from
`filter_shared_stream`, `bind_pending_event` for each event, and `confirm_persisted` once the
supervisor would have stored it. What a test does not confirm was, as far as SQS can tell, never
stored: that is the crash.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import boto3
import pytest
from airflow.triggers.shared_stream import SharedStreamManager
from moto.server import ThreadedMotoServer

from airlock.devstack.local_aws import free_port
from airlock.triggers.probe import NotWatched, wait_until_watched
from airlock.triggers.sqs import PROBE_ATTRIBUTE, REASON_ATTRIBUTE, SqsQueueTrigger, SqsStreamProducer, dlq_url

pytestmark = pytest.mark.timeout(120)

CREATED = "ObjectCreated:Put"


def notification(key: str, event: str = CREATED, bucket: str = "airlock-local-landing") -> str:
    return json.dumps({"Records": [{"eventName": event, "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}]})


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def sqs(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    connection = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(connection))
    return boto3.client(
        "sqs", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )


def make_queue(sqs: Any, max_receive_count: int = 3) -> tuple[str, str]:
    name = f"q-{uuid.uuid4().hex[:8]}"
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)})
    return sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": policy})["QueueUrl"], dlq


def depth(sqs: Any, url: str) -> tuple[int, int]:
    """(visible, in flight) as SQS counts them."""
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


async def wait_for(what: str, check: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Poll `check` until it returns something truthy; fail saying what was last seen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await asyncio.to_thread(check)
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout:.0f}s (last saw {last!r})")


class Runner:
    """What Airflow's TriggerRunner does with a trigger: iterate its filter, bind each event, unsubscribe.

    Each event goes to `events[trigger_id]` with its persist seq; the test plays the supervisor and
    calls `confirm_persisted` for the events it "stored".
    """

    def __init__(self, ack_timeout: float = 30.0) -> None:
        self.manager = SharedStreamManager(ack_timeout=ack_timeout)
        self.triggers: dict[int, SqsQueueTrigger] = {}
        self.events: dict[int, asyncio.Queue[tuple[Any, int | None]]] = {}
        self.tasks: list[asyncio.Task[None]] = []

    def subscribe(self, trigger_id: int, trigger: SqsQueueTrigger) -> None:
        key = trigger.shared_stream_key()
        stream = self.manager.subscribe(trigger_id=trigger_id, trigger=trigger, key=key)
        self.triggers[trigger_id] = trigger
        self.events[trigger_id] = asyncio.Queue()

        async def consume() -> None:
            try:
                async for event in trigger.filter_shared_stream(stream):
                    # Bind and queue back to back, as the triggerer does (no await in between).
                    seq = self.manager.bind_pending_event(trigger_id=trigger_id, key=key)
                    self.events[trigger_id].put_nowait((event, seq))
            finally:  # a failed trigger leaves its stream, as in the triggerer
                await self.manager.unsubscribe(trigger_id, key)

        self.tasks.append(asyncio.ensure_future(consume()))

    async def next_event(self, trigger_id: int, timeout: float = 15.0) -> tuple[Any, int | None]:
        """The trigger's next event and the persist seq the triggerer bound to it."""
        return await asyncio.wait_for(self.events[trigger_id].get(), timeout)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for trigger_id, trigger in self.triggers.items():
            await self.manager.unsubscribe(trigger_id, trigger.shared_stream_key())
        await self.manager.stop_all()


def run(body: Callable[[Runner], Awaitable[None]], ack_timeout: float = 30.0) -> None:
    async def main() -> None:
        runner = Runner(ack_timeout)
        try:
            await body(runner)
        finally:
            await runner.stop()

    asyncio.run(main())


# -- the trigger as Airflow sees it -----------------------------------------------------------------
def test_serialises_to_its_own_arguments_and_back() -> None:
    trigger = SqsQueueTrigger(queue_url="https://sqs.eu-west-1.amazonaws.com/1/q", key_prefixes=["acme/"])
    classpath, kwargs = trigger.serialize()
    assert classpath == "airlock.triggers.sqs.SqsQueueTrigger"
    again = SqsQueueTrigger(**kwargs)
    assert again.serialize() == (classpath, kwargs)
    assert json.loads(json.dumps(kwargs)) == kwargs  # what the metadata database stores


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"wait_time_seconds": 21}, "1 to 20"),
        ({"max_messages": 0}, "1 to 10"),
        ({"visibility_timeout": 0}, "1 to 43200"),
        ({"max_in_flight": 5}, "at least max_messages"),
        ({"max_receive_count": 0}, "at least 1"),
        ({"queue_url": ""}, "queue_url"),
    ],
)
def test_refuses_settings_sqs_would_refuse(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SqsQueueTrigger(**{"queue_url": "https://sqs.eu-west-1.amazonaws.com/1/q", **kwargs})


def test_watchers_of_one_queue_share_a_key_and_other_queues_do_not() -> None:
    a = SqsQueueTrigger(queue_url="https://sqs.eu-west-1.amazonaws.com/1/q", key_prefixes=["acme/"])
    b = SqsQueueTrigger(queue_url="https://sqs.eu-west-1.amazonaws.com/1/q", wait_time_seconds=5)
    c = SqsQueueTrigger(queue_url="https://sqs.eu-west-1.amazonaws.com/1/other")
    assert a.shared_stream_key() == b.shared_stream_key() != c.shared_stream_key()


def test_standalone_run_refuses_rather_than_deleting_on_receipt() -> None:
    trigger = SqsQueueTrigger(queue_url="https://sqs.eu-west-1.amazonaws.com/1/q")

    async def first() -> None:
        await anext(trigger.run())

    with pytest.raises(RuntimeError, match="shared stream"):
        asyncio.run(first())


def test_dlq_url_keeps_the_endpoint_and_takes_account_and_name_from_the_arn() -> None:
    arn = "arn:aws:sqs:us-east-1:123456789012:airlock-local-acme-landing-dlq"
    assert dlq_url("http://127.0.0.1:5000/123456789012/airlock-local-acme-landing", arn) == (
        "http://127.0.0.1:5000/123456789012/airlock-local-acme-landing-dlq"
    )
    assert dlq_url("https://sqs.eu-west-1.amazonaws.com/1/q", "arn:aws:sqs:eu-west-1:1:q-dlq") == (
        "https://sqs.eu-west-1.amazonaws.com/1/q-dlq"
    )


# -- ack mode on a real queue -----------------------------------------------------------------------
def test_a_message_is_deleted_only_after_its_event_is_stored(sqs: Any) -> None:
    queue, _ = make_queue(sqs)

    async def body(runner: Runner) -> None:
        runner.subscribe(1, SqsQueueTrigger(queue_url=queue, wait_time_seconds=1))
        sqs.send_message(QueueUrl=queue, MessageBody=notification("acme/orders/20260101/orders.csv"))
        event, seq = await runner.next_event(1)
        assert seq is not None, "the event is not bound to the message: the stream is not in ack mode"
        batch = event.payload["message_batch"]
        assert [json.loads(m["Body"])["Records"][0]["s3"]["object"]["key"] for m in batch] == [
            "acme/orders/20260101/orders.csv"
        ]
        assert "ReceiptHandle" not in batch[0]
        await asyncio.sleep(2)  # a poll or two later, the unconfirmed message is still held, not deleted
        assert depth(sqs, queue) == (0, 1)
        runner.manager.confirm_persisted([seq])
        await wait_for("the stored message is deleted", lambda: depth(sqs, queue) == (0, 0))

    run(body)


def test_a_message_whose_event_was_never_stored_is_delivered_again(sqs: Any) -> None:
    """The crash, as SQS sees it: received, never deleted; redelivered after the visibility timeout."""
    queue, _ = make_queue(sqs)
    key = "acme/orders/20260102/orders.csv"

    async def crash(runner: Runner) -> None:
        runner.subscribe(1, SqsQueueTrigger(queue_url=queue, wait_time_seconds=1, visibility_timeout=2))
        sqs.send_message(QueueUrl=queue, MessageBody=notification(key))
        await runner.next_event(1)  # received, bound, never confirmed: the triggerer dies here

    async def restart(runner: Runner) -> None:
        runner.subscribe(1, SqsQueueTrigger(queue_url=queue, wait_time_seconds=1, visibility_timeout=2))
        event, seq = await runner.next_event(1, timeout=20)
        message = event.payload["message_batch"][0]
        assert key in message["Body"]
        assert message["Attributes"]["ApproximateReceiveCount"] == "2"
        runner.manager.confirm_persisted([seq])
        await wait_for("the redelivered message is deleted once stored", lambda: depth(sqs, queue) == (0, 0))

    run(crash)
    run(restart)


def test_an_event_not_stored_within_the_ack_timeout_is_released_for_redelivery(sqs: Any) -> None:
    queue, _ = make_queue(sqs)

    async def body(runner: Runner) -> None:
        runner.subscribe(1, SqsQueueTrigger(queue_url=queue, wait_time_seconds=1, visibility_timeout=60))
        sqs.send_message(QueueUrl=queue, MessageBody=notification("acme/orders/20260103/orders.csv"))
        await runner.next_event(1)  # never confirmed: the store failed
        # The watcher fails (AckTimeout) and leaves; the message is released (visible after 1 s)
        # rather than hidden for the whole 60 s visibility timeout.
        await wait_for("released after the ack timeout", lambda: depth(sqs, queue) == (1, 0), timeout=15)

    run(body, ack_timeout=1.0)


def test_two_watchers_share_one_poll_and_the_message_waits_for_both(sqs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    queue, _ = make_queue(sqs)
    producers: list[SqsStreamProducer] = []
    original = SqsStreamProducer.__init__

    def tracked(self: SqsStreamProducer, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        producers.append(self)

    monkeypatch.setattr(SqsStreamProducer, "__init__", tracked)

    async def body(runner: Runner) -> None:
        runner.subscribe(1, SqsQueueTrigger(queue_url=queue, wait_time_seconds=1))
        runner.subscribe(2, SqsQueueTrigger(queue_url=queue, wait_time_seconds=1, key_prefixes=["acme/"]))
        sqs.send_message(QueueUrl=queue, MessageBody=notification("acme/orders/20260104/orders.csv"))
        (_, seq1), (_, seq2) = await asyncio.gather(runner.next_event(1), runner.next_event(2))
        runner.manager.confirm_persisted([seq1])
        await asyncio.sleep(1.5)
        assert depth(sqs, queue) == (0, 1), "deleted before the second watcher's event was stored"
        runner.manager.confirm_persisted([seq2])
        await wait_for("deleted once both events are stored", lambda: depth(sqs, queue) == (0, 0))
        await asyncio.sleep(2.5)  # a few idle polls
        assert len(producers) == 1, "each watcher polls the queue itself"
        assert producers[0].stats["receives"] >= 2

    run(body)


def test_a_watcher_fires_only_for_its_prefixes_and_the_other_message_is_still_deleted(sqs: Any) -> None:
    queue, _ = make_queue(sqs)

    async def body(runner: Runner) -> None:
        runner.subscribe(1, SqsQueueTrigger(queue_url=queue, wait_time_seconds=1, key_prefixes=["acme/"]))
        sqs.send_message(QueueUrl=queue, MessageBody=notification("globex/orders/1/orders.csv"))
        sqs.send_message(QueueUrl=queue, MessageBody=notification("acme/orders/1/orders.csv"))
        event, seq = await runner.next_event(1)
        assert "acme/orders/1/orders.csv" in event.payload["message_batch"][0]["Body"]
        runner.manager.confirm_persisted([seq])
        await wait_for("both messages are gone", lambda: depth(sqs, queue) == (0, 0))

    run(body)


def test_test_events_removals_and_probes_are_deleted_without_an_event(sqs: Any) -> None:
    queue, _ = make_queue(sqs)
    test_event = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "airlock-local-landing"})

    async def body(runner: Runner) -> None:
        runner.subscribe(1, SqsQueueTrigger(queue_url=queue, wait_time_seconds=1))
        sqs.send_message(QueueUrl=queue, MessageBody=test_event)
        sqs.send_message(QueueUrl=queue, MessageBody=notification("acme/x", event="ObjectRemoved:Delete"))
        sqs.send_message(
            QueueUrl=queue,
            MessageBody="probe",
            MessageAttributes={PROBE_ATTRIBUTE: {"DataType": "String", "StringValue": "1"}},
        )
        sqs.send_message(QueueUrl=queue, MessageBody=notification("acme/orders/9/orders.csv"))
        event, seq = await runner.next_event(1)  # the only event: the real upload
        assert "acme/orders/9/orders.csv" in event.payload["message_batch"][0]["Body"]
        runner.manager.confirm_persisted([seq])
        await wait_for("nothing left on the queue", lambda: depth(sqs, queue) == (0, 0))

    run(body)


def test_a_poison_message_goes_to_the_dlq_with_its_reason_after_the_receive_count(sqs: Any) -> None:
    queue, dlq = make_queue(sqs, max_receive_count=3)

    async def body(runner: Runner) -> None:
        runner.subscribe(1, SqsQueueTrigger(queue_url=queue, wait_time_seconds=1))
        sqs.send_message(QueueUrl=queue, MessageBody="{not json")
        got = await wait_for(
            "the poison message in the DLQ",
            lambda: sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"]).get("Messages"),
            timeout=30,
        )
        attrs = got[0]["MessageAttributes"]
        assert got[0]["Body"] == "{not json"
        assert attrs[REASON_ATTRIBUTE]["StringValue"].startswith("malformed_json")
        assert attrs["airlock-receive-count"]["StringValue"] == "3"
        assert depth(sqs, queue) == (0, 0)

    run(body)


def test_a_watcher_waits_for_its_queue_instead_of_failing(sqs: Any, endpoint: str) -> None:
    """A dedicated tenant's queue that Terraform has not created yet: back off, then poll it."""
    name = f"late-{uuid.uuid4().hex[:8]}"
    queue = f"{endpoint}/123456789012/{name}"

    async def body(runner: Runner) -> None:
        runner.subscribe(1, SqsQueueTrigger(queue_url=queue, wait_time_seconds=1))
        await asyncio.sleep(2)
        assert sqs.create_queue(QueueName=name)["QueueUrl"] == queue
        sqs.send_message(QueueUrl=queue, MessageBody=notification("acme/orders/5/orders.csv"))
        event, _ = await runner.next_event(1, timeout=20)
        assert "acme/orders/5/orders.csv" in event.payload["message_batch"][0]["Body"]

    run(body)


def test_one_client_for_the_stream_not_one_per_poll(sqs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.amazon.aws.hooks.sqs import SqsHook

    queue, _ = make_queue(sqs)
    calls: list[float] = []
    original = SqsHook.get_async_conn

    async def counted(self: SqsHook) -> Any:
        calls.append(time.monotonic())
        return await original(self)

    monkeypatch.setattr(SqsHook, "get_async_conn", counted)

    async def body(runner: Runner) -> None:
        runner.subscribe(1, SqsQueueTrigger(queue_url=queue, wait_time_seconds=1))
        for i in range(3):
            sqs.send_message(QueueUrl=queue, MessageBody=notification(f"acme/orders/{i}/orders.csv"))
            _, seq = await runner.next_event(1)
            runner.manager.confirm_persisted([seq])
        await asyncio.sleep(2)
        assert len(calls) == 1

    run(body)


def test_the_poll_pauses_at_max_in_flight(sqs: Any) -> None:
    queue, _ = make_queue(sqs)
    for i in range(15):
        sqs.send_message(QueueUrl=queue, MessageBody=notification(f"acme/orders/{i}/orders.csv"))

    async def body(runner: Runner) -> None:
        runner.subscribe(1, SqsQueueTrigger(queue_url=queue, wait_time_seconds=1, max_messages=5, max_in_flight=5))
        seqs = [(await runner.next_event(1))[1] for _ in range(5)]
        await asyncio.sleep(2)
        assert depth(sqs, queue) == (10, 5), "received more than max_in_flight before any was stored"
        runner.manager.confirm_persisted(seqs)
        await wait_for("the next messages are received", lambda: depth(sqs, queue)[0] < 10 or None)

    run(body)


def test_the_event_loop_never_waits_on_a_thread_per_message(sqs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """No sync_to_async per message: classifying a message is plain CPU, in the loop."""
    import asgiref.sync

    queue, _ = make_queue(sqs)
    wrapped: list[str] = []
    original = asgiref.sync.sync_to_async

    def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        wrapped.append(getattr(func, "__qualname__", repr(func)))
        return original(func, *args, **kwargs)

    monkeypatch.setattr(asgiref.sync, "sync_to_async", counting)
    monkeypatch.setattr("airflow.providers.amazon.aws.hooks.base_aws.sync_to_async", counting)

    async def body(runner: Runner) -> None:
        runner.subscribe(1, SqsQueueTrigger(queue_url=queue, wait_time_seconds=1))
        for i in range(5):
            sqs.send_message(QueueUrl=queue, MessageBody=notification(f"acme/orders/{i}/orders.csv"))
        for _ in range(5):
            _, seq = await runner.next_event(1)
            runner.manager.confirm_persisted([seq])
        await wait_for("all deleted", lambda: depth(sqs, queue) == (0, 0))
        assert len(wrapped) == 1, wrapped  # the one connection lookup when the stream opened

    run(body)


# -- is the queue watched? --------------------------------------------------------------------------
def test_a_probe_says_when_a_watcher_polls_and_acks_the_queue(sqs: Any) -> None:
    queue, _ = make_queue(sqs)
    with pytest.raises(NotWatched, match="no watcher consumed a probe"):
        wait_until_watched(sqs, queue, timeout=1.5, interval=0.2, log=lambda _m: None)
    sqs.purge_queue(QueueUrl=queue)

    async def body(runner: Runner) -> None:
        runner.subscribe(1, SqsQueueTrigger(queue_url=queue, wait_time_seconds=1))
        seconds = await asyncio.to_thread(wait_until_watched, sqs, queue, timeout=20, log=lambda _m: None)
        assert seconds < 20
        assert runner.events[1].empty(), "a probe must never become an asset event"

    run(body)
