"""`airlock demo`: the whole flow on the embedded default, end to end, then a summary table.

Starts the local stack (moto S3+SQS and real Airflow processes), uploads the scenario's files,
waits with progress output until every batch is processed, checks the invariants (one snapshot
and one processing run per batch, the bad file in quarantine with its reason), prints the table,
stops every process, and ends with a line starting `demo ok:`.
"""

from __future__ import annotations

import json
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from airlock.demo.scenario import DemoBatch, DemoFile, Scenario, build_scenario
from airlock.devstack.processes import load_patience
from airlock.devstack.stack import LocalStack
from airlock.errors import AirlockError
from airlock.settings import load_settings, project_home
from airlock.snapshot import DONE_MARKER, MANIFEST, SNAPSHOT_MARKER
from airlock.storage import S3Storage, read_json
from airlock.tables import format_table

DAGS = ["airlock_router", "airlock_reconcile", "process_orders", "process_inventory"]
LATE_DELAY_SECONDS = 4.0
STALL_SECONDS = 180.0
"""Give up waiting only after this long without any progress (a run or task changing state)."""
SETTLE_SECONDS = 120.0


class DemoFailed(AirlockError):
    """An invariant of the demo did not hold; the message says which."""


@dataclass
class BatchResult:
    batch: DemoBatch
    last_upload: float = 0.0
    runs: list[dict[str, Any]] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    done: dict[str, Any] | None = None

    @property
    def run(self) -> dict[str, Any] | None:
        return self.runs[0] if self.runs else None

    @property
    def latency(self) -> float | None:
        if not self.run or not self.run.get("start_date"):
            return None
        return datetime.fromisoformat(self.run["start_date"]).timestamp() - self.last_upload


