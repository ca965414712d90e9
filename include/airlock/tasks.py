"""Task bodies of the kit's DAGs: read settings, call the package, talk to Airflow.

This is the only module that knows about the task context; everything it calls is plain Python,
tested without a scheduler. The DAG files under dags/ only wire these functions into tasks.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airlock.assets import landing_inlet
from airlock.emissions import InletEventLedger, emit
from airlock.events import ObjectHint, parse_trigger_extras
from airlock.intake import Intake, IntakeFailed, IntakeReport, unknown_prefix_sweep_due
from airlock.landing import BatchRef
from airlock.lifecycle.offboard import stopped_tenants
from airlock.lifecycle.versions import run_code_version
from airlock.metrics import metrics
from airlock.observability.logs import batch_context
from airlock.observability.status import emit_status_metrics, status_from_settings
from airlock.processing import RunPlan, plan_run, record_done
from airlock.settings import Settings, load_settings
from airlock.snapshot import read_claim, read_manifest
from airlock.storage import open_storage
from airlock.tenants import Registry, load_registry
from airlock.warehouse import load_snapshot, load_warehouse_config

log = logging.getLogger(__name__)


def _registry(settings: Settings, tenants: Iterable[str] | None = None) -> Registry:
    """The registry for a task: of `tenants` alone when the task serves only those (see load_registry).

    Not strict: a tenant whose file is invalid is disabled (Registry.disabled), the others work.
    """
    return load_registry(settings.tenants_dir, settings.dataflows_dir, strict=False, only=tenants)


def _hinted_tenants(hints: Iterable[ObjectHint]) -> set[str]:
    """The tenant ids the hints' keys sit under, and their near forms (`Acme/` -> `acme`: the quarantine
    reason then names the tenant the uploader probably meant)."""
    firsts = {hint.key.partition("/")[0] for hint in hints}
    return firsts | {first.strip().lower() for first in firsts}


def _intake(settings: Settings, registry: Registry, owner: str, inlet_events: Any = None) -> Intake:
    raw = open_storage(settings.raw_url)
    return Intake(
        registry,
        open_storage(settings.landing_url),
        raw,
        open_storage(settings.quarantine_url),
        snapshot_grace=settings.snapshot_grace,
        emit_ttl=settings.emit_ttl,
        settle_wait=settings.settle_wait,
        owner=owner,
        ledger=InletEventLedger(inlet_events, registry) if inlet_events is not None else None,
        tenant_key=settings.tenant_key,
        stopped=stopped_tenants(raw),
    )


def _emit(report: IntakeReport, registry: Registry, outlet_events: Any, task: Any = None) -> None:
    """One partitioned asset event per newly complete batch, and no event at all for the others."""
    emit(report, registry, outlet_events, task)


def _summary(report: IntakeReport, **extra: Any) -> dict[str, Any]:
    """The run's XCom, and its verdict: failures that stopped everything fail the task (so it retries).

    A run that emitted something succeeds even if a tenant failed: failing it would drop the other
    tenants' events with it. The failure is logged, counted and alerted (airlock.intake.errors).
    """
    states: dict[str, int] = {}
    for outcome in report.outcomes:
        states[outcome.state] = states.get(outcome.state, 0) + 1
    summary = {
        "emitted": report.partition_keys,
        "quarantined": report.quarantined,
        "after_snapshot": report.after_snapshot,
        "batch_states": states,
        "failures": [f"{f.tenant_id}/{f.dataflow} {f.stage}: {f.error}" for f in report.failures],
        "disabled_tenants": report.disabled,
        **extra,
    }
    if report.failures and not report.partition_keys:
        raise IntakeFailed(f"{len(report.failures)} failure(s), nothing emitted:\n" + "\n".join(summary["failures"]))
    return summary


def route(
    triggering_asset_events: Any, outlet_events: Any, owner: str, inlet_events: Any = None, task: Any = None
) -> dict[str, Any]:
    """Router: turn the SQS hints behind this run into snapshots and processing events.

    `owner` is `<dag_id>/<run_id>`: a retry of this task re-emits what an earlier try committed.
    """
    settings = load_settings()
    parsed = parse_trigger_extras(landing_extras(triggering_asset_events, inlet_events))
    registry = _registry(settings, _hinted_tenants(parsed.hints) if parsed.hints else None)
    intake = _intake(settings, registry, owner, inlet_events)
    if parsed.hints:
        report = intake.handle_hints(parsed.unique_hints())
    else:
        log.info("no hints in this run's events (manual trigger or test events): sweeping instead")
        report = intake.sweep()
    _emit(report, registry, outlet_events, task)
    return _summary(
        report,
        hints=len(parsed.hints),
        rejected_messages=[r.reason for r in parsed.rejected],
        test_events=parsed.test_events,
        settling=sorted(ref.partition_key for ref in report.settling),
    )


STRANDED_EVENTS_LIMIT = 1000
"""At most this many landing events recorded after a run's own are read by it (one API call)."""


