"""The event path on the real local stack, with the reconcile sweep switched off.

moto S3 -> EventBridge -> the shared SQS queue -> SqsQueueTrigger in a real triggerer -> `landing`
asset event -> router -> snapshot -> processing run. Each test asserts what happened to one batch:
- a message that can never be parsed ends in the DLQ with its reason, and makes no asset event;
- a notification delivered twice gives one processing run;
- an event pushed to the REST API (the body modules/event_push sends) is processed like a watcher's;
- the triggerer dies (SIGKILL) after its trigger received a message and before the event was stored:
  the message is redelivered, and the batch is processed exactly once;
- tenants added while the stack runs (`airlock dev`'s pickup) get their events, through their tier's queue.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from airlock.demo.runner import DAGS
from airlock.devstack.local_aws import client, free_port
from airlock.devstack.stack import LocalStack
from airlock.settings import load_settings
from airlock.triggers.probe import wait_until_watched
from airlock.triggers.sqs import REASON_ATTRIBUTE, dlq_url

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

REPO = Path(__file__).resolve().parents[2]
LANDING = "airlock-local-landing"
STOCK = b"warehouse_id,sku,quantity,counted_at\nhq,sku-1,4,2026-11-22\n"
VISIBILITY = 15  # seconds: how soon SQS redelivers what a dead triggerer had received


def wait_for(what: str, check: Callable[[], Any], timeout: float = 180.0, interval: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:.0f}s; last saw {last!r}")


@pytest.fixture(scope="module")
def registry() -> Iterator[Path]:
    """A copy of the registry's tenants that the onboarding test adds to (the stack and this process read it)."""
    folder = REPO / "var" / "e2e" / f"event_path-registry-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(REPO / "dags" / "registry" / "tenants", folder)
    previous = os.environ.get("AIRLOCK_TENANTS_DIR")
    os.environ["AIRLOCK_TENANTS_DIR"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("AIRLOCK_TENANTS_DIR", None)
    else:
        os.environ["AIRLOCK_TENANTS_DIR"] = previous
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def stack(registry: Path) -> Iterator[LocalStack]:
    state = REPO / "var" / "e2e" / f"event_path-{os.getpid()}"
    shutil.rmtree(state, ignore_errors=True)
    extra = {
        "AIRLOCK_TENANTS_DIR": str(registry),
        "AIRLOCK_WAREHOUSE_DIR": str(state / "warehouse"),
        "AIRLOCK_RECONCILE_INTERVAL": "1d",
        "AIRLOCK_WATCHER_VISIBILITY_TIMEOUT": str(VISIBILITY),
        "AIRFLOW__TRIGGERER__SHARED_STREAM_ACK_TIMEOUT": str(VISIBILITY),
        "AIRLOCK_PROCESSING_MAX_ACTIVE_RUNS": "8",
    }
    port = free_port()  # an ephemeral port the OS hands out: two pytest workers never share one
    with LocalStack(state, ["acme", "globex", "initech"], port=port, extra_env=extra, wait_dags=DAGS) as running:
        # The sweep off: only events can start a batch here. (A first run on creation sees an empty zone.)
        running.api.set_paused("airlock_reconcile", True)
        wait_until_watched(running.sqs, shared_queue(running), timeout=180)
        yield running
    assert running.stop_report is not None and not running.stop_report.survivors


def shared_queue(stack: LocalStack) -> str:
    url = load_settings({**stack.env, "AIRLOCK_HOME": str(REPO)}).shared_queue_url
    assert url is not None
    return url


def depth(stack: LocalStack, url: str) -> tuple[int, int]:
    attrs = stack.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


def processing_runs(stack: LocalStack, batch: str, tenant: str = "initech") -> list[dict[str, Any]]:
    return stack.api.dag_runs("process_inventory", partition_key=f"{tenant}|{batch}")


def wait_processed(stack: LocalStack, batch: str, timeout: float = 300.0, tenant: str = "initech") -> list[Any]:
    return wait_for(
        f"a successful processing run for {tenant}|{batch}",
        lambda: [r for r in processing_runs(stack, batch, tenant) if r["state"] == "success"],
        timeout=timeout,
        interval=2.0,
    )


def landing_events(stack: LocalStack) -> list[dict[str, Any]]:
    return stack.api.asset_events(asset_id=stack.api.asset_id("landing"), limit=500)


def upload(stack: LocalStack, batch: str, tenant: str = "initech") -> str:
    key = f"{tenant}/inventory/{batch}/stock_main.csv"
    stack.s3.put_object(Bucket=LANDING, Key=key, Body=STOCK)
    return key


def eventbridge_event(key: str) -> dict[str, Any]:
    """An "Object Created" event as EventBridge delivers it (the shape the shared queue carries)."""
    return {
        "version": "0",
        "id": f"test-{key.replace('/', '-')}",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{LANDING}"],
        "detail": {"bucket": {"name": LANDING}, "object": {"key": key}, "reason": "PutObject"},
    }


def test_a_message_that_never_parses_goes_to_the_dlq_with_its_reason(stack: LocalStack) -> None:
    queue = shared_queue(stack)
    dlq = dlq_url(
        queue,
        json.loads(
            stack.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["RedrivePolicy"])["Attributes"][
                "RedrivePolicy"
            ]
        )["deadLetterTargetArn"],
    )
    events_before = len(landing_events(stack))
    stack.sqs.send_message(QueueUrl=queue, MessageBody='{"Records": "not a list"')
    dead = wait_for(
        "the poison message in the shared queue's DLQ",
        lambda: stack.sqs.receive_message(QueueUrl=dlq, MessageAttributeNames=["All"], WaitTimeSeconds=1).get(
            "Messages"
        ),
        timeout=180,
    )
    assert dead[0]["Body"] == '{"Records": "not a list"'
    attributes = dead[0]["MessageAttributes"]
    assert attributes[REASON_ATTRIBUTE]["StringValue"].startswith("malformed_json")
    assert attributes["airlock-receive-count"]["StringValue"] == "5"  # the queue's maxReceiveCount
    wait_for("the poison message is off the shared queue", lambda: depth(stack, queue) == (0, 0), timeout=30)
    assert len(landing_events(stack)) == events_before, "a poison message must never become an asset event"


