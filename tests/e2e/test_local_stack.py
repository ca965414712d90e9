"""LocalStack end to end: moto + wiring + real Airflow come up, route events, and stop clean."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from airlock.devstack import LocalStack
from airlock.devstack.local_aws import free_port
from airlock.settings import load_settings, project_home

pytestmark = pytest.mark.e2e

TENANTS = ["acme", "globex", "initech"]
WATCHED = "globex"  # dedicated: the probe watcher consumes its queue; the shared one we read ourselves
LANDING = "airlock-local-landing"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, probe_dags: Path) -> Any:
    started = time.monotonic()
    with LocalStack(
        tmp_path_factory.mktemp("stack"),
        TENANTS,
        port=free_port(),
        dags_folder=probe_dags,
        extra_env={"AIRLOCK_PROBE_WATCH_TENANT": WATCHED},
        wait_dags=["probe_plain", "probe_watcher"],
    ) as running:
        running.measured = {"enter_seconds": round(time.monotonic() - started, 1)}  # type: ignore[attr-defined]
        yield running


def _queue(stack: LocalStack, tenant: str) -> str:
    url = load_settings({**stack.env, "AIRLOCK_HOME": str(project_home())}).queue_url(tenant)
    assert url is not None
    return url


def _drain(stack: LocalStack, tenant: str, wait: int = 0) -> list[dict[str, Any]]:
    """Every message on the queue the tenant's notifications go to (deleted), bodies decoded."""
    url = _queue(stack, tenant)
    bodies = []
    while True:
        got = stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait)
        messages = got.get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            stack.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _keys(bodies: list[dict[str, Any]]) -> list[str]:
    """Object keys of EventBridge "Object Created" events (the landing bucket's routing)."""
    return [b["detail"]["object"]["key"] for b in bodies if b.get("detail-type") == "Object Created"]


def test_stack_is_healthy_with_the_probe_dags_unpaused(stack: LocalStack) -> None:
    health = stack.api.health()
    assert {k: v["status"] for k, v in health.items()} == {
        "metadatabase": "healthy",
        "scheduler": "healthy",
        "triggerer": "healthy",
        "dag_processor": "healthy",
    }
    dags = {d["dag_id"]: d for d in stack.api.dags()}
    assert {"probe_plain", "probe_watcher"} <= set(dags)
    assert not dags["probe_watcher"]["is_paused"]
    assert stack.api.import_errors() == []
    schemas = stack.api.openapi()["components"]["schemas"]  # the field names the client relies on
    run_fields = set(schemas["DAGRunResponse"]["properties"])
    event_fields = set(schemas["AssetEventResponse"]["properties"])
    assert {"dag_run_id", "state", "start_date", "conf", "partition_key"} <= run_fields
    assert {"asset_id", "extra", "partition_key", "timestamp"} <= event_fields
    stack.measured.update(  # type: ignore[attr-defined]
        timings=stack.timings,
        processes=len(stack.processes()),
        rss_mib=round(stack.rss_bytes() / 2**20),
        uss_mib=round(stack.uss_bytes() / 2**20),
    )


def test_a_triggered_run_succeeds_with_its_conf(stack: LocalStack) -> None:
    run = stack.api.trigger("probe_plain", conf={"tenant": "acme"})
    runs = stack.api.wait_for_runs(
        "probe_plain", lambda rs: any(r["dag_run_id"] == run["dag_run_id"] and r["state"] == "success" for r in rs)
    )
    assert next(r for r in runs if r["dag_run_id"] == run["dag_run_id"])["conf"] == {"tenant": "acme"}
    assert [t["state"] for t in stack.api.task_instances("probe_plain", run["dag_run_id"])] == ["success"]


def test_standard_tenants_share_a_queue_and_a_dedicated_tenant_has_its_own(stack: LocalStack) -> None:
    assert stack.dedicated == [WATCHED]
    assert _queue(stack, "acme") == _queue(stack, "initech") != _queue(stack, WATCHED)
    assert stack.env["AIRLOCK_DEDICATED_TENANTS"] == WATCHED
    key = "acme/orders/batch-1/orders 2026.csv"
    stack.s3.put_object(Bucket=LANDING, Key=key, Body=b"id\n1\n")
    assert _keys(_drain(stack, "acme", wait=2)) == [key]


def test_the_kits_watcher_triggers_a_run_from_a_dedicated_queue(stack: LocalStack) -> None:
    before = {r["dag_run_id"] for r in stack.api.dag_runs("probe_watcher")}
    sent = time.monotonic()
    stack.s3.put_object(Bucket=LANDING, Key=f"{WATCHED}/orders/batch-7/orders.csv", Body=b"id\n1\n")
    runs = stack.api.wait_for_runs(
        "probe_watcher",
        lambda rs: any(r["dag_run_id"] not in before and r["state"] == "success" for r in rs),
        timeout=90,
    )
    stack.measured["upload_to_successful_run_seconds"] = round(time.monotonic() - sent, 1)  # type: ignore[attr-defined]
    assert next(r for r in runs if r["dag_run_id"] not in before)["run_type"] == "asset_triggered"
    events = stack.api.asset_events(asset_id=stack.api.asset_id("probe_landing"))
    payloads = [json.dumps(e["extra"]) for e in events]
    assert any("batch-7" in p for p in payloads)


def test_stop_leaves_no_process_of_the_stack(stack: LocalStack) -> None:
    procs = stack.processes()
    assert len(procs) >= 5  # moto + the four Airflow components (+ workers)
    report = stack.stop()
    assert report.survivors == []
    assert set(report.stopped) == {"moto", "api-server", "scheduler", "dag-processor", "triggerer"}
    # Each component ended on its polite signals (SIGINT; SIGTERM only for an interpreter's teardown).
    assert "SIGKILL" not in report.signals.values(), report.signals
    triggerer_log = stack.supervisor.log_dir / "triggerer.log"
    assert "Forcing exit" not in triggerer_log.read_text(), "the triggerer got a second signal"
    assert [p.pid for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
    stack.measured["shutdown_seconds"] = round(report.seconds, 1)  # type: ignore[attr-defined]
    print(f"\nlocal stack figures: {json.dumps(stack.measured)}")  # type: ignore[attr-defined]


def test_folder_landing_zone_needs_no_aws_endpoint(tmp_path: Path, probe_dags: Path) -> None:
    with LocalStack(
        tmp_path, TENANTS, port=free_port(), landing="folder", dags_folder=probe_dags, wait_dags=["probe_plain"]
    ) as stack:
        assert stack.endpoint_url is None and stack.s3 is None
        assert "AIRLOCK_SHARED_QUEUE_URL" not in stack.env and "AIRLOCK_QUEUE_URL_TEMPLATE" not in stack.env
        assert Path(stack.env["AIRLOCK_LANDING_URL"]).is_dir()
        assert "moto" not in {m.name for m in stack.supervisor.processes}
        assert {d["dag_id"] for d in stack.api.dags()} == {"probe_plain"}  # no queue: no watcher DAG
    assert stack.stop_report is not None and stack.stop_report.survivors == []
