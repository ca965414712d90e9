"""What the fault tests share: deliver a batch, find and kill real processes, and check the outcome.

Every fault test ends with the same verdict, `assert_once`: exactly one snapshot and exactly one
successful processing run for each batch, and every uploaded file snapshotted or quarantined.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psutil

from airlock.devstack.stack import LocalStack
from airlock.snapshot import MANIFEST

STOCK_HEADER = "warehouse_id,sku,quantity,counted_at\n"


def stock_csv(warehouse: str, rows: int) -> bytes:
    return (STOCK_HEADER + "".join(f"{warehouse},sku-{i:06d},{i % 97},2026-11-20\n" for i in range(rows))).encode()


@dataclass
class Batch:
    """One batch a test delivers: its files, and when the last one landed."""

    tenant: str
    dataflow: str
    batch_id: str
    files: dict[str, bytes]
    uploaded_at: float = 0.0
    run: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def partition_key(self) -> str:
        return f"{self.tenant}|{self.batch_id}"

    @property
    def prefix(self) -> str:
        return f"{self.tenant}/{self.dataflow}/{self.batch_id}/"

    @property
    def dag_id(self) -> str:
        return f"process_{self.dataflow}"

    def keys(self) -> list[str]:
        return [self.prefix + name for name in self.files]

    @property
    def latency(self) -> float | None:
        """Seconds from the last upload to the processing run's start."""
        if not self.run or not self.run.get("start_date"):
            return None
        return datetime.fromisoformat(self.run["start_date"]).timestamp() - self.uploaded_at


def inventory(tenant: str, batch_id: str, warehouses: int = 1, rows: int = 50) -> Batch:
    files = {f"stock_w{i}.csv": stock_csv(f"w{i}", rows) for i in range(warehouses)}
    return Batch(tenant, "inventory", batch_id, files)


def orders_globex(batch_id: str, rows: int = 20) -> Batch:
    orders = "".join(
        json.dumps({"order_id": f"g{i}", "customer_id": f"c{i % 3}", "ordered_at": "2026-11-20", "amount": i}) + "\n"
        for i in range(rows)
    )
    customers = "customer_id,customer_name,country,segment\nc0,A,FR,smb\nc1,B,DE,smb\nc2,C,US,ent\n"
    return Batch("globex", "orders", batch_id, {"orders.jsonl": orders.encode(), "customers.csv": customers.encode()})


def bucket(stack: LocalStack, root: str) -> str:
    return stack.env[f"AIRLOCK_{root.upper()}_URL"].removeprefix("s3://").split("/")[0]


def upload(stack: LocalStack, batch: Batch) -> Batch:
    for key, body in zip(batch.keys(), batch.files.values(), strict=True):
        stack.s3.put_object(Bucket=bucket(stack, "landing"), Key=key, Body=body)
    batch.uploaded_at = time.time()
    return batch


def runs_of(stack: LocalStack, batch: Batch) -> list[dict[str, Any]]:
    return stack.api.dag_runs(batch.dag_id, partition_key=batch.partition_key, limit=50)


def wait_until(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """Poll `check` until it returns something truthy; on timeout say what was last seen."""
    deadline = time.monotonic() + timeout
    seen: Any = None
    while time.monotonic() < deadline:
        try:
            seen = check()
        except Exception as exc:  # a component being restarted may refuse a poll: keep waiting
            seen = f"{type(exc).__name__}: {exc}"
        else:
            if seen:
                return seen
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:.0f}s; last seen: {seen!r}")


def wait_processed(stack: LocalStack, batch: Batch, timeout: float = 300) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        runs = runs_of(stack, batch)
        failed = [r for r in runs if r["state"] == "failed"]
        assert not failed, f"{batch.partition_key}: processing run failed: {failed}"
        return next((r for r in runs if r["state"] == "success"), None)

    batch.run = wait_until(f"{batch.partition_key} processed", done, timeout, interval=1.0)
    return batch.run


def snapshots(stack: LocalStack, batch: Batch) -> list[str]:
    listing = stack.s3.list_objects_v2(Bucket=bucket(stack, "raw"), Prefix=batch.prefix).get("Contents", [])
    return sorted({o["Key"][len(batch.prefix) :].split("/")[0] for o in listing if o["Key"].endswith("/" + MANIFEST)})


def manifest(stack: LocalStack, batch: Batch) -> dict[str, Any]:
    (ts,) = snapshots(stack, batch)
    body = stack.s3.get_object(Bucket=bucket(stack, "raw"), Key=f"{batch.prefix}{ts}/{MANIFEST}")["Body"].read()
    return json.loads(body)


def assert_once(stack: LocalStack, *batches: Batch, settle: float = 5.0) -> None:
    """Exactly one snapshot and one (successful) processing run per batch; every file in its snapshot."""
    time.sleep(settle)  # a duplicate run would be created by now: look after the dust settles
    for batch in batches:
        assert len(snapshots(stack, batch)) == 1, (batch.partition_key, snapshots(stack, batch))
        runs = runs_of(stack, batch)
        assert [r["state"] for r in runs] == ["success"], (batch.partition_key, runs)
        files = {f["landing_key"] for f in manifest(stack, batch)["files"]}
        assert files == set(batch.keys()), (batch.partition_key, files)


def task_instance(stack: LocalStack, dag_id: str, run_id: str, match: Callable[[str], bool]) -> dict | None:
    return next((t for t in stack.api.task_instances(dag_id, run_id) if match(t["task_id"])), None)


def kill_tree(pid: int) -> list[str]:
    """SIGKILL a process and everything under it, as a crashed worker or container loses it all."""
    try:
        root = psutil.Process(pid)
        victims = [root, *root.children(recursive=True)]
    except psutil.Error:
        return []
    names = []
    for proc in victims:
        try:
            names.append(f"{proc.pid} {' '.join(proc.cmdline()[:3])}")
            proc.send_signal(signal.SIGKILL)
        except psutil.Error:
            continue
    psutil.wait_procs(victims, timeout=10)
    return names


def kill_component(stack: LocalStack, name: str) -> list[str]:
    """SIGKILL a supervised component (scheduler, triggerer, ...) with its whole process tree."""
    managed = next(p for p in stack.supervisor.processes if p.name == name)
    killed = kill_tree(managed.pid)
    managed.popen.wait(timeout=10)
    return killed


def dbt_processes(stack: LocalStack) -> list[psutil.Process]:
    """The stack's own dbt build processes: the runner entrypoint (`airlock.transform.runner:build`) or a
    plain `dbt build`, among the stack's descendants only (another test's stack may be building too)."""
    found = []
    for proc in stack.processes():
        try:
            cmd = " ".join(proc.cmdline())
        except psutil.Error:
            continue
        if "airlock.transform.runner:build" in cmd or ("dbt" in cmd and " build" in cmd):
            found.append(proc)
    return found


def asset_events(stack: LocalStack, name: str) -> list[dict[str, Any]]:
    asset_id = stack.api.asset_id(name)
    return stack.api.asset_events(asset_id=asset_id) if asset_id is not None else []
