"""sweep_scale: what one reconcile sweep costs with 1,000, 10,000 and 100,000 objects stored, 10 of them new.

The sweep runs the kit's code (`Intake.sweep(unknown_prefixes=True)`, as the reconcile DAG calls it)
against moto's S3 over HTTP (`moto.server.ThreadedMotoServer` on 127.0.0.1), and every S3 request
it makes is counted through a botocore hook. Two states of the same data are measured:

- inbox (the kit's steady state): the stored objects belong to batches already snapshotted and
  claimed by processing, so the kit has handed them over to their snapshots: they are in the raw
  bucket, and landing holds only the 10 new files (one batch). This is the target's measurement.
- retained (landing still holds the handled files, as the previous version left them for 30 days,
  or right after upgrading): the first sweep hands them over, which is a one-off cost that grows
  with N; the next sweep, with 10 new files, is back to the inbox cost. Measured at 1,000 and
  10,000 only: moto lists a bucket in time that grows with its size on every page, so 100,000
  retained objects take minutes of moto's time (real S3 pages 1,000 keys per request).

The stored objects are written straight into moto's backend (writing 100,000 through HTTP costs
minutes and is not what is measured); the sweep's own requests all go over HTTP.
Target: in the inbox state, a sweep at 100,000 stored objects makes no more than 2x the requests
and uses no more than 2x the CPU time of one at 1,000.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx

from airlock.devstack.local_aws import free_port
from airlock.intake import Intake
from airlock.storage import S3Storage
from airlock.tenants import load_registry

ROOT = Path(__file__).resolve().parents[1]
SIZES = (1_000, 10_000, 100_000)
RETAINED_SIZES = (1_000, 10_000)
NEW_FILES = 10
FILES_PER_BATCH = 10
TARGET = 2.0
STOCK = b"warehouse_id,sku,quantity,counted_at\nw1,s1,3,2026-11-20\n"
BENCH_TENANT = f"""tenant_id: bench
name: Bench
warehouse_schema: tenant_bench
dataflows:
  inventory:
    files:
      - table: stock
        pattern: 'part_*.csv'
        format: csv
    completion: {{rule: count, expected: {{stock: {FILES_PER_BATCH}}}}}
