"""The embedded default (`AIRLOCK_WAREHOUSE=local`): one DuckDB file per tenant on the worker's disk.

One file per tenant (`<warehouse_dir>/<tenant>.duckdb`): DuckDB allows one writer per file, so per-tenant
files let different tenants load and build concurrently, and a tenant's data never shares a file with
another's: the file is the isolation (no roles). Two runs of the same tenant take turns: the loader
retries while the file is locked (dbt-duckdb does the same through its connect retries), and on this
target every warehouse writer runs in the 1-slot pool `airlock_duckdb` (docs/adr/0003).
Bulk path: each file is copied to the worker's disk (sha256 checked) and read by DuckDB's `read_csv` /
`read_json`, selecting the dataflow's canonical columns by name.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from airlock.warehouse.base import (
    BatchLoad,
    QueryTag,
    SnapshotFile,
    TenantSpace,
    WarehouseError,
    append_comment,
    check_rows,
    export_query,
    ledger_ddl,
    local_copy,
    quote_ident,
    record_batch,
    replace_batch,
)

if TYPE_CHECKING:
    from airlock.warehouse.config import WarehouseConfig
    from airlock.warehouse.credentials import WarehouseCredentials

log = logging.getLogger(__name__)

LOCK_WAIT_SECONDS = 120.0
DUCKDB_POOL = "airlock_duckdb"
"""One slot: on the local DuckDB target, every task that writes a warehouse file (load, dbt) takes
turns. Without it, a run's independent models start together on the same tenant file and spend
their time in dbt-duckdb's 2**n s connect back-off. Production warehouses do not use the pool."""


def writer_pool(dbt_target: str) -> str | None:
    """The pool DuckDB writers take turns in, or None for a warehouse with concurrent writers."""
    return DUCKDB_POOL if dbt_target == "local" else None


def warehouse_path(warehouse_dir: Path, tenant_id: str) -> Path:
    return warehouse_dir / f"{tenant_id}.duckdb"


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
                raise WarehouseError(f"cannot open the DuckDB file {path}: {exc}") from None
            log.info("waiting for the DuckDB writer lock on %s", path)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def _reader(fmt: str, columns: list[str]) -> str:
    if fmt == "csv":
        return "read_csv(?, header = true, all_varchar = true)"
    spec = ", ".join(f"'{c}': 'VARCHAR'" for c in columns)
    return f"read_json(?, format = 'newline_delimited', columns = {{{spec}}})"


