"""The tenant's warehouse: one module per warehouse behind one small interface (`base.Warehouse`).

- `duckdb` (AIRLOCK_WAREHOUSE=local, the embedded default): a DuckDB file per tenant, `read_csv`/`read_json`.
- `postgres`: `COPY … FROM STDIN` (psycopg 3); a role per tenant owns its schemas.
- `snowflake`: `COPY INTO` from an external stage over the raw bucket; a role per tenant.
- `redshift`: `COPY … FROM 's3://…' IAM_ROLE …`; a user per tenant.

Callers use `open_warehouse` and `load_snapshot` and never name a module: the deployment's settings
choose it (config.py). Drivers are imported by the module that needs them, at run time, never at DAG parse.
"""

from __future__ import annotations

import importlib
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airlock.processing import RunPlan
from airlock.storage import Storage
from airlock.tenants import Registry
from airlock.warehouse.base import (
    BatchLoad,
    QueryTag,
    SnapshotFile,
    TenantSpace,
    Warehouse,
    WarehouseError,
    WarehouseUnavailableError,
    raw_schema,
)
from airlock.warehouse.config import WAREHOUSES, WarehouseConfig, load_warehouse_config
from airlock.warehouse.duckdb import DUCKDB_POOL, warehouse_path, writer_pool

__all__ = [
    "DUCKDB_POOL",
    "BatchLoad",
    "QueryTag",
    "TenantSpace",
    "Warehouse",
    "WarehouseConfig",
    "WarehouseError",
    "WarehouseUnavailableError",
    "batch_load",
    "load_snapshot",
    "load_warehouse_config",
    "open_warehouse",
    "raw_schema",
    "warehouse_class",
    "warehouse_path",
    "writer_pool",
]

log = logging.getLogger(__name__)


def warehouse_class(kind: str) -> Any:
    """The class implementing `kind` (imported on first use: drivers load only where they run)."""
    module, _, name = WAREHOUSES[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def open_warehouse(config: WarehouseConfig) -> Warehouse:
    """The configured warehouse, ready to load (connections are opened per load, per tenant)."""
    return warehouse_class(config.kind).from_config(config)


def batch_load(
    plan: RunPlan,
    registry: Registry,
    raw: Storage,
    config: WarehouseConfig,
    workdir: Path,
    *,
    tag: QueryTag | None = None,
    loaded_at: datetime | None = None,
) -> BatchLoad:
    """What the warehouse needs to load the run's snapshot (every table of the dataflow, every file)."""
    batch = plan.batch
    flow = registry.dataflows[batch.dataflow]
    return BatchLoad(
        space=TenantSpace(batch.tenant_id, plan.tenant_schema),
        batch=batch,
        snapshot_ts=plan.snapshot_ts,
        tables={table: list(spec.columns) for table, spec in flow.tables.items()},
        files=[SnapshotFile.from_manifest(entry) for entry in plan.manifest["files"]],
        raw=raw,
        workdir=workdir,
        tag=tag or QueryTag.from_airflow_env(batch),
        retention=config.retention,
        loaded_at=loaded_at or datetime.now(UTC),
    )


def load_snapshot(
    plan: RunPlan,
    registry: Registry,
    raw: Storage,
    config: WarehouseConfig,
    workdir: Path,
    *,
    tag: QueryTag | None = None,
) -> dict[str, int]:
    """Load the run's committed snapshot into the tenant's raw tables; return rows per table."""
    load = batch_load(plan, registry, raw, config, workdir, tag=tag)
    warehouse = open_warehouse(config)
    warehouse.ensure_tenant(load.space)
    rows = warehouse.load(load)
    log.info("loaded %s into %s (%s): %s", plan.batch.partition_key, load.space.raw_schema, config.kind, rows)
    return rows