def test_a_notification_delivered_twice_gives_one_run(stack: LocalStack) -> None:
    key = upload(stack, "dup001")
    duplicate = json.dumps(eventbridge_event(key))
    for _ in range(2):  # the same event twice more, as an at-least-once delivery may bring it
        stack.sqs.send_message(QueueUrl=shared_queue(stack), MessageBody=duplicate)
    wait_processed(stack, "dup001")
    wait_for("the shared queue is empty", lambda: depth(stack, shared_queue(stack)) == (0, 0), timeout=60)
    wait_for(
        "no router run left running",
        lambda: not [r for r in stack.api.dag_runs("airlock_router") if r["state"] in ("queued", "running")],
        timeout=120,
    )
    hinted = [e for e in landing_events(stack) if "dup001" in json.dumps(e["extra"])]
    assert len(hinted) == 3, f"three deliveries, three hints: {len(hinted)}"
    assert len(processing_runs(stack, "dup001")) == 1


def test_an_event_pushed_to_the_rest_api_is_processed_like_a_watchers(stack: LocalStack) -> None:
    """The body modules/event_push's API destination sends, rendered from its template, to the real API."""
    assert stack.endpoint_url is not None
    eb = client("events", stack.endpoint_url)
    # Capture the event EventBridge really emits for the upload, and keep it off the shared queue:
    # only the push path may deliver this batch.
    capture = stack.sqs.create_queue(QueueName="airlock-local-push-capture")["QueueUrl"]
    capture_arn = stack.sqs.get_queue_attributes(QueueUrl=capture, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    pattern = {"source": ["aws.s3"], "detail": {"object": {"key": [{"prefix": "initech/inventory/push001/"}]}}}
    eb.put_rule(Name="push-capture", EventPattern=json.dumps(pattern))
    eb.put_targets(Rule="push-capture", Targets=[{"Id": "capture", "Arn": capture_arn}])
    eb.disable_rule(Name="airlock-local-landing-shared")
    try:
        key = upload(stack, "push001")
        message = wait_for(
            "the EventBridge event of the upload",
            lambda: stack.sqs.receive_message(QueueUrl=capture, WaitTimeSeconds=1).get("Messages"),
            timeout=30,
        )[0]
    finally:
        eb.enable_rule(Name="airlock-local-landing-shared")
        eb.remove_targets(Rule="push-capture", Ids=["capture"])
        eb.delete_rule(Name="push-capture")
    event = json.loads(message["Body"])
    assert event["detail"]["object"]["key"] == key

    template = (REPO / "infra" / "terraform" / "modules" / "event_push" / "input_template.json.tftpl").read_text()
    body = json.loads(
        template.replace("${landing_asset_id}", str(stack.api.asset_id("landing")))
        .replace("<id>", event["id"])
        .replace("<aws.events.event.json>", json.dumps(event))
    )
    stored = stack.api.create_asset_event(body["asset_id"], extra=body["extra"])
    assert stored["extra"]["from_rest_api"] is True
    runs = wait_processed(stack, "push001")
    assert len(runs) == 1
    assert depth(stack, shared_queue(stack)) == (0, 0), "the batch came by push, not through the queue"


def test_a_triggerer_killed_before_the_event_is_stored_loses_nothing(stack: LocalStack) -> None:
    queue = shared_queue(stack)
    wait_until_watched(stack.sqs, queue, timeout=60)
    sweeps_before = len(stack.api.dag_runs("airlock_reconcile"))
    triggerer = next(p for p in stack.supervisor.processes if p.name == "triggerer")
    root = psutil.Process(triggerer.pid)
    runner = root.children(recursive=True)
    assert runner, "the triggerer runs its triggers in a child process"
    # Freeze the triggerer's supervisor, which stores the events its runner sends: the runner keeps
    # polling and receives the message, and nothing can store its event.
    root.send_signal(signal.SIGSTOP)
    try:
        upload(stack, "loss001")
        wait_for("the trigger received the message (in flight)", lambda: depth(stack, queue)[1] >= 1, timeout=60)
        time.sleep(3)  # the runner has sent its event; the frozen supervisor cannot store it
        assert not [e for e in landing_events(stack) if "loss001" in json.dumps(e["extra"])]
    finally:
        victims = [root, *runner]
        for proc in victims:
            proc.send_signal(signal.SIGKILL)
        psutil.wait_procs(victims, timeout=15)
    assert sum(depth(stack, queue)) >= 1, "the message must still be on the queue after the crash"
    assert not processing_runs(stack, "loss001")

    stack.supervisor.restart("triggerer")  # as Astro and MWAA restart a crashed triggerer
    runs = wait_processed(stack, "loss001", timeout=360)
    assert len(runs) == 1 and len(processing_runs(stack, "loss001")) == 1
    hinted = [e for e in landing_events(stack) if "loss001" in json.dumps(e["extra"])]
    assert hinted and all(e["extra"].get("from_trigger") for e in hinted), "redelivered through the watcher"
    wait_for("the stored message is deleted", lambda: depth(stack, queue) == (0, 0), timeout=60)
    assert len(stack.api.dag_runs("airlock_reconcile")) == sweeps_before, "the sweep is off: it did not save the batch"


def test_tenants_onboarded_while_the_stack_runs_get_their_events(stack: LocalStack, registry: Path) -> None:
    """What `airlock dev` does when a tenant file appears: a standard tenant needs nothing, a dedicated
    one gets its queue, its rule and (after the DAG processor restarts) the router's watcher."""
    template = (registry / "initech.yaml").read_text()  # one stock file completes a batch
    for tenant, tier in (("newco", "standard"), ("hooli", "dedicated")):
        text = template.replace("initech", tenant).replace("isolation_tier: standard", f"isolation_tier: {tier}")
        (registry / f"{tenant}.yaml").write_text(text)
    done = stack.rewire(sorted(p.stem for p in registry.glob("*.yaml")))
    assert (done.added, done.dedicated_gained, done.restarted) == (["hooli", "newco"], ["hooli"], True)
    settings = load_settings({**stack.env, "AIRLOCK_HOME": str(REPO)})
    assert settings.queue_url("newco") == settings.shared_queue_url
    hooli_queue = settings.queue_url("hooli")
    assert hooli_queue and hooli_queue != settings.shared_queue_url
    wait_until_watched(stack.sqs, hooli_queue, timeout=240)  # the re-parsed router watches hooli's queue
    # One after the other: Airflow 3.3's scheduler can create a run for the first of two `landing`
    # events stored a few ms apart and then delete the one queue row (asset, DAG) both relied on; the
    # second event then waits for the next event or the sweep (off here). Seen here on SQLite.
    upload(stack, "onb001", tenant="newco")
    wait_processed(stack, "onb001", tenant="newco")
    upload(stack, "onb001", tenant="hooli")
    wait_processed(stack, "onb001", tenant="hooli")
    hinted = {e["extra"]["payload"]["queue_url"] for e in landing_events(stack) if "onb001" in json.dumps(e["extra"])}
    assert hinted == {settings.shared_queue_url, hooli_queue}, "each upload arrived through its own tier's queue"
