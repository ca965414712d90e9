"""event_scale: the event path at 10, 1,000 and 10,000 registered tenants, on a PostgreSQL metadata DB.

For each scale the real local stack runs (moto, scheduler, triggerer, DAG processor, API server;
Airflow's metadata in a throwaway PostgreSQL server, as on Astro and MWAA) with a synthetic registry:
standard-tier tenants, 1% dedicated. Measured per configuration:
- triggers running (rows of Airflow's `trigger` table once the watchers run);
- triggerer RSS, and its CPU seconds over one idle minute (all its processes);
- SQS requests in that idle minute, read from moto's own request recorder, and what a month of
  them costs at $0.40 per million (30 days);
- DAG-folder parse time (fresh process, as bench/tenant_scale.py measures it; median of 5, every
  configuration interleaved round by round after the stacks, so they share the machine's load drift);
- upload -> processing-run start, p50/p95 over 20 single-file batches of one standard tenant.

The shared-queue design (ADR 0010) runs at 10, 1,000 and 10,000 tenants; today's one-queue-per-tenant
design (bench/_per_tenant_landing.py: the stock MessageQueueTrigger per tenant) at 10 and 1,000, in
the same run. The reconcile sweep is pushed out to 1 h so that only events start batches.
Targets (issue 13): at 10,000 tenants at most 1 + dedicated triggers; idle SQS requests of the shared
stream independent of the tenant count; latency p50 <= 2 s; parse within 1.1x of 10 tenants.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from airlock.demo.runner import DAGS
from airlock.devstack.local_aws import free_port
from airlock.devstack.postgres import LocalPostgres
from airlock.devstack.stack import LocalStack
from airlock.settings import load_settings
from airlock.triggers.probe import wait_until_watched
from bench._parse import parse_in_fresh_process
from bench._per_tenant_baseline import baseline_dags, per_tenant_wiring

ROOT = Path(__file__).resolve().parents[1]
# AIRLOCK_BENCH_EVENT_SCALES=10 runs one scale (a smoke run of the bench itself).
SCALES = tuple(int(n) for n in os.environ.get("AIRLOCK_BENCH_EVENT_SCALES", "10,1000,10000").split(","))
BASELINE_SCALES = (10, 1_000)
DEDICATED_EVERY = 100  # 1% of the tenants are dedicated
BATCHES = 20
SPACING = 4.0
IDLE_SECONDS = 60
PARSE_REPEATS = 5
PRICE_PER_MILLION = 0.40
MINUTES_PER_MONTH = 30 * 24 * 60
BATCH_TENANT = "t00001"  # standard in every registry
STOCK = b"warehouse_id,sku,quantity,counted_at\nhq,sku-1,4,2026-11-22\n"
TARGET_P50 = 2.0
SQS_ACTIONS = frozenset(
    {
        "ReceiveMessage",
        "DeleteMessageBatch",
        "DeleteMessage",
        "ChangeMessageVisibility",
        "GetQueueAttributes",
        "SendMessage",
    }
)
TARGET_PARSE_GROWTH = 1.1


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 2)


# -- registry and wiring ----------------------------------------------------------------------------
def make_registry(folder: Path, count: int) -> tuple[Path, list[str], list[str]]:
    """`count` tenants shaped like the demo's initech; every 100th (t00050, t00150, ...) is dedicated."""
    tenants = folder / f"tenants_{count}"
    tenants.mkdir(parents=True)
    template = (ROOT / "dags" / "registry" / "tenants" / "initech.yaml").read_text()  # one file completes a batch
    ids, dedicated = [], []
    for i in range(count):
        tid = f"t{i:05d}"
        text = template.replace("tenant_id: initech", f"tenant_id: {tid}").replace("tenant_initech", f"tenant_{tid}")
        if i % DEDICATED_EVERY == DEDICATED_EVERY // 2:
            text = text.replace("isolation_tier: standard", "isolation_tier: dedicated")
            dedicated.append(tid)
        (tenants / f"{tid}.yaml").write_text(text)
        ids.append(tid)
    return tenants, ids, dedicated