class DuckDBWarehouse:
    """`Warehouse` on per-tenant DuckDB files under `warehouse_dir`."""

    kind: ClassVar[str] = "local"

    def __init__(self, warehouse_dir: Path) -> None:
        self.warehouse_dir = warehouse_dir

    @classmethod
    def from_config(cls, config: WarehouseConfig) -> DuckDBWarehouse:
        return cls(config.warehouse_dir)

    @staticmethod
    def dbt_env(creds: WarehouseCredentials) -> dict[str, str]:
        """Nothing secret: profiles.yml finds the file from AIRLOCK_WAREHOUSE_DIR and the run's tenant."""
        return {}

    @staticmethod
    def provisioning_sql(spaces: Sequence[TenantSpace], names: Mapping[str, str]) -> str:
        return "-- local DuckDB: one file per tenant, created on its first load; nothing to provision.\n"

    def tag(self, sql: str, tag: QueryTag) -> str:
        return append_comment(sql, tag)

    def ensure_tenant(self, space: TenantSpace) -> None:
        """The tenant's file is its isolation; its raw schema is created on first load."""
        con = connect(warehouse_path(self.warehouse_dir, space.tenant_id))
        try:
            con.execute(f"create schema if not exists {quote_ident(space.raw_schema)}")
        finally:
            con.close()

    def tenant_schemas(self, space: TenantSpace) -> list[str]:
        path = warehouse_path(self.warehouse_dir, space.tenant_id)
        if not path.exists():
            return []
        con = connect(path)
        try:
            rows = con.execute(
                "select schema_name from information_schema.schemata where catalog_name = current_database() "
                "and schema_name not in ('main', 'information_schema', 'pg_catalog') order by 1"
            ).fetchall()
            tables = con.execute(
                "select count(*) from information_schema.tables where table_schema = 'main'"
            ).fetchone()
        finally:
            con.close()
        return [r[0] for r in rows] + (["main"] if tables and tables[0] else [])

    def export_tenant(self, space: TenantSpace, dest: Path) -> dict[str, int]:
        path = warehouse_path(self.warehouse_dir, space.tenant_id)
        if not path.exists():
            return {}
        con = connect(path)
        try:
            tables = con.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_catalog = current_database() order by 1, 2"
            ).fetchall()
            out = {}
            for schema, table in tables:
                sql = f"select * from {quote_ident(schema)}.{quote_ident(table)}"  # noqa: S608
                out[f"{schema}.{table}"] = export_query(con, sql, dest / schema / f"{table}.csv")
            return out
        finally:
            con.close()

    def drop_tenant(self, space: TenantSpace) -> list[str]:
        """The tenant's file is all of its warehouse: dropping the tenant deletes the file (and its WAL)."""
        schemas = self.tenant_schemas(space)
        path = warehouse_path(self.warehouse_dir, space.tenant_id)
        connect(path).close()  # waits for a writer still holding the file, rather than pulling it from under it
        for leftover in (path, path.with_name(path.name + ".wal")):
            leftover.unlink(missing_ok=True)
        return schemas

    def load(self, load: BatchLoad) -> dict[str, int]:
        local = [(f, local_copy(load.raw, f, load.workdir)) for f in load.files]
        schema = quote_ident(load.space.raw_schema)
        con = connect(warehouse_path(self.warehouse_dir, load.space.tenant_id))
        try:
            self._create_tables(con, schema, load)
            con.execute("begin transaction")
            try:
                rows = self._replace(con, schema, load, local)
            except Exception as exc:
                con.execute("rollback")
                if isinstance(exc, WarehouseError):
                    raise
                raise WarehouseError(f"DuckDB refused the load of {load.batch.partition_key}: {exc}") from None
            con.execute("commit")
        finally:
            con.close()
        return rows

    def _create_tables(self, con: Any, schema: str, load: BatchLoad) -> None:
        con.execute(f"create schema if not exists {schema}")
        con.execute(ledger_ddl(schema))
        for table, columns in load.tables.items():
            cols = ", ".join(f"{quote_ident(c)} varchar" for c in columns)
            con.execute(
                f"create table if not exists {schema}.{quote_ident(table)} ({cols}, _batch_id varchar, "
                "_snapshot_ts varchar, _source_file varchar, _loaded_at timestamp)"
            )

    def _replace(
        self, con: Any, schema: str, load: BatchLoad, local: list[tuple[SnapshotFile, Path]]
    ) -> dict[str, int]:
        cursor = con  # not con.cursor(): a DuckDB cursor is another connection, outside this transaction
        tables = [quote_ident(t) for t in load.tables]
        expired = replace_batch(_QmarkCursor(cursor), schema, tables, load)
        rows: dict[str, int] = dict.fromkeys(load.tables, 0)
        for file, path in local:
            columns = list(load.tables[file.table])
            select = ", ".join(quote_ident(c) for c in columns)  # all_varchar / VARCHAR columns already
            sql = (
                f"insert into {schema}.{quote_ident(file.table)} select {select}, ?, ?, ?, now() "  # noqa: S608
                f"from {_reader(file.format, columns)}"
            )
            cursor.execute(self.tag(sql, load.tag), [load.batch.batch_id, load.snapshot_ts, file.key, str(path)])
            loaded = int(cursor.fetchone()[0])
            check_rows(file, loaded, "DuckDB")
            rows[file.table] += loaded
        record_batch(_QmarkCursor(cursor), schema, load, rows)
        if expired:
            log.info("retention: dropped batches %s from %s", expired, load.space.raw_schema)
        return rows


class _QmarkCursor:
    """DuckDB binds `?`; the shared SQL is written with `%s` (psycopg, Snowflake, Redshift)."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self._cursor.execute(sql.replace("%s", "?"), list(params))

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()
