"""The processing side of a batch: trust nothing in the partition key, run once, record the result.

A processing run starts from a partition key `<tenant>|<batch_id>`. Anyone who can post an asset
event can forge one, so the key is checked against the registry and the committed snapshot
before anything is loaded. `_RUN.json` (create-only) makes a duplicate run of the same batch a
no-op, so a repeated event never processes a batch twice; `_DONE.json` records the outcome.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from airlock.errors import PartitionKeyError
from airlock.landing import BatchRef
from airlock.snapshot import DONE_MARKER, RUN_MARKER, marker_key, read_claim, read_manifest
from airlock.storage import Storage, read_json, write_json
from airlock.tenants import BATCH_ID, Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunPlan:
    """What a processing run works on; its `as_xcom()` feeds the load and dbt tasks."""

    batch: BatchRef
    tenant_schema: str
    snapshot_ts: str
    manifest: dict[str, Any]
    duplicate_of: str | None = None

    def as_xcom(self) -> dict[str, Any]:
        return {
            "tenant_id": self.batch.tenant_id,
            "batch_id": self.batch.batch_id,
            "dataflow": self.batch.dataflow,
            "tenant_schema": self.tenant_schema,
            "snapshot_ts": self.snapshot_ts,
            "duplicate_of": self.duplicate_of,
        }


def parse_partition_key(key: str | None, dataflow: str, registry: Registry) -> BatchRef:
    """`tenant|batch` → BatchRef, refusing anything the registry does not vouch for."""
    if not key or key.count("|") != 1:
        raise PartitionKeyError(
            f"partition key {key!r} is not '<tenant>|<batch_id>'. Processing runs are "
            "started by the router; to re-run a batch, clear its run in the Airflow UI."
        )
    tenant_id, batch_id = key.split("|")
    tenant = registry.tenant(tenant_id)
    if tenant is None:
        raise PartitionKeyError(f"partition key {key!r}: no tenant {tenant_id!r} in the registry")
    if dataflow not in tenant.dataflows:
        raise PartitionKeyError(f"partition key {key!r}: tenant {tenant_id} is not subscribed to {dataflow}")
    if not BATCH_ID.match(batch_id):
        raise PartitionKeyError(f"partition key {key!r}: batch id must match {BATCH_ID.pattern}")
    return BatchRef(tenant_id, dataflow, batch_id)


def plan_run(key: str | None, dataflow: str, registry: Registry, raw: Storage, run_id: str, dag_id: str) -> RunPlan:
    """Verify the key against the committed snapshot and claim the batch for this run."""
    batch = parse_partition_key(key, dataflow, registry)
    claim = read_claim(raw, batch)
    manifest = read_manifest(raw, batch)
    if claim is None or manifest is None:
        raise PartitionKeyError(
            f"partition key {key!r}: no committed snapshot under {raw.url}{batch.raw_prefix}; "
            "refusing to process a batch that was never snapshotted"
        )
    if (manifest["tenant_id"], manifest["batch_id"]) != (batch.tenant_id, batch.batch_id):
        raise PartitionKeyError(
            f"partition key {key!r}: the manifest belongs to {manifest['tenant_id']}|{manifest['batch_id']}"
        )
    run = {"run_id": run_id, "dag_id": dag_id, "started_at": datetime.now(UTC).isoformat()}
    schema = registry.tenants[batch.tenant_id].warehouse_schema
    if not write_json(raw, marker_key(batch, RUN_MARKER), run, if_absent=True):
        owner = (read_json(raw, marker_key(batch, RUN_MARKER)) or {}).get("run_id")
        if owner != run_id:
            log.warning("batch %s is already processed by run %s: this run does nothing", key, owner)
            return RunPlan(batch, schema, claim["snapshot_ts"], manifest, duplicate_of=owner)
    return RunPlan(batch, schema, claim["snapshot_ts"], manifest)


def record_done(
    raw: Storage,
    batch: BatchRef,
    run_id: str,
    dag_id: str,
    status: str,
    rows_loaded: dict[str, int],
    started_at: str | None = None,
) -> dict[str, Any]:
    """Write `_DONE.json` (overwritable: a cleared and re-run task records its latest outcome)."""
    done = {
        "run_id": run_id,
        "dag_id": dag_id,
        "status": status,
        "rows_loaded": rows_loaded,
        "started_at": started_at,
        "finished_at": datetime.now(UTC).isoformat(),
    }
    write_json(raw, marker_key(batch, DONE_MARKER), done)
    return done
