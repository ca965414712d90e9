"""Tenant batches per hour, end to end, for the inventory dataflow: 20 tenants deliver at once, per dbt mode.

Each phase starts the local stack (moto S3 + SQS, the real DAGs: router, reconcile, process_inventory;
scheduler, triggerer, DAG processor, API server) with N registered tenants, their asset watchers polling,
then uploads one batch for each of the first 20 tenants at once and times upload → every batch's
`_DONE.json` success (router, snapshot, claim, load, the dbt build, publish). Modes: `events` (the default:
one build task, one asset event per model), `tasks` (the same build plus one task per node in the
triggerer), `local` (Cosmos, one `dbt build` per model task). With 20 and 1,000 registered tenants: the
watchers share the triggerer with the model tasks, so their number is part of the cost. (The small phase
registers 20, not 10: the fewest that let 20 tenants deliver at once.)

Settings: AIRLOCK_BENCH_TENANTS (registered tenants per phase, default "20,1000"), AIRLOCK_BENCH_MODES
(default "events,tasks,local"), or AIRLOCK_BENCH_PHASES ("events@10,local@10,events@1000": chosen pairs
instead of every mode at every count), AIRLOCK_BENCH_DELIVERING (default 20), AIRLOCK_BENCH_THROUGHPUT_TIMEOUT
(per phase, default 1800 s). The watcher design measured is whatever the stack wires on this checkout; the result
says which (per-tenant queues, or a shared one).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TENANT_COUNTS = [int(n) for n in os.environ.get("AIRLOCK_BENCH_TENANTS", "20,1000").split(",") if n.strip()]
MODES = [m.strip() for m in os.environ.get("AIRLOCK_BENCH_MODES", "events,tasks,local").split(",") if m.strip()]
PHASES = [
    (mode.strip(), int(count))
    for mode, _, count in (p.partition("@") for p in os.environ.get("AIRLOCK_BENCH_PHASES", "").split(",") if p.strip())
] or [(mode, count) for count in TENANT_COUNTS for mode in MODES]
DELIVERING = int(os.environ.get("AIRLOCK_BENCH_DELIVERING", "20"))
TIMEOUT_S = int(os.environ.get("AIRLOCK_BENCH_THROUGHPUT_TIMEOUT", "1800"))
BATCH = "20261120"
TENANT_YAML = """tenant_id: {tenant}
name: Bench tenant {tenant}
isolation_tier: standard
warehouse_schema: tenant_{tenant}
dataflows:
  inventory:
    deadline: 1h
    files:
      - table: stock
        pattern: 'stock.csv'
        format: csv
        required: true
        max_bytes: 5MB
