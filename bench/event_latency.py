"""event_latency: seconds from a batch's last upload to the start of its processing run.

Two configurations on the real local stack, in the same benchmark run:
- tuned (the kit's defaults): SQS long polling (10 s) and a 1 s delay after an empty poll;
- stock: MessageQueueTrigger's defaults for SQS (1 s poll, 60 s `waiter_delay` after an empty poll).
Each uploads BATCHES single-file batches, SPACING seconds apart (so runs do not queue behind each
other), and reads each processing run's `queued_at` (created) and `start_date` (started) from the
REST API. The reconcile sweep is pushed out to 1 h so that only the SQS path is measured, and
AIRLOCK_PROCESSING_MAX_ACTIVE_RUNS is raised so that a run's start measures the event path, not how
many earlier batches are still being processed (their tasks still queue for workers and the pool).
Target: tuned p50 <= 3 s (upload -> run start).
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from airlock.demo.runner import DAGS
from airlock.devstack.stack import LocalStack

BATCHES = 20
SPACING = 6.0
TARGET_P50 = 3.0
CONFIGS = {
    "tuned": {},
    "stock": {"AIRLOCK_WATCHER_WAITER_DELAY": "60", "AIRLOCK_WATCHER_LONG_POLL": "1"},
}
STOCK_BATCHES = 10


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 2)


def _measure(work: Path, name: str, env: dict[str, str], batches: int) -> dict[str, Any]:
    state = work / name
    extra = {
        "AIRLOCK_WAREHOUSE_DIR": str(state / "warehouse"),
        "AIRLOCK_RECONCILE_INTERVAL": "1h",
        "AIRLOCK_PROCESSING_MAX_ACTIVE_RUNS": str(batches + 4),
        **env,
    }
    with LocalStack(state, ["acme", "globex", "initech"], port=8790, extra_env=extra, wait_dags=DAGS) as stack:
        time.sleep(5)  # let the triggerer start its watchers
        bucket = stack.env["AIRLOCK_LANDING_URL"].removeprefix("s3://").split("/")[0]
        uploads: dict[str, float] = {}
        body = b"warehouse_id,sku,quantity,counted_at\nhq,sku-1,4,2026-11-22\n"
        for i in range(batches):
            batch = f"lat{i:03d}"
            stack.s3.put_object(Bucket=bucket, Key=f"initech/inventory/{batch}/stock_main.csv", Body=body)
            uploads[f"initech|{batch}"] = time.time()
            print(f"    [{name}] uploaded batch {i + 1}/{batches}", flush=True)
            time.sleep(SPACING)
        deadline = time.monotonic() + 300
        runs: dict[str, dict[str, Any]] = {}
        while time.monotonic() < deadline:
            runs = {
                r["partition_key"]: r
                for r in stack.api.dag_runs("process_inventory", limit=500)
                if r.get("partition_key") in uploads and r.get("start_date")
            }
            if len(runs) == len(uploads):
                break
            time.sleep(2)
    started = [datetime.fromisoformat(r["start_date"]).timestamp() - uploads[k] for k, r in runs.items()]
    queued = [
        datetime.fromisoformat(r["queued_at"]).timestamp() - uploads[k] for k, r in runs.items() if r.get("queued_at")
    ]
    shutil.rmtree(state, ignore_errors=True)
    return {
        "batches": batches,
        "runs_seen": len(runs),
        "start_p50_s": _pct(started, 0.5) if started else None,
        "start_p95_s": _pct(started, 0.95) if started else None,
        "created_p50_s": _pct(queued, 0.5) if queued else None,
        "created_p95_s": _pct(queued, 0.95) if queued else None,
        "start_mean_s": round(statistics.mean(started), 2) if started else None,
        "settings": env or "kit defaults",
    }


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        tuned = _measure(Path(tmp), "tuned", CONFIGS["tuned"], BATCHES)
        stock = _measure(Path(tmp), "stock", CONFIGS["stock"], STOCK_BATCHES)
    met = tuned["start_p50_s"] is not None and tuned["start_p50_s"] <= TARGET_P50 and tuned["runs_seen"] == BATCHES
    return {
        "tuned": tuned,
        "stock": stock,
        "spacing_s": SPACING,
        "target_met": met,
        "summary": f"upload->run start p50 {tuned['start_p50_s']}s / p95 {tuned['start_p95_s']}s over "
        f"{tuned['runs_seen']} batches (stock watcher: p50 {stock['start_p50_s']}s / p95 {stock['start_p95_s']}s)",
    }
