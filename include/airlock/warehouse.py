"""Load a committed snapshot into the tenant's warehouse schema (the embedded default: DuckDB).

One DuckDB file per tenant (`<warehouse_dir>/<tenant>.duckdb`): DuckDB allows one writer per
file, so per-tenant files let different tenants load and build concurrently, and a tenant's
data never shares a file with another's. Two runs of the same tenant take turns: the loader
retries while the file is locked (dbt-duckdb does the same through its connect retries).
Every column lands as VARCHAR; typing is the staging models' job, where analysts can see it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from airlock.processing import RunPlan
from airlock.storage import Storage
from airlock.tenants import Registry

log = logging.getLogger(__name__)

LOCK_WAIT_SECONDS = 120.0
DUCKDB_POOL = "airlock_duckdb"
"""One slot: on the local DuckDB target, every task that writes a warehouse file (load, dbt) takes
turns. Without it, a run's independent models start together on the same tenant file and spend
their time in dbt-duckdb's 2**n s connect back-off. Production warehouses do not use the pool."""
META_COLUMNS = ("_batch_id", "_snapshot_ts", "_source_file", "_loaded_at")


def writer_pool(dbt_target: str) -> str | None:
    """The pool DuckDB writers take turns in, or None for a warehouse with concurrent writers."""
    return DUCKDB_POOL if dbt_target == "local" else None


def warehouse_path(warehouse_dir: Path, tenant_id: str) -> Path:
    return warehouse_dir / f"{tenant_id}.duckdb"


def raw_schema(tenant_schema: str) -> str:
    return f"{tenant_schema}_raw"


def connect(path: Path, wait: float = LOCK_WAIT_SECONDS) -> Any:
    """Open the tenant's DuckDB file, waiting while another process holds the writer lock."""
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait
    delay = 0.2
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            log.info("waiting for the DuckDB writer lock on %s", path)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def _reader(fmt: str, columns: list[str]) -> str:
    if fmt == "csv":
        return "read_csv(?, header = true, all_varchar = true)"
    spec = ", ".join(f"'{c}': 'VARCHAR'" for c in columns)
    return f"read_json(?, format = 'newline_delimited', columns = {{{spec}}})"


def load_snapshot(
    plan: RunPlan, registry: Registry, raw: Storage, warehouse_dir: Path, workdir: Path
) -> dict[str, int]:
    """Replace this batch's rows in `<schema>_raw.<table>` with the snapshot's; return rows per table."""
    batch = plan.batch
    flow = registry.dataflows[batch.dataflow]
    schema = raw_schema(plan.tenant_schema)
    local_files = [(f, raw.download(f["key"], workdir / f["file"])) for f in plan.manifest["files"]]
    rows: dict[str, int] = dict.fromkeys(flow.tables, 0)
    con = connect(warehouse_path(warehouse_dir, batch.tenant_id))
    try:
        con.execute(f'create schema if not exists "{schema}"')
        for table, spec in flow.tables.items():
            cols = ", ".join(f'"{c}" varchar' for c in spec.columns)
            con.execute(
                f'create table if not exists "{schema}"."{table}" ({cols}, _batch_id varchar, '
                "_snapshot_ts varchar, _source_file varchar, _loaded_at timestamp)"
            )
        con.execute("begin transaction")
        for table in flow.tables:
            # Identifiers come from the registry, validated against IDENTIFIER/COLUMN patterns.
            con.execute(f'delete from "{schema}"."{table}" where _batch_id = ?', [batch.batch_id])  # noqa: S608
        for entry, path in local_files:
            columns = flow.tables[entry["table"]].columns
            select = ", ".join(f'cast("{c}" as varchar)' for c in columns)
            con.execute(
                f'insert into "{schema}"."{entry["table"]}" select {select}, ?, ?, ?, now() '  # noqa: S608
                f"from {_reader(entry['format'], columns)}",
                [batch.batch_id, plan.snapshot_ts, entry["key"], str(path)],
            )
            rows[entry["table"]] += entry["rows"]
        con.execute("commit")
    finally:
        con.close()
    log.info("loaded %s into %s: %s", batch.partition_key, schema, rows)
    return rows