"""
MODE_ENV = {
    "events": {"AIRLOCK_DBT_MODE": "build", "AIRLOCK_DBT_MODEL_STATUS": "events"},
    "tasks": {"AIRLOCK_DBT_MODE": "build", "AIRLOCK_DBT_MODEL_STATUS": "tasks"},
    "local": {"AIRLOCK_DBT_MODE": "local"},
}


def _tenants(root: Path, count: int) -> list[str]:
    """`count` tenants delivering inventory (one exact file name: a batch is complete once it is in)."""
    root.mkdir(parents=True)
    ids = [f"t{i:04d}" for i in range(count)]
    for tenant in ids:
        (root / f"{tenant}.yaml").write_text(TENANT_YAML.format(tenant=tenant))
    return ids


def _stock_csv(tenant: str) -> bytes:
    rows = [f"w-{tenant},sku-{i:03d},{(i * 13) % 200},2026-11-20T06:00:00" for i in range(50)]
    return ("warehouse_id,sku,quantity,counted_at\n" + "\n".join(rows) + "\n").encode()


def _design(env: dict[str, str]) -> str:
    """Which event path the stack wired on this checkout (the figures depend on it)."""
    dedicated = [t for t in env.get("AIRLOCK_DEDICATED_TENANTS", "").split(",") if t]
    if env.get("AIRLOCK_SHARED_QUEUE_URL"):
        return f"one shared SQS queue for standard tenants + {len(dedicated)} dedicated queue(s) (ADR 0010)"
    if "{tenant}" in env.get("AIRLOCK_QUEUE_URL_TEMPLATE", ""):
        return "one SQS queue and one watcher per tenant (ADR 0002)"
    return "no queue (folder landing zone)"


def _phase(work: Path, count: int, mode: str) -> dict[str, Any]:
    from airlock.devstack.local_aws import free_port
    from airlock.devstack.stack import LocalStack
    from airlock.settings import load_settings
    from airlock.storage import open_storage, read_json
    from bench._stack_runs import BENCH_AIRFLOW_ENV, cpu_delta, cpu_seconds, log_lines, summarize_tasks, task_rows

    name = f"{mode}-{count}"
    tenants = _tenants(work / f"tenants-{name}", count)
    delivering = tenants[:DELIVERING]
    extra = {
        **BENCH_AIRFLOW_ENV,
        **MODE_ENV[mode],
        "AIRLOCK_TENANTS_DIR": str(work / f"tenants-{name}"),
        "AIRLOCK_DATAFLOWS_DIR": str(REPO / "dags" / "registry" / "dataflows"),
        "AIRLOCK_WAREHOUSE_DIR": str(work / f"warehouse-{name}"),
        "AIRLOCK_PROCESSING_MAX_ACTIVE_RUNS": str(DELIVERING),
    }
    figures: dict[str, Any] = {"registered_tenants": count, "delivering": len(delivering), "mode": mode}
    _progress(f"{name}: starting the stack with {count} registered tenants")
    started = time.perf_counter()
    messages: list[str] = []
    try:
        with LocalStack(
            work / f"stack-{name}",
            tenants,
            port=free_port(),
            extra_env=extra,
            wait_dags=["airlock_router", "airlock_reconcile", "process_inventory"],
            wait_watchers=True,
            healthy_timeout=900,
            log=messages.append,
        ) as stack:
            figures["stack_start_s"] = round(time.perf_counter() - started, 1)
            figures["watcher_design"] = _design(stack.env)
            figures["watchers"] = len(stack.airflow.watchers()) if stack.airflow else None
            settings = load_settings({**os.environ, **stack.env})
            raw = open_storage(settings.raw_url, stack.s3)  # the bench process has no Airflow connection
            bucket = settings.landing_url.removeprefix("s3://").split("/")[0]
            cpu_before = cpu_seconds(stack)
            _progress(f"{name}: stack up in {figures['stack_start_s']} s; {len(delivering)} tenants deliver now")
            upload_at = time.perf_counter()
            uploaded = datetime.now(UTC)
            for tenant in delivering:
                stack.s3.put_object(Bucket=bucket, Key=f"{tenant}/inventory/{BATCH}/stock.csv", Body=_stock_csv(tenant))
            done: dict[str, dict[str, Any]] = {}
            deadline = time.monotonic() + TIMEOUT_S
            while len(done) < len(delivering) and time.monotonic() < deadline:
                for tenant in delivering:
                    if tenant not in done:
                        marker = read_json(raw, f"{tenant}/inventory/{BATCH}/_DONE.json")
                        if marker and marker.get("status") in ("success", "failed"):
                            done[tenant] = marker
                            _progress(f"{name}: {len(done)}/{len(delivering)} batches done")
                time.sleep(1)
            elapsed = time.perf_counter() - upload_at
            runs = stack.api.dag_runs("process_inventory", limit=1000)
            db = stack.state_dir / "airflow" / "airflow.db"
            rows = task_rows(db, [r["dag_run_id"] for r in runs]) if runs else []
            latencies = [
                (datetime.fromisoformat(d["finished_at"]) - uploaded).total_seconds()
                for d in done.values()
                if d.get("finished_at")
            ]
            succeeded = sum(1 for d in done.values() if d.get("status") == "success")
            figures.update(
                {
                    "batches_done": len(done),
                    "batches_succeeded": succeeded,
                    "elapsed_s": round(elapsed, 1),
                    "batches_per_hour": round(succeeded / elapsed * 3600, 1) if succeeded else 0.0,
                    "latency_p50_s": round(statistics.median(latencies), 1) if latencies else None,
                    "latency_max_s": round(max(latencies), 1) if latencies else None,
                    "processing_runs": len(runs),
                    "task_instances_per_batch": round(len(rows) / max(1, len(runs)), 1),
                    "processing": summarize_tasks(rows, build_task="dbt_build"),
                    "cpu_s": cpu_delta(cpu_before, cpu_seconds(stack)),
                    "load_average_1m": round(os.getloadavg()[0], 2),
                    "complete": len(done) == len(delivering),
                }
            )
            if not figures["complete"] or succeeded < len(delivering):
                figures["log_lines"] = log_lines(stack.state_dir / "airflow" / "logs")
    except Exception as exc:  # a phase that cannot start says why; the others still run
        figures["error"] = f"{type(exc).__name__}: {str(exc)[:1500]}"
        figures["stack_messages"] = messages[-10:]
    _progress(f"{name}: {figures.get('batches_per_hour', figures.get('error'))} batches/h")
    return figures


def _progress(line: str) -> None:
    """Progress on stderr (a run takes ~40 min); stdout is the result's JSON."""
    print(f"[process_throughput] {line}", file=sys.stderr, flush=True)


def run() -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="airlock-bench-throughput-"))
    try:
        phases = [_phase(work, count, mode) for mode, count in PHASES]
        table = {
            f"{p['mode']}@{p['registered_tenants']}": p.get("batches_per_hour", p.get("error", "no result"))
            for p in phases
        }
        best = max((p for p in phases if p.get("complete")), key=lambda p: p.get("batches_per_hour", 0), default=None)
        return {
            "phases": phases,
            "batches_per_hour": table,
            "best_mode": best["mode"] if best else None,
            "summary": "; ".join(f"{k}: {v} batches/h" for k, v in table.items()),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, default=str))