def landing_extras(triggering_asset_events: Any, inlet_events: Any) -> list[Any]:
    """The `extra` of this run's landing events, and of any recorded after the newest of them.

    Why the second part: the scheduler (Airflow 3.3) creates an asset-triggered run from the asset's
    queue row, then deletes that row. Events stored in between, as in a burst of uploads where the
    watcher stores one event per message, are consumed by no run and wait for the next upload or the
    sweep (the family of apache/airflow#56050): in the demo, complete batches waited 4 s for a late
    file of another tenant. Reading them here costs one call to the execution API. A later run that
    consumes them again finds their batches handled (hints are idempotent). A run without landing
    events (manual, test) reads nothing more.
    """
    events = [event for group in (triggering_asset_events or {}).values() for event in group]
    extras = [event.extra for event in events]
    stamps = [event.timestamp for event in events if getattr(event, "timestamp", None) is not None]
    if not stamps or inlet_events is None:
        return extras
    try:
        later = inlet_events[landing_inlet()].after(max(stamps).isoformat()).limit(STRANDED_EVENTS_LIMIT)
        extras += [event.extra for event in later]
    except Exception as exc:  # the landing asset is not an inlet, or the API failed: the sweep covers it
        log.warning("cannot read landing events recorded after this run's (%s): the sweep covers them", exc)
    return extras


def reconcile(outlet_events: Any, owner: str, inlet_events: Any = None, task: Any = None) -> dict[str, Any]:
    """Reconcile sweep: the landing zone is the truth, so catch whatever hints were lost.

    Every `AIRLOCK_UNKNOWN_PREFIX_SWEEP` it also quarantines what lies under no tenant's prefix.
    """
    settings = load_settings()
    registry = _registry(settings)
    unknown = unknown_prefix_sweep_due(datetime.now(UTC), settings.unknown_prefix_sweep, settings.reconcile_interval)
    report = _intake(settings, registry, owner, inlet_events).sweep(unknown_prefixes=unknown)
    _emit(report, registry, outlet_events, task)
    late = [o.batch.partition_key for o in report.outcomes if o.state == "late"]
    try:
        # Freshness and late-batch gauges for every tenant x dataflow, so a tenant that stops
        # delivering shows a growing freshness series rather than "no data".
        emit_status_metrics(status_from_settings(registry, attention=False), metrics)
    except Exception:  # the gauges must never cost the sweep its events
        log.exception("could not compute the status gauges")
    return _summary(report, late=late, unknown_prefixes_swept=unknown)


def claim(
    dataflow: str, partition_key: str | None, run_id: str, dag_id: str, run_start: datetime | None = None
) -> dict[str, Any]:
    """Verify the partition key and claim the batch; a duplicate run skips everything after it.

    `claimed_at` marks this claim: a retried or cleared dbt build resumes only the nodes it has not built
    under the same claim (airlock.transform.state); a re-run from the claim builds from scratch.
    """
    from airflow.exceptions import AirflowSkipException

    settings = load_settings()
    registry = _registry(settings, [partition_key.partition("|")[0]] if partition_key else None)
    raw = open_storage(settings.raw_url)
    code = run_code_version(settings, registry, dataflow, raw)
    plan = plan_run(partition_key, dataflow, registry, raw, run_id, dag_id, clear_number=_clear_number(), code=code)
    if plan.duplicate_of:
        raise AirflowSkipException(f"batch {partition_key} is already handled by run {plan.duplicate_of}")
    if plan.skipped:
        raise AirflowSkipException(f"batch {partition_key} attempt {plan.attempt} skipped: {plan.skipped}")
    if run_start:
        tenant_metrics = metrics.for_tenant(plan.batch.tenant_id, dataflow)
        tenant_metrics.run_started_after(plan.manifest.get("last_arrival"), run_start)
    return {**plan.as_xcom(), "claimed_at": datetime.now(UTC).isoformat()}