@dataclass
class DemoRun:
    """Drives one scenario against a started LocalStack; reused by the e2e test and the benchmark."""

    stack: LocalStack
    scenario: Scenario
    log: Callable[[str], None] = print
    results: dict[str, BatchResult] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.results = {b.batch.partition_key + "@" + b.batch.dataflow: BatchResult(b) for b in self.scenario.batches}
        self.landing_bucket = self.stack.env["AIRLOCK_LANDING_URL"].removeprefix("s3://").split("/")[0]
        self.raw_bucket = self.stack.env["AIRLOCK_RAW_URL"].removeprefix("s3://").split("/")[0]
        self.quarantine_bucket = self.stack.env["AIRLOCK_QUARANTINE_URL"].removeprefix("s3://").split("/")[0]

    def _result_for(self, file: DemoFile) -> BatchResult:
        return next(r for r in self.results.values() if file in r.batch.files)

    def _upload(self, file: DemoFile) -> None:
        self.stack.s3.put_object(Bucket=self.landing_bucket, Key=file.key, Body=file.body.encode())
        result = self._result_for(file)
        result.last_upload = max(result.last_upload, time.time())

    def _send_duplicate_notification(self, file: DemoFile) -> None:
        tenant = file.key.split("/")[0]
        queue = load_settings({**self.stack.env, "AIRLOCK_HOME": str(project_home())}).queue_url(tenant)
        record = {
            "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": self.landing_bucket}, "object": {"key": quote(file.key)}},
        }
        self.stack.sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"Records": [record]}))

    def upload(self) -> None:
        sc = self.scenario
        self.log(
            f"[demo] uploading {len(sc.shuffled) + 1} files for {len(sc.batches)} batches (shuffled, seed {sc.seed})"
        )
        for file in sc.shuffled:
            self._upload(file)
            self.log(f"[demo]   put {file.key}")
        if sc.duplicate_of:
            self._send_duplicate_notification(sc.duplicate_of)
            self.log(f"[demo]   duplicate notification for {sc.duplicate_of.key}")
        if sc.late:
            self.log(f"[demo]   holding back {sc.late.key} for {LATE_DELAY_SECONDS:.0f}s (a late file)")
            time.sleep(LATE_DELAY_SECONDS)
            self._upload(sc.late)
            self.log(f"[demo]   put {sc.late.key} (late)")

    def _runs(self) -> dict[str, list[dict[str, Any]]]:
        dataflows = sorted({b.batch.dataflow for b in self.scenario.batches})
        by_key: dict[str, list[dict[str, Any]]] = {}
        for flow in dataflows:
            for run in self.stack.api.dag_runs(f"process_{flow}", limit=200):
                by_key.setdefault(f"{run.get('partition_key')}@{flow}", []).append(run)
        return by_key

    def _busy_runs(self) -> list[dict[str, Any]]:
        """Runs of any DAG that are queued or running."""
        return [r for state in ("queued", "running") for r in self.stack.api.dag_runs(state=state, limit=100)]

    def settle(self, timeout: float = SETTLE_SECONDS) -> None:
        """Wait until the stack's start-up work is done, so the first batch does not queue behind it.

        S3 sends a test event to every queue it wires, and the watchers turn them into a router run;
        the reconcile sweep runs at start. Uploading while those run makes the first batches wait for
        their tasks (the latency the demo reports), so the demo waits for no run to be queued or running.
        """
        timeout *= load_patience()  # a deadline for an idle machine, stretched by the load
        started, last = time.monotonic(), 0.0
        while (elapsed := time.monotonic() - started) < timeout:
            busy = self._busy_runs()
            if not busy:
                if elapsed >= 1:
                    self.log(f"[demo] start-up runs finished after {elapsed:.0f}s")
                return
            if elapsed - last >= 3:
                self.log(f"[demo]   waiting for start-up runs ({elapsed:.0f}s): "
                         f"{', '.join(sorted(r['dag_id'] + ' ' + r['state'] for r in busy))}")  # fmt: skip
                last = elapsed
            time.sleep(0.5)
        raise DemoFailed(f"start-up runs still busy after {timeout:.0f}s: {[r['dag_run_id'] for r in busy]}")

    def _progress(self, runs: dict[str, list[dict[str, Any]]], pending: list[str]) -> tuple[Any, ...]:
        """What changes while the pending batches move on: their runs' states and tasks' states."""
        marks: list[Any] = []
        for key in pending:
            flow = key.split("@")[1]
            for run in runs.get(key, []):
                marks.append((run["dag_run_id"], run["state"]))
                if run["state"] in ("queued", "running"):
                    tasks = self.stack.api.task_instances(f"process_{flow}", run["dag_run_id"])
                    marks += sorted((t["task_id"], t["state"] or "") for t in tasks)
        return tuple(marks)

    def wait(self, stall: float = STALL_SECONDS) -> None:
        """Wait until every batch is processed, as long as something progresses.

        A busy machine only makes the wait longer: the demo gives up after `stall` seconds in which no
        run or task changed state, and then says what each pending batch's run was doing.
        """
        expected = [k for k, r in self.results.items() if r.batch.expect == "processed"]
        stall *= load_patience()
        last_line, mark, moved = "", (), time.monotonic()
        while True:
            runs = self._runs()
            done = [k for k in expected if any(r["state"] == "success" for r in runs.get(k, []))]
            failed = [k for k in expected if any(r["state"] == "failed" for r in runs.get(k, []))]
            line = f"[demo] {len(done)}/{len(expected)} batches processed" + (f", failed: {failed}" if failed else "")
            if line != last_line:
                self.log(line)
                last_line = line
            if failed:
                raise DemoFailed(f"processing failed for {failed}: see the run logs in the Airflow UI")
            if len(done) == len(expected):
                break
            pending = [k for k in expected if k not in done]
            if (now_mark := (len(done), self._progress(runs, pending))) != mark:
                mark, moved = now_mark, time.monotonic()
            elif time.monotonic() - moved > stall:
                raise DemoFailed(
                    f"no progress for {stall:.0f}s; processed {done} of {expected}; {self._diagnose(runs, pending)}"
                )
            time.sleep(1.0)
        self.quiesce()
        runs = self._runs()
        for key, result in self.results.items():
            result.runs = runs.get(key, [])

    def quiesce(self, timeout: float = SETTLE_SECONDS) -> None:
        """Wait until every hint is consumed and routed: the invariant check must see duplicates' effects."""
        # Every queue of the local endpoint but the dead-letter ones: per-tenant or shared, whatever the wiring.
        listed = self.stack.sqs.list_queues().get("QueueUrls", [])
        queues = [q for q in listed if "dlq" not in q.rsplit("/", 1)[-1].lower()]
        timeout *= load_patience()
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            waiting = {
                q.rsplit("/", 1)[-1]: n
                for q in queues
                if (n := sum(int(v) for v in self.stack.sqs.get_queue_attributes(
                    QueueUrl=q, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
                )["Attributes"].values()))
            }  # fmt: skip
            routing = [r for r in self._busy_runs() if r["dag_id"] == "airlock_router"]
            if not waiting and not routing:
                return
            time.sleep(0.5)
        raise DemoFailed(f"hints still unrouted after {timeout:.0f}s: queues {waiting}, router runs {routing}")

    def _diagnose(self, runs: dict[str, list[dict[str, Any]]], pending: list[str]) -> str:
        """What the pending batches' runs are doing, task by task: the first thing to read on a timeout."""
        notes = []
        for key in pending:
            flow = key.split("@")[1]
            for run in runs.get(key, []):
                tasks = self.stack.api.task_instances(f"process_{flow}", run["dag_run_id"])
                states = ", ".join(f"{t['task_id']}={t['state']}" for t in tasks)
                notes.append(f"{key} run {run['dag_run_id']} {run['state']}: {states}")
            if not runs.get(key):
                notes.append(f"{key}: no processing run was created")
        return "; ".join(notes)

    def _read(self, bucket: str, key: str) -> dict[str, Any] | None:
        return read_json(S3Storage(bucket, client=self.stack.s3), key)

    def collect(self) -> None:
        for result in self.results.values():
            prefix = result.batch.batch.raw_prefix
            listing = self.stack.s3.list_objects_v2(Bucket=self.raw_bucket, Prefix=prefix).get("Contents", [])
            result.snapshots = sorted(
                {o["Key"][len(prefix) :].split("/")[0] for o in listing if o["Key"].endswith("/" + MANIFEST)}
            )
            claim = self._read(self.raw_bucket, prefix + SNAPSHOT_MARKER)
            if claim:
                result.manifest = self._read(self.raw_bucket, f"{prefix}{claim['snapshot_ts']}/{MANIFEST}")
            result.done = self._read(self.raw_bucket, prefix + DONE_MARKER)

    def check(self) -> list[str]:
        """The invariants; returns the quarantine keys of the bad file (with its reason)."""
        for key, result in self.results.items():
            want = 1 if result.batch.expect == "processed" else 0
            if len(result.snapshots) != want:
                raise DemoFailed(f"{key}: expected {want} snapshot(s), found {result.snapshots}")
            if len(result.runs) != want:
                raise DemoFailed(f"{key}: expected {want} processing run(s), found {len(result.runs)}")
        bad = self.scenario.bad
        if bad is None:
            return []
        listing = self.stack.s3.list_objects_v2(Bucket=self.quarantine_bucket).get("Contents", [])
        reasons = [o["Key"] for o in listing if o["Key"].endswith(".reason.json") and bad.key in o["Key"]]
        if not reasons:
            raise DemoFailed(f"{bad.key} is not in quarantine")
        return reasons

    def rows(self) -> list[list[str]]:
        table = []
        for result in self.results.values():
            b = result.batch.batch
            manifest, run = result.manifest, result.run
            rows_loaded = sum((result.done or {}).get("rows_loaded", {}).values()) if result.done else 0
            latency = result.latency
            table.append(
                [
                    b.tenant_id,
                    b.dataflow,
                    b.batch_id,
                    str(len(manifest["files"])) if manifest else str(len(result.batch.files)),
                    f"s3://{self.raw_bucket}/{b.raw_prefix}{manifest['snapshot_ts']}/" if manifest else "-",
                    str(rows_loaded),
                    run["state"] if run else result.batch.expect,
                    f"{latency:.1f}" if latency is not None else "-",
                ]
            )
        return table