"""


class Requests:
    """Counts S3 API calls made through one boto3 client, by operation."""

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        client.meta.events.register("before-call.s3", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def take(self) -> dict[str, int]:
        taken = dict(self.calls)
        self.calls.clear()
        return taken


class Moto:
    """A moto server in this process; `backend` writes objects without HTTP (for filling only)."""

    def __init__(self) -> None:
        from moto.backends import get_backend
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.server.start()
        self.client = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        # moto's backends live in the process: forget the previous measurement's buckets
        httpx.post(f"http://127.0.0.1:{port}/moto-api/reset", timeout=30).raise_for_status()
        self.backend = get_backend("s3")["123456789012"]["global"]

    def stop(self) -> None:
        self.server.stop()


def _batch_objects(batch: str, snapshot_ts: str, created: datetime) -> dict[str, bytes]:
    """A handled batch as the kit leaves it in raw: claim, copies, manifest, emission, run and done markers."""
    prefix = f"bench/inventory/{batch}/"
    files = [f"part_{i:02d}.csv" for i in range(FILES_PER_BATCH - 5)]
    manifest = {
        "tenant_id": "bench",
        "dataflow": "inventory",
        "batch_id": batch,
        "snapshot_ts": snapshot_ts,
        "created_at": created.isoformat(),
        "files": [],
        "control_files": [],
    }
    objects = {f"{prefix}{snapshot_ts}/{f}": STOCK for f in files}
    claim = {"snapshot_ts": snapshot_ts, "created_at": created.isoformat()}
    objects[f"{prefix}_SNAPSHOT.json"] = json.dumps(claim).encode()
    objects[f"{prefix}{snapshot_ts}/_MANIFEST.json"] = json.dumps(manifest).encode()
    for marker in ("_EMITTED.json", "_RUN.json", "_DONE.json"):
        objects[f"{prefix}{marker}"] = b"{}"
    return objects


def _fill_inbox(moto: Moto, stored: int) -> None:
    """`stored` objects of handled batches in raw; nothing of them in landing."""
    created = datetime.now(UTC) - timedelta(days=1)
    written = 0
    while written < stored:
        batch = f"h{written // FILES_PER_BATCH:07d}"
        for key, body in _batch_objects(batch, "20261120T000000000000Z", created).items():
            moto.backend.put_object("bench-raw", key, body)
            written += 1


def _fill_retained(moto: Moto, stored: int) -> None:
    """`stored` landing objects of batches snapshotted and claimed by processing (raw markers present)."""
    created = datetime.now(UTC) - timedelta(days=1)
    entries: dict[str, list[dict[str, Any]]] = {}
    for i in range(stored):
        batch = f"r{i // FILES_PER_BATCH:07d}"
        key = f"bench/inventory/{batch}/part_{i % FILES_PER_BATCH:02d}.csv"
        obj = moto.backend.put_object("bench-landing", key, STOCK)
        entries.setdefault(batch, []).append(
            {"file": key.rsplit("/", 1)[1], "landing_key": key, "landing_etag": obj.etag, "size": len(STOCK)}
        )
    for batch, files in entries.items():
        prefix = f"bench/inventory/{batch}/"
        ts = "20261120T000000000000Z"
        claim = {"snapshot_ts": ts, "created_at": created.isoformat()}
        manifest = {"snapshot_ts": ts, "created_at": created.isoformat(), "files": files, "control_files": []}
        moto.backend.put_object("bench-raw", f"{prefix}_SNAPSHOT.json", json.dumps(claim).encode())
        moto.backend.put_object("bench-raw", f"{prefix}{ts}/_MANIFEST.json", json.dumps(manifest).encode())
        moto.backend.put_object("bench-raw", f"{prefix}_RUN.json", b"{}")


def _upload_new(moto: Moto, batch: str) -> None:
    for i in range(NEW_FILES):
        moto.client.put_object(Bucket="bench-landing", Key=f"bench/inventory/{batch}/part_{i:02d}.csv", Body=STOCK)


def _sweep(intake: Intake, requests: Requests) -> dict[str, Any]:
    requests.take()
    wall, cpu = time.perf_counter(), time.process_time()
    report = intake.sweep(unknown_prefixes=True)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    calls = requests.take()
    if report.failures:
        raise RuntimeError(f"the sweep failed: {report.failures}")
    return {
        "requests": sum(calls.values()),
        "by_operation": calls,
        "seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "emitted": len(report.partition_keys),
        "handed_over": sum(1 for o in report.outcomes if o.state == "handed_over"),
    }


def _measure(registry: Any, state: str, stored: int) -> dict[str, Any]:
    moto = Moto()
    try:
        for name in ("landing", "raw", "quarantine"):
            moto.client.create_bucket(Bucket=f"bench-{name}")
        (_fill_inbox if state == "inbox" else _fill_retained)(moto, stored - NEW_FILES)
        stores = [S3Storage(f"bench-{name}", client=moto.client) for name in ("landing", "raw", "quarantine")]
        requests = Requests(moto.client)
        intake = Intake(registry, *stores)
        _upload_new(moto, "new0001")
        first = _sweep(intake, requests)
        result: dict[str, Any] = {"stored": stored, "new": NEW_FILES, "sweep": first}
        if state == "retained":  # the catch-up is done: the next sweep with 10 new files
            _upload_new(moto, "new0002")
            result["next_sweep"] = _sweep(intake, requests)
        assert first["emitted"] == 1, first
        return result
    finally:
        moto.stop()


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        tenants = Path(tmp) / "tenants"
        tenants.mkdir()
        (tenants / "bench.yaml").write_text(BENCH_TENANT)
        registry = load_registry(tenants, ROOT / "dags" / "registry" / "dataflows")
        inbox = {}
        for size in SIZES:
            print(f"    inbox: {size:,} stored, {NEW_FILES} new", flush=True)
            inbox[size] = _measure(registry, "inbox", size)
        retained = {}
        for size in RETAINED_SIZES:
            print(f"    retained: {size:,} in landing, {NEW_FILES} new", flush=True)
            retained[size] = _measure(registry, "retained", size)
    small, big = inbox[SIZES[0]]["sweep"], inbox[SIZES[-1]]["sweep"]
    request_ratio = big["requests"] / small["requests"]
    cpu_ratio = big["cpu_seconds"] / max(small["cpu_seconds"], 1e-3)
    return {
        "inbox": inbox,
        "retained": retained,
        "request_ratio_100k_vs_1k": round(request_ratio, 2),
        "cpu_ratio_100k_vs_1k": round(cpu_ratio, 2),
        "target": f"requests and CPU at 100,000 stored <= {TARGET}x those at 1,000",
        "target_met": request_ratio <= TARGET and cpu_ratio <= TARGET,
        "summary": (
            f"sweep with 10 new: {small['requests']} requests / {small['seconds']}s at 1k stored, "
            f"{big['requests']} / {big['seconds']}s at 100k (x{request_ratio:.2f} requests, x{cpu_ratio:.2f} CPU); "
            f"retained 10k: first sweep {retained[RETAINED_SIZES[-1]]['sweep']['requests']} requests (one-off), "
            f"next {retained[RETAINED_SIZES[-1]]['next_sweep']['requests']}"
        ),
    }