# -- measurements -----------------------------------------------------------------------------------
def parse_env(design: str, tenants_dir: Path, dedicated: list[str]) -> dict[str, str]:
    """The settings a deployment of that design parses its DAGs with (AWS-style URLs: nothing is called)."""
    base = "https://sqs.eu-west-1.amazonaws.com/123456789012/airlock-prod"
    if design == "per_tenant_queue":
        return {
            "AIRLOCK_TENANTS_DIR": str(tenants_dir),
            "AIRLOCK_BASELINE_QUEUE_URL_TEMPLATE": base + "-{tenant}-landing",
        }
    return {
        "AIRLOCK_TENANTS_DIR": str(tenants_dir),
        "AIRLOCK_SHARED_QUEUE_URL": base + "-shared-landing",
        "AIRLOCK_QUEUE_URL_TEMPLATE": base + "-{tenant}-landing",
        "AIRLOCK_DEDICATED_TENANTS": ",".join(dedicated),
    }


def parse_once(dags: Path, env: Mapping[str, str], home: Path) -> float:
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRLOCK_")},
        **env,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "include"), str(dags)]),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "600",
        "AIRFLOW_HOME": str(home),
        "AIRLOCK_HOME": str(ROOT),
    }
    result = parse_in_fresh_process(dags, environ)
    return float(result["parse_s"])


def parse_times(work: Path, configs: list[tuple[str, int]]) -> dict[tuple[str, int], float]:
    """Median parse time per (design, tenants), the configurations interleaved round by round.

    Interleaved, with no stack running: on a shared machine the load drifts over the bench's hour,
    and each configuration's median then sees the same drift.
    """
    dags = {"shared_queue": ROOT / "dags", "per_tenant_queue": baseline_dags(work / "parse")}
    runs: dict[tuple[str, int], list[float]] = {c: [] for c in configs}
    for _ in range(PARSE_REPEATS):
        for design, count in configs:
            folder, _ids, dedicated = _reuse(work, count)
            env = parse_env(design, folder, dedicated)
            runs[(design, count)].append(parse_once(dags[design], env, work / "parse" / "home"))
    return {c: round(statistics.median(r), 3) for c, r in runs.items()}


def triggerer_tree(stack: LocalStack) -> list[psutil.Process]:
    managed = next(p for p in stack.supervisor.processes if p.name == "triggerer")
    root = psutil.Process(managed.pid)
    return [root, *root.children(recursive=True)]


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            continue
    return total


def rss_mib(procs: list[psutil.Process]) -> float:
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return round(total / 2**20, 1)


def recorded_requests(path: Path) -> Counter[str]:
    """moto's recorder file -> requests per `<service action> <queue name>` (SQS) or `<method> <path>`."""
    counts: Counter[str] = Counter()
    if not path.exists():
        return counts
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        headers = {k.lower(): v for k, v in entry.get("headers", {}).items()}
        target = headers.get("x-amz-target", "")
        if target.startswith("AmazonSQS."):
            body = entry.get("body") or ""
            if entry.get("body_encoded"):
                body = base64.b64decode(body).decode("utf-8", "replace")
            try:
                queue = json.loads(body).get("QueueUrl", "").rsplit("/", 1)[-1]
            except ValueError:
                queue = "?"
            counts[f"{target.removeprefix('AmazonSQS.')} {queue}"] += 1
        else:
            counts[f"{entry.get('method')} {entry.get('url', '').split('?')[0]}"] += 1
    return counts