def run_demo(
    state_dir: Path,
    *,
    port: int = 8080,
    seed: int = 20261121,
    infra: str = "devstack",
    log: Callable[[str], None] = print,
    extra_env: dict[str, str] | None = None,
) -> int:
    """Run the demo; `infra="terraform"` provisions the local endpoint with Terraform's envs/local.

    `extra_env` points the stack elsewhere, e.g. at a PostgreSQL warehouse (`airlock demo --warehouse postgres`).
    """
    if state_dir.exists():
        shutil.rmtree(state_dir)
    scenario = build_scenario(seed)
    tenants = sorted({b.batch.tenant_id for b in scenario.batches})
    started = time.monotonic()
    extra_env = {"AIRLOCK_WAREHOUSE_DIR": str(state_dir / "warehouse"), **(extra_env or {})}
    provision = None
    if infra == "terraform":
        from airlock.infra import apply_local

        def provision(endpoint_url: str) -> dict[str, str]:
            log("[demo] provisioning the local endpoint with Terraform (envs/local) ...")
            return apply_local(endpoint_url, work_dir=state_dir / "terraform", echo=log)

    with LocalStack(
        state_dir,
        tenants,
        port=port,
        extra_env=extra_env,
        wait_dags=DAGS,
        wait_watchers=True,
        provision=provision,
        log=log,
    ) as stack:
        log(f"[demo] Airflow is up at {stack.url} ({stack.timings.get('total', 0):.0f}s)")
        demo = DemoRun(stack, scenario, log=log)
        demo.settle()
        demo.upload()
        demo.wait()
        demo.collect()
        quarantined = demo.check()
        headers = ["tenant", "dataflow", "batch", "files", "snapshot", "rows", "status", "upload→run s"]
        log("")
        log(format_table(headers, demo.rows()))
        log("")
        for key in quarantined:
            reason = demo._read(demo.quarantine_bucket, key) or {}
            log(f"[demo] quarantined {reason.get('original_key')}: {reason.get('reason')} ({reason.get('detail')})")
        latencies = [r.latency for r in demo.results.values() if r.latency is not None]
    elapsed = time.monotonic() - started
    p50 = statistics.median(latencies) if latencies else float("nan")
    log(
        f"demo ok: {len(latencies)} batches processed exactly once, {len(quarantined)} file quarantined, "
        f"upload→run p50 {p50:.1f}s, {elapsed:.0f}s in all"
    )
    return 0
