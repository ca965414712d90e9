"""Offboard a tenant in one command: stop its intake, drain its runs, export then drop its warehouse data.

The order is what keeps it safe:
1. Stop intake at once, on every deployment (`_airlock/offboarding/<tenant>.json` in the raw root, read by
   the router and the sweep with one listing): the tenant's landing files wait, untouched; nothing new is
   snapshotted. Processing still accepts the tenant's keys, so what was snapshotted can finish.
2. Drain: wait until Airflow has no queued or running run for `<tenant>|...` and no batch is mid-attempt.
3. Export every table of the tenant's schemas (CSV and an `_EXPORT.json` with rows and sha256), then drop
   the schemas and the tenant's role (`--keep-data` skips both).
4. Move the tenant's file to `<registry>/offboarded/`: the DAGs stop watching and processing it, and
   Terraform keeps only its KMS key (snapshots stay readable until an erasure) and its retention rules,
   destroying its queue, roles and notification. The command prints that Terraform change.
Every step is idempotent: run the command again after a failure and it goes on where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airlock.devstack.airflow_api import AirflowApi
from airlock.errors import AirlockError, StorageError
from airlock.lifecycle.airflow import active_runs
from airlock.lifecycle.batches import BatchFilter, committed_batches
from airlock.storage import Storage, read_json, write_json
from airlock.tenants import OFFBOARDED, TENANT_SUFFIX, Registry
from airlock.warehouse.base import TenantSpace, Warehouse

OFFBOARDING_PREFIX = "_airlock/offboarding/"
EXPORT_MANIFEST = "_EXPORT.json"
Progress = Callable[[str], None]


class OffboardError(AirlockError):
    """Offboarding cannot go on (runs that do not drain, a warehouse that cannot drop); it says what to do."""


def stopped_tenants(raw: Storage) -> frozenset[str]:
    """Tenants whose intake is stopped for offboarding: one listing of `_airlock/offboarding/`."""
    try:
        return frozenset(
            info.key.rsplit("/", 1)[-1].removesuffix(".json")
            for info in raw.list(OFFBOARDING_PREFIX)
            if info.key.endswith(".json")
        )
    except StorageError:
        return frozenset()  # a listing error must not stop every tenant's intake; the next run reads again


def stop_intake(raw: Storage, tenant_id: str, by: str) -> dict[str, Any]:
    """Stop the tenant's intake now (create-only: the first stop's time and author are kept)."""
    key = f"{OFFBOARDING_PREFIX}{tenant_id}.json"
    write_json(raw, key, {"tenant_id": tenant_id, "at": datetime.now(UTC).isoformat(), "by": by}, if_absent=True)
    return read_json(raw, key) or {}


def drain(
    registry: Registry,
    raw: Storage,
    tenant_id: str,
    api: AirflowApi,
    *,
    timeout: float,
    progress: Progress,
    poll: float = 3.0,
) -> dict[str, int]:
    """Wait until no run of the tenant is queued or running in Airflow and no attempt is open in the markers."""
    began = time.monotonic()
    last = ""
    while True:
        runs = active_runs(api, tenant_id)
        batches = committed_batches(registry, raw, BatchFilter(tenants=(tenant_id,)))
        busy = [b.batch.partition_key for b in batches if b.state == "processing"]
        states: dict[str, int] = {}
        for b in batches:
            states[b.state] = states.get(b.state, 0) + 1
        if not runs and not busy:
            return states
        note = f"{len(runs)} run(s) queued or running, {len(busy)} batch(es) mid-attempt"
        if note != last:
            progress(f"    draining {tenant_id}: {note}")
            last = note
        if time.monotonic() - began > timeout:
            names = ", ".join(sorted({r["dag_run_id"] for r in runs} | set(busy))[:10])
            raise OffboardError(
                f"{tenant_id} did not drain within {timeout:.0f}s ({note}: {names}). Intake stays stopped; let the "
                "runs finish (or mark them failed in Airflow), then run the command again."
            )
        time.sleep(poll)


@dataclass
class Export:
    url: str
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(t["rows"] for t in self.tables.values())


def export(warehouse: Warehouse, space: TenantSpace, dest: Storage, prefix: str) -> Export:
    """Every table of the tenant's schemas to `dest` (CSV per table), then `_EXPORT.json` saying what is there."""
    result = Export(f"{dest.url.rstrip('/')}/{prefix}")
    with tempfile.TemporaryDirectory(prefix=f"airlock-export-{space.tenant_id}-") as work:
        counts = warehouse.export_tenant(space, Path(work))
        for name, rows in sorted(counts.items()):
            schema, table = name.split(".", 1)
            data = (Path(work) / schema / f"{table}.csv").read_bytes()
            key = f"{prefix}{schema}/{table}.csv"
            dest.write_bytes(key, data)
            result.tables[name] = {
                "key": key,
                "rows": rows,
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
    manifest = {"tenant_id": space.tenant_id, "exported_at": datetime.now(UTC).isoformat(), "tables": result.tables}
    dest.write_bytes(f"{prefix}{EXPORT_MANIFEST}", json.dumps(manifest, indent=2).encode())
    return result


def retire_registry_file(tenants_dir: Path, tenant_id: str, note: dict[str, Any]) -> Path:
    """Move `<id>.yaml` to `<registry>/offboarded/`, appending why (the file's own lines are kept as they are)."""
    source = tenants_dir / f"{tenant_id}{TENANT_SUFFIX}"
    target = tenants_dir.parent / OFFBOARDED / f"{tenant_id}{TENANT_SUFFIX}"
    if target.exists() and not source.exists():
        return target
    if not source.exists():
        raise OffboardError(f"{source}: no such tenant file (and none in {target.parent})")
    target.parent.mkdir(parents=True, exist_ok=True)
    stanza = "".join(f"  {k}: {json.dumps(v)}\n" for k, v in note.items())
    text = source.read_text(encoding="utf-8")
    target.write_text(
        f"{text.rstrip()}\n\n# Offboarded (airlock tenant offboard). Kept so that Terraform keeps the tenant's\n"
        "# KMS key (its snapshots stay readable until `airlock tenant erase`) and its retention rules.\n"
        f"offboarded:\n{stanza}",
        encoding="utf-8",
    )
    source.unlink()
    return target


def mark_erased(tenants_dir: Path, tenant_id: str, when: str) -> Path | None:
    """Add `erased:` to the retired file's `offboarded:` block: Terraform stops managing the tenant's key."""
    path = tenants_dir.parent / OFFBOARDED / f"{tenant_id}{TENANT_SUFFIX}"
    if not path.exists():
        return None
    text = path.read_text(encoding="utf-8")
    if "\n  erased: " not in text:
        path.write_text(f"{text.rstrip()}\n  erased: {json.dumps(when)}\n", encoding="utf-8")
    return path


def terraform_change(tenant_id: str, moved: Path, home: Path) -> list[str]:
    """What the next `terraform plan` will show for the move, and how to finish."""
    where = moved.relative_to(home) if moved.is_relative_to(home) else moved
    return [
        f"Terraform change (commit {where}, then `airlock infra plan --env <env>` and apply):",
        f'  destroy  module.tenant["{tenant_id}"]: its landing queue and DLQ (dedicated tier), upload and processing',
        "           roles and policies, its landing notification prefix",
        f'  keep     module.tenant["{tenant_id}"].aws_kms_key.tenant (prevent_destroy): its snapshots stay readable',
        "           until `airlock tenant erase`; its retention rules on the raw and quarantine buckets stay",
        f"  deploy   the registry change (a DAG-only deploy on Astro): the router stops watching {tenant_id}",
    ]