def idle_minute(stack: LocalStack, recording: Path) -> dict[str, Any]:
    assert stack.endpoint_url is not None
    api = stack.endpoint_url + "/moto-api/recorder"
    httpx.post(f"{api}/reset-recording", timeout=10)
    procs = triggerer_tree(stack)
    cpu_before = cpu_seconds(procs)
    httpx.post(f"{api}/start-recording", timeout=10)
    time.sleep(IDLE_SECONDS)
    httpx.post(f"{api}/stop-recording", timeout=10)
    cpu = cpu_seconds(procs) - cpu_before
    counts = recorded_requests(recording)
    sqs = {k: v for k, v in counts.items() if k.split(" ")[0] in SQS_ACTIONS}
    per_minute = sum(sqs.values()) * 60 / IDLE_SECONDS
    shared = sum(v for k, v in sqs.items() if k.endswith("-shared-landing")) * 60 / IDLE_SECONDS
    return {
        "triggerer_cpu_s_per_idle_min": round(cpu * 60 / IDLE_SECONDS, 2),
        "triggerer_rss_mib": rss_mib(triggerer_tree(stack)),
        "sqs_requests_per_idle_min": round(per_minute, 1),
        "shared_queue_requests_per_idle_min": round(shared, 1),
        "queues_polled": len({k.split(" ", 1)[1] for k in sqs if k.startswith("ReceiveMessage")}),
        "sqs_monthly_cost_usd": round(per_minute * MINUTES_PER_MONTH / 1e6 * PRICE_PER_MILLION, 2),
        "other_requests": sum(v for k, v in counts.items() if k not in sqs),
    }


def latency(stack: LocalStack) -> dict[str, Any]:
    bucket = stack.env["AIRLOCK_LANDING_URL"].removeprefix("s3://")
    uploads: dict[str, float] = {}
    for i in range(BATCHES):
        batch = f"lat{i:03d}"
        stack.s3.put_object(Bucket=bucket, Key=f"{BATCH_TENANT}/inventory/{batch}/stock_main.csv", Body=STOCK)
        uploads[f"{BATCH_TENANT}|{batch}"] = time.time()
        time.sleep(SPACING)
    deadline = time.monotonic() + 600
    runs: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline and len(runs) < len(uploads):
        runs = {
            r["partition_key"]: r
            for r in stack.api.dag_runs("process_inventory", limit=500)
            if r.get("partition_key") in uploads and r.get("start_date")
        }
        time.sleep(2)
    started = [datetime.fromisoformat(r["start_date"]).timestamp() - uploads[k] for k, r in runs.items()]
    return {
        "batches": len(uploads),
        "runs_seen": len(runs),
        "start_p50_s": _pct(started, 0.5),
        "start_p95_s": _pct(started, 0.95),
    }