def _clear_number() -> int:
    """How many times Airflow cleared this run (0 for its first go): a cleared run is a new attempt."""
    from airflow.sdk import get_current_context

    try:
        return int(getattr(get_current_context().get("dag_run"), "clear_number", 0) or 0)
    except RuntimeError:  # called outside a task (tests, a shell): never cleared
        return 0


def _plan(settings: Settings, registry: Registry, xcom: dict[str, Any]) -> RunPlan:
    batch = BatchRef(xcom["tenant_id"], xcom["dataflow"], xcom["batch_id"])
    raw = open_storage(settings.raw_url)
    manifest = read_manifest(raw, batch)
    claim_doc = read_claim(raw, batch)
    assert manifest is not None and claim_doc is not None  # the claim task verified both
    return RunPlan(batch, xcom["tenant_schema"], claim_doc["snapshot_ts"], manifest)


def load(xcom: dict[str, Any]) -> dict[str, int]:
    """Load the snapshot into the tenant's raw tables on the configured warehouse (AIRLOCK_WAREHOUSE).

    One transaction replaces the batch's rows, so a retry changes nothing; a failure raises the warehouse's
    own message (the run fails and `record_failure` marks the batch failed).
    """
    settings = load_settings()
    registry = _registry(settings, [xcom["tenant_id"]])
    plan = _plan(settings, registry, xcom)
    with (
        batch_context(xcom["tenant_id"], xcom["dataflow"], xcom["batch_id"]),
        tempfile.TemporaryDirectory(prefix=f"airlock-{plan.batch.tenant_id}-") as workdir,
    ):
        config = load_warehouse_config(settings)
        return load_snapshot(plan, registry, open_storage(settings.raw_url), config, Path(workdir))


def publish(xcom: dict[str, Any], rows: dict[str, int], run_id: str, dag_id: str) -> dict[str, Any]:
    """Record the batch as done (`_DONE.json`) and report freshness."""
    settings = load_settings()
    batch = BatchRef(xcom["tenant_id"], xcom["dataflow"], xcom["batch_id"])
    done = record_done(open_storage(settings.raw_url), batch, run_id, dag_id, "success", rows)
    tenant_metrics = metrics.for_tenant(batch.tenant_id, batch.dataflow)
    tenant_metrics.batch_processed(success=True)
    tenant_metrics.freshness(0)
    return done


def failure_recorder(dataflow: str) -> Callable[[Mapping[str, Any]], None]:
    """The `on_failure_callback` of a processing DAG's tasks: a task that fails for good records the batch.

    A callback, not a task: a task with trigger rule one_failed was the DAG's only leaf, so a failed batch
    showed as a green run, and a successful one carried a skipped task. It runs in the failed task's own
    process (or, if that process died, wherever Airflow runs the task's callbacks).
    """

    def record(context: Mapping[str, Any]) -> None:
        dag_run = context.get("dag_run")
        record_failure(
            dataflow,
            getattr(dag_run, "partition_key", None),
            str(getattr(dag_run, "run_id", "")),
            str(getattr(context.get("dag"), "dag_id", "")),
        )

    return record


def record_failure(dataflow: str, partition_key: str | None, run_id: str, dag_id: str) -> None:
    """Record a failed run in `_DONE.json`, so status views show it without asking Airflow."""
    settings = load_settings()
    if not partition_key or partition_key.count("|") != 1:
        return
    tenant_id, batch_id = partition_key.split("|")
    batch = BatchRef(tenant_id, dataflow, batch_id)
    raw = open_storage(settings.raw_url)
    if read_claim(raw, batch) is None:
        return  # a forged or unknown key: nothing of ours to mark
    record_done(raw, batch, run_id, dag_id, "failed", {})
    metrics.for_tenant(batch.tenant_id, batch.dataflow).batch_processed(success=False)
    log.info("recorded batch %s of %s as failed (run %s)", partition_key, dataflow, run_id)
