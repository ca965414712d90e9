"""Attempts of a batch: a re-run is a new attempt beside the first, asked for, and skipped when nothing changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airlock.intake import Intake
from airlock.lifecycle.versions import CodeVersion
from airlock.processing import (
    BatchBusyError,
    attempt_key,
    list_attempts,
    parse_partition_key,
    plan_run,
    record_done,
    write_request,
)
from airlock.snapshot import DONE_MARKER, RUN_MARKER, marker_key
from airlock.storage import read_json, write_json

from ..conftest import CUSTOMERS_CSV, ORDERS_CSV

KEY = "acme|20261120"
V1 = CodeVersion("orders", "a" * 64, "0.1.0")
V2 = CodeVersion("orders", "b" * 64, "0.1.0")


@pytest.fixture
def raw(registry, zone):
    zone.put("acme/orders/20261120/orders.csv", ORDERS_CSV)
    zone.put("acme/orders/20261120/customers.csv", CUSTOMERS_CSV)
    settled = datetime.now(UTC) + timedelta(minutes=10)
    Intake(registry, zone.landing, zone.raw, zone.quarantine, now=settled).sweep()
    return zone.raw


@pytest.fixture
def batch(registry):
    return parse_partition_key(KEY, "orders", registry)


def run(registry, raw, run_id, clear=0, code=V1):
    return plan_run(KEY, "orders", registry, raw, run_id, "process_orders", clear_number=clear, code=code)


def succeed(raw, batch, run_id):
    return record_done(raw, batch, run_id, "process_orders", "success", {"orders": 2})


def test_the_first_run_is_attempt_one_with_its_versions(registry, raw, batch):
    plan = run(registry, raw, "asset__1")
    assert (plan.attempt, plan.skipped, plan.duplicate_of) == (1, None, None)
    record = read_json(raw, attempt_key(batch, 1))
    assert record["status"] == "running" and record["code_version"] == V1.version
    assert record["content_hash"] == plan.versions["content_hash"] and len(record["content_hash"]) == 64
    assert read_json(raw, marker_key(batch, RUN_MARKER))["attempt"] == 1
    done = succeed(raw, batch, "asset__1")
    assert done["attempt"] == 1 and read_json(raw, attempt_key(batch, 1))["status"] == "success"


def test_a_retry_is_the_same_attempt_and_a_duplicate_event_does_nothing(registry, raw, batch):
    run(registry, raw, "asset__1")
    assert run(registry, raw, "asset__1").attempt == 1  # a task retry: same run, same clearing
    assert run(registry, raw, "asset__2").duplicate_of == "asset__1"
    assert len(list_attempts(raw, batch)) == 1


def test_a_cleared_run_with_unchanged_content_and_code_is_skipped_and_says_why(registry, raw, batch):
    run(registry, raw, "asset__1")
    succeed(raw, batch, "asset__1")
    plan = run(registry, raw, "asset__1", clear=1)
    assert plan.attempt == 2 and plan.skipped and "attempt 1" in plan.skipped and "--force" in plan.skipped
    assert read_json(raw, attempt_key(batch, 2))["status"] == "skipped"
    assert read_json(raw, marker_key(batch, RUN_MARKER))["attempt"] == 1, "a skip leaves the latest run as it was"
    assert run(registry, raw, "asset__1", clear=1).skipped, "a retry of the skipped attempt skips again"
    assert succeed(raw, batch, "asset__1")["status"] == "skipped"
    assert read_json(raw, marker_key(batch, DONE_MARKER))["attempt"] == 1


def test_changed_code_runs_a_new_attempt_recorded_beside_the_first(registry, raw, batch):
    run(registry, raw, "asset__1")
    succeed(raw, batch, "asset__1")
    plan = run(registry, raw, "asset__1", clear=1, code=V2)
    assert (plan.attempt, plan.skipped) == (2, None)
    assert read_json(raw, marker_key(batch, RUN_MARKER))["attempt"] == 2
    succeed(raw, batch, "asset__1")
    attempts = list_attempts(raw, batch)
    assert [(a["attempt"], a["status"], a["code_version"]) for a in attempts] == [
        (1, "success", V1.version),
        (2, "success", V2.version),
    ]
    assert read_json(raw, marker_key(batch, DONE_MARKER))["code_version"] == V2.version


def test_after_a_failure_the_same_content_and_code_run_again(registry, raw, batch):
    run(registry, raw, "asset__1")
    record_done(raw, batch, "asset__1", "process_orders", "failed", {})
    plan = run(registry, raw, "asset__1", clear=1)
    assert (plan.attempt, plan.skipped) == (2, None)


def test_a_request_lets_a_new_run_id_in_once_and_force_overrides_the_skip(registry, raw, batch):
    run(registry, raw, "asset__1")
    succeed(raw, batch, "asset__1")
    write_request(raw, batch, {"request_id": "r1", "requested_by": "ops", "reason": "model fix", "force": True})
    plan = run(registry, raw, "manual__1")
    assert (plan.attempt, plan.skipped) == (2, None), "force: unchanged, yet it runs"
    assert read_json(raw, attempt_key(batch, 2))["request_id"] == "r1"
    succeed(raw, batch, "manual__1")
    assert run(registry, raw, "manual__2").duplicate_of == "manual__1", "the request was taken up once"
    write_request(raw, batch, {"request_id": "r2", "requested_by": "ops", "reason": "again", "force": False})
    assert run(registry, raw, "manual__3").skipped, "without force, an unchanged batch is skipped"


def test_a_new_attempt_waits_while_another_run_of_the_batch_is_running(registry, raw, batch):
    run(registry, raw, "asset__1")
    write_request(raw, batch, {"request_id": "r1", "requested_by": "ops", "reason": "", "force": False})
    with pytest.raises(BatchBusyError, match=r"attempt 1 .*asset__1.* is still running"):
        run(registry, raw, "manual__1")


def test_a_batch_processed_before_attempts_existed(registry, raw, batch):
    """`_RUN.json`/`_DONE.json` alone (the earlier layout): attempt 1; a clearing adds attempt 2 beside it."""
    write_json(raw, marker_key(batch, RUN_MARKER), {"run_id": "old", "dag_id": "process_orders", "started_at": "x"})
    write_json(raw, marker_key(batch, DONE_MARKER), {"run_id": "old", "status": "success"})
    assert run(registry, raw, "other").duplicate_of == "old"
    assert run(registry, raw, "old").attempt == 1  # a retry of that very run
    plan = run(registry, raw, "old", clear=1)
    assert (plan.attempt, plan.skipped) == (2, None), "no versions were recorded then: never skipped"
    assert [a["attempt"] for a in list_attempts(raw, batch)] == [1, 2]


def test_without_a_code_version_nothing_is_skipped(registry, raw, batch):
    run(registry, raw, "asset__1", code=None)
    succeed(raw, batch, "asset__1")
    assert run(registry, raw, "asset__1", clear=1, code=None).skipped is None


def test_a_lost_create_only_race_reads_the_attempts_again(registry, raw, batch, monkeypatch):
    """Two runs asked for at once: one becomes attempt 2, the other sees it and is a duplicate."""
    run(registry, raw, "asset__1")
    succeed(raw, batch, "asset__1")
    write_request(raw, batch, {"request_id": "r1", "requested_by": "ops", "reason": "", "force": True})
    import airlock.processing as processing

    real = processing.list_attempts
    calls = {"n": 0}

    def racing(store, ref):
        seen = real(store, ref)
        calls["n"] += 1
        if calls["n"] == 1:  # the other run wins attempt 2 between our read and our write
            write_json(store, attempt_key(ref, 2), {**seen[0], "attempt": 2, "run_id": "manual__B",
                                                     "attempt_id": "manual__B#0", "request_id": "r1",
                                                     "status": "running"})  # fmt: skip
        return seen

    monkeypatch.setattr(processing, "list_attempts", racing)
    plan = run(registry, raw, "manual__A")
    assert plan.duplicate_of == "manual__B", "the request went to the winner; this run does nothing"


def test_status_shows_the_latest_attempt(registry, zone, raw, batch):
    from airlock.observability.status import collect_status

    def row():
        rows = collect_status(registry, zone.landing, raw, zone.quarantine, tenants=["acme"])
        return next(r for r in rows if r.dataflow == "orders")

    run(registry, raw, "asset__1")
    succeed(raw, batch, "asset__1")
    assert (row().state, row().attempt, row().label) == ("done", 1, "done")
    run(registry, raw, "asset__1", clear=1, code=V2)
    assert (row().label, row().run_id) == ("processing (attempt 2)", "asset__1"), "not the old outcome"
    record_done(raw, batch, "asset__1", "process_orders", "failed", {})
    assert row().label == "failed (attempt 2)"


def test_clearing_a_duplicate_run_does_nothing_unless_asked(registry, raw, batch):
    """Airflow's partition clear re-queues every run of the key, the duplicates too: only one re-runs."""
    run(registry, raw, "asset__1")
    succeed(raw, batch, "asset__1")
    assert run(registry, raw, "asset__2").duplicate_of == "asset__1"
    assert run(registry, raw, "asset__2", clear=1).duplicate_of == "asset__1"
    write_request(raw, batch, {"request_id": "r1", "requested_by": "ops", "reason": "", "force": True})
    assert run(registry, raw, "asset__1", clear=2).attempt == 2, "the owner's clearing takes the request"
    assert run(registry, raw, "asset__2", clear=2).duplicate_of == "asset__1"