def wait_quiet(stack: LocalStack, timeout: float = 600) -> None:
    """No run of any DAG queued or running (the probe's router run, the first sweep): what an idle minute needs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not [r for state in ("queued", "running") for r in stack.api.dag_runs(state=state, limit=10)]:
            return
        time.sleep(2)


def measure(work: Path, pg: LocalPostgres, design: str, count: int) -> dict[str, Any]:
    name = f"{design}_{count}"
    print(f"    [{name}] registry of {count} tenants ...", flush=True)
    reuse = (work / f"tenants_{count}").exists()
    tenants_dir, ids, dedicated = _reuse(work, count) if reuse else make_registry(work, count)
    database = f"bench_{name}"
    pg.psql(f"CREATE DATABASE {database}")
    recording = work / f"{name}.recording"
    os.environ["MOTO_RECORDER_FILEPATH"] = str(recording)  # the moto server the stack starts inherits it
    extra = {
        "AIRLOCK_TENANTS_DIR": str(tenants_dir),
        "AIRLOCK_WAREHOUSE_DIR": str(work / name / "warehouse"),
        "AIRLOCK_RECONCILE_INTERVAL": "1h",
        "AIRLOCK_PROCESSING_MAX_ACTIVE_RUNS": str(BATCHES + 4),
    }
    if design == "per_tenant_queue" and count >= 1000:
        extra["AIRFLOW__TRIGGERER__CAPACITY"] = "1100"  # with the default 1,000 the model tasks never get a slot
    kwargs: dict[str, Any] = {}
    if design == "per_tenant_queue":
        kwargs = {"provision": per_tenant_wiring("local", ids), "dags_folder": baseline_dags(work / name)}
    started = time.monotonic()
    with LocalStack(
        work / name / "state",
        ids,
        port=free_port(),
        extra_env=extra,
        dedicated=dedicated,
        database_url=pg.sqlalchemy_url(database),
        wait_dags=DAGS,
        healthy_timeout=300,
        log=lambda _m: None,
        **kwargs,
    ) as stack:
        up = time.monotonic() - started
        settings = load_settings({**stack.env, "AIRLOCK_HOME": str(ROOT)})
        probe_queue = settings.shared_queue_url or stack.env["AIRLOCK_BASELINE_QUEUE_URL_TEMPLATE"].format(
            tenant=BATCH_TENANT
        )
        polled_after = wait_until_watched(stack.sqs, probe_queue, timeout=900, log=lambda _m: None)
        wait_quiet(stack)
        triggers = int(pg.psql("SELECT count(*) FROM trigger", database=database).strip())
        idle = idle_minute(stack, recording)
        lat = latency(stack)
    result = {
        "design": design,
        "tenants": count,
        "dedicated": len(dedicated) if design == "shared_queue" else 0,
        "stack_up_s": round(up, 1),
        "first_poll_after_s": round(polled_after, 1),
        "triggers_running": triggers,
        **idle,
        "latency": lat,
    }
    print(f"    [{name}] {result}", flush=True)
    shutil.rmtree(work / name, ignore_errors=True)
    return result


def _reuse(work: Path, count: int) -> tuple[Path, list[str], list[str]]:
    folder = work / f"tenants_{count}"
    ids = sorted(p.stem for p in folder.glob("*.yaml"))
    dedicated = [t for t in ids if "isolation_tier: dedicated" in (folder / f"{t}.yaml").read_text()]
    return folder, ids, dedicated


def run() -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-event-scale-") as tmp, LocalPostgres() as pg:
        work = Path(tmp)
        for count in SCALES:
            results.append(measure(work, pg, "shared_queue", count))
            if count in BASELINE_SCALES:
                results.append(measure(work, pg, "per_tenant_queue", count))
        parsed = parse_times(work, [(r["design"], r["tenants"]) for r in results])
    for r in results:
        r["parse_s"] = parsed[(r["design"], r["tenants"])]
    ours = {r["tenants"]: r for r in results if r["design"] == "shared_queue"}
    base = {r["tenants"]: r for r in results if r["design"] == "per_tenant_queue"}
    top, low = ours[max(SCALES)], ours[min(SCALES)]
    checks = {
        "triggers_at_10000": top["triggers_running"] <= 1 + top["dedicated"],
        "idle_shared_requests_flat": top["shared_queue_requests_per_idle_min"]
        <= 1.2 * max(low["shared_queue_requests_per_idle_min"], 1),
        "latency_p50": all((r["latency"]["start_p50_s"] or 1e9) <= TARGET_P50 for r in ours.values()),
        "parse_growth": top["parse_s"] <= TARGET_PARSE_GROWTH * low["parse_s"],
    }
    summary = "; ".join(
        f"{n}: {r['triggers_running']} triggers, {r['sqs_requests_per_idle_min']} SQS req/idle min "
        f"(${r['sqs_monthly_cost_usd']}/month), p50 {r['latency']['start_p50_s']}s"
        for n, r in sorted(ours.items())
    )
    summary += " | per-tenant queues: " + "; ".join(
        f"{n}: {r['triggers_running']} triggers, {r['sqs_requests_per_idle_min']} req/min, "
        f"p50 {r['latency']['start_p50_s']}s"
        for n, r in sorted(base.items())
    )
    return {
        "results": results,
        "checks": checks,
        "target_met": all(checks.values()),
        "settings": {"batches": BATCHES, "spacing_s": SPACING, "idle_s": IDLE_SECONDS, "metadata_db": "postgresql"},
        "summary": summary,
    }
