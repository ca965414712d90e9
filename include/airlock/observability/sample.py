"""Write batches in every state through Storage, exactly as the router and DAGs lay them out.

Used by the status tests, the UI test and bench/status_scale.py, so all three exercise the
layout of docs/contracts.md rather than a private shortcut.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from airlock.storage import LocalStorage, Storage
from airlock.tenants import DataflowContract, Registry

SAMPLE_STATES = ("waiting", "late", "quarantined", "snapshotted", "processing", "done", "failed")


@dataclass(frozen=True)
class Roots:
    landing: Storage
    raw: Storage
    quarantine: Storage


def _stamp(ts: datetime) -> str:
    return ts.strftime("%Y%m%dT%H%M%S%fZ")


def _file_names(contract: DataflowContract) -> list[tuple[str, str]]:
    """(table, a file name matching the contract's pattern) for every file of the contract."""
    return [(f.table, f.pattern.replace("*", "sample")) for f in contract.files]


def _landing_key(contract: DataflowContract, batch_id: str, file: str) -> str:
    """The `<rest>` of a landing key; the sample keys follow the default `<batch_id>/<file>` layout."""
    rest = f"{batch_id}/{file}"
    if not contract.key_regex.match(rest):
        raise ValueError(f"sample key {rest!r} does not match key_pattern {contract.key_pattern!r}")
    return rest


def _put(storage: Storage, key: str, data: bytes, when: datetime | None) -> None:
    storage.write_bytes(key, data)
    if when is not None and isinstance(storage, LocalStorage):
        ts = when.timestamp()
        os.utime(storage.root / key, (ts, ts))


def _put_json(storage: Storage, key: str, data: dict[str, object], when: datetime | None) -> None:
    _put(storage, key, json.dumps(data, sort_keys=True).encode(), when)


def write_batch(
    roots: Roots,
    registry: Registry,
    tenant_id: str,
    dataflow: str,
    batch_id: str,
    state: str,
    *,
    at: datetime | None = None,
    run_id: str | None = None,
    data_files: bool = True,
) -> None:
    """Lay out one batch in `state` (one of SAMPLE_STATES), its objects dated `at` (local folders)."""
    if state not in SAMPLE_STATES:
        raise ValueError(f"state {state!r}: use one of {SAMPLE_STATES}")
    contract = registry.tenants[tenant_id].dataflows[dataflow]
    when = at or datetime.now(UTC)
    files = _file_names(contract)
    required = [(t, f) for t, f in files if t in contract.required_tables]
    # An incomplete batch lacks one required file; with a single required file it is complete
    # but not yet snapshotted (inside the snapshot grace), which status also shows as waiting.
    landed = required[:-1] if state in ("waiting", "late") and len(required) > 1 else files
    prefix = f"{tenant_id}/{dataflow}"
    for _table, file in landed:
        _put(roots.landing, f"{prefix}/{_landing_key(contract, batch_id, file)}", b"id\n1\n", when)
    if state == "quarantined":
        _table, file = files[0]
        original = f"{prefix}/{_landing_key(contract, batch_id, file)}"
        _put(roots.quarantine, f"{tenant_id}/bad_header/{original}", b"garbage\n", when)
        reason = {
            "reason": "bad_header", "detail": "missing column", "original_key": original,
            "tenant_id": tenant_id, "dataflow": dataflow, "batch_id": batch_id,
            "quarantined_at": when.isoformat(),
        }  # fmt: skip
        _put_json(roots.quarantine, f"{tenant_id}/bad_header/{original}.reason.json", reason, when)
        return
    if state in ("waiting", "late"):
        return
    snapshot_ts = _stamp(when)
    base = f"{prefix}/{batch_id}"
    head = {"tenant_id": tenant_id, "dataflow": dataflow, "batch_id": batch_id, "snapshot_ts": snapshot_ts}
    _put_json(roots.raw, f"{base}/_SNAPSHOT.json", {**head, "created_at": when.isoformat()}, when)
    manifest_files = []
    for table, file in files:
        if data_files:
            _put(roots.raw, f"{base}/{snapshot_ts}/{file}", b"id\n1\n", when)
        manifest_files.append(
            {
                "file": file,
                "table": table,
                "key": f"{base}/{snapshot_ts}/{file}",
                "size": 5,
                "sha256": "0" * 64,
                "rows": 1,
                "last_modified": when.isoformat(),
            }
        )
    manifest = {**head, "created_at": when.isoformat(), "files": manifest_files,
                "first_arrival": when.isoformat(), "last_arrival": when.isoformat()}  # fmt: skip
    _put_json(roots.raw, f"{base}/{snapshot_ts}/_MANIFEST.json", manifest, when)
    if state == "snapshotted":
        return
    dag_id = registry.dataflows[dataflow].dag_id
    run_id = run_id or f"asset_triggered__{_stamp(when)}_{tenant_id}"
    _put_json(roots.raw, f"{base}/_RUN.json", {"run_id": run_id, "dag_id": dag_id, "started_at": when.isoformat()},
              when)  # fmt: skip
    if state == "processing":
        return
    done = {
        "run_id": run_id, "dag_id": dag_id, "finished_at": (when + timedelta(seconds=1)).isoformat(),
        "status": "success" if state == "done" else "failed",
        "rows_loaded": {t: 1 for t, _ in files} if state == "done" else {},
    }  # fmt: skip
    _put_json(roots.raw, f"{base}/_DONE.json", done, when + timedelta(seconds=1))


_SAMPLE_DATAFLOWS = {
    "orders": {
        "dataflow": "orders",
        "dbt_tag": "orders",
        "tables": {
            "orders": {"columns": ["order_id", "customer_id", "amount"]},
            "customers": {"columns": ["customer_id", "customer_name"]},
            "refunds": {"columns": ["order_id", "amount"]},
        },
    },
    "inventory": {"dataflow": "inventory", "dbt_tag": "inventory", "tables": {"stock": {"columns": ["sku", "qty"]}}},
}
_SAMPLE_CONTRACTS = {
    "orders": {
        "deadline": "30m",
        "files": [
            {"table": "orders", "pattern": "orders.csv", "format": "csv"},
            {"table": "customers", "pattern": "customers.csv", "format": "csv"},
            {"table": "refunds", "pattern": "refunds.jsonl", "format": "jsonl", "required": False},
        ],
    },
    "inventory": {"deadline": "2h", "files": [{"table": "stock", "pattern": "stock_*.csv", "format": "csv"}]},
}


def write_registry(root: Path, subscriptions: dict[str, list[str]]) -> tuple[Path, Path]:
    """Write a small registry: tenant id -> the dataflows (orders, inventory) it delivers.

    Returns (tenants_dir, dataflows_dir) for load_registry. Tests and the bench build their own
    registry so that they never depend on the demo tenants in dags/registry/tenants.
    """
    import yaml

    tenants_dir, dataflows_dir = root / "tenants", root / "dataflows"
    tenants_dir.mkdir(parents=True, exist_ok=True)
    dataflows_dir.mkdir(parents=True, exist_ok=True)
    for name, flow in _SAMPLE_DATAFLOWS.items():
        (dataflows_dir / f"{name}.yaml").write_text(yaml.safe_dump(flow), encoding="utf-8")
    for tenant_id, flows in subscriptions.items():
        tenant = {
            "tenant_id": tenant_id,
            "name": tenant_id.title(),
            "warehouse_schema": f"tenant_{tenant_id}",
            "dataflows": {f: _SAMPLE_CONTRACTS[f] for f in flows},
        }
        (tenants_dir / f"{tenant_id}.yaml").write_text(yaml.safe_dump(tenant), encoding="utf-8")
    return tenants_dir, dataflows_dir
