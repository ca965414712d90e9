"""Snowflake (`AIRLOCK_WAREHOUSE=snowflake`): `COPY INTO` from an external stage over the raw bucket.

The files never pass through the worker: Snowflake reads them from the raw bucket through the stage
`AIRLOCK_SNOWFLAKE_STAGE` (URL = AIRLOCK_RAW_URL, via a storage integration whose IAM role Terraform creates:
sql/snowflake/setup.sql, infra/terraform/modules/warehouse_access). The worker checks each file's size against
the manifest (S3 verified its SHA-256 when the snapshot was written) and reads only CSV headers, to map
columns by name.

Each file is copied into a session temporary table first (outside the transaction: in Snowflake a DDL
statement commits an open transaction), its parsed rows checked against the manifest; then one transaction
deletes the batch's rows and inserts every file's rows with the batch's meta columns. The session runs as the
tenant's role `AIRLOCK_TENANT_<ID>` (sql/snowflake/tenant.sql), with the run's JSON as QUERY_TAG.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib import resources
from typing import TYPE_CHECKING, Any, ClassVar

from airlock.errors import ConfigError
from airlock.warehouse.base import (
    LEDGER_COLUMNS,
    BatchLoad,
    ColumnMap,
    QueryTag,
    SnapshotFile,
    SnapshotIntegrityError,
    TenantNotProvisionedError,
    TenantSpace,
    WarehouseError,
    WarehouseUnavailableError,
    append_comment,
    check_rows,
    read_header,
    record_batch,
    replace_batch,
)

if TYPE_CHECKING:
    from airlock.warehouse.config import WarehouseConfig
    from airlock.warehouse.credentials import WarehouseCredentials

log = logging.getLogger(__name__)

CSV_FORMAT = "AIRLOCK_CSV"
JSON_FORMAT = "AIRLOCK_JSONL"
"""File formats created by sql/snowflake/setup.sql, in the stage's schema."""
SETUP_NAMES = {
    "database": "AIRLOCK",
    "stage_schema": "LOADING",
    "stage": "AIRLOCK_RAW_STAGE",
    "warehouse": "AIRLOCK_WH",
    "loader_role": "AIRLOCK_LOADER",
    "loader_user": "AIRLOCK_LOADER",
    "integration": "AIRLOCK_RAW",
}
"""Names in sql/snowflake/*.sql, overridable (`airlock warehouse sql --set name=value`)."""
ROWS_LOADED = 3
"""Column of COPY INTO's result that holds the rows loaded from the file."""


def tenant_role(space: TenantSpace) -> str:
    return space.role.upper()


def render(name: str, **values: str) -> str:
    """One of the kit's Snowflake SQL files with its names filled in (`airlock warehouse sql`)."""
    text = resources.files("airlock.warehouse").joinpath(f"sql/snowflake/{name}.sql").read_text("utf-8")
    return text.format(**values)


def tenant_sql(space: TenantSpace, names: Mapping[str, str]) -> str:
    """The grants of one tenant; `names`: database, warehouse, stage_schema, stage, loader_role."""
    return render(
        "tenant",
        **names,
        tenant_id=space.tenant_id,
        role=tenant_role(space),
        schema=space.schema.upper(),
        raw_schema=space.raw_schema.upper(),
    )


class SnowflakeWarehouse:
    """`Warehouse` on Snowflake; credentials from the Airflow connection (per tenant if it has one)."""

    kind: ClassVar[str] = "snowflake"

    def __init__(self, credentials: Callable[[str], WarehouseCredentials], stage: str) -> None:
        self._credentials = credentials
        self.stage = stage

    @classmethod
    def from_config(cls, config: WarehouseConfig) -> SnowflakeWarehouse:
        from airlock.warehouse.credentials import resolve

        return cls(lambda tenant_id: resolve(config.conn_id, tenant_id), config.snowflake_stage)

    @staticmethod
    def dbt_env(creds: WarehouseCredentials) -> dict[str, str]:
        return {
            "AIRLOCK_SNOWFLAKE_ACCOUNT": str(creds.extra.get("account") or ""),
            "AIRLOCK_SNOWFLAKE_USER": creds.login or "",
            "AIRLOCK_SNOWFLAKE_PASSWORD": creds.password or "",
            "AIRLOCK_SNOWFLAKE_WAREHOUSE": str(creds.extra.get("warehouse") or ""),
            "AIRLOCK_SNOWFLAKE_DATABASE": creds.database or str(creds.extra.get("database") or ""),
        }

    @staticmethod
    def provisioning_sql(spaces: Sequence[TenantSpace], names: Mapping[str, str]) -> str:
        """The one-time setup (integration, stage, file formats, loader role), then each tenant's grants."""
        values = {**SETUP_NAMES, **names}
        missing = [k for k in ("iam_role_arn", "raw_url") if not values.get(k)]
        if missing:
            raise ConfigError(
                f"Snowflake setup needs {missing}: --set iam_role_arn=<terraform output warehouse.reader_role_arn> "
                "--set raw_url=s3://<raw bucket> (AIRLOCK_RAW_URL)"
            )
        values["raw_url"] = values["raw_url"].rstrip("/")
        return "\n".join([render("setup", **values), *(tenant_sql(space, values) for space in spaces)])

    def tag(self, sql: str, tag: QueryTag) -> str:
        return append_comment(sql, tag)

    @contextmanager
    def connect(self, space: TenantSpace, tag: QueryTag | None = None) -> Iterator[Any]:
        """A session as the tenant's role, tagged; unreachable → WarehouseUnavailableError."""
        import snowflake.connector
        from snowflake.connector import errors

        creds = self._credentials(space.tenant_id)
        extra = dict(creds.extra)
        kwargs: dict[str, Any] = {
            "account": extra.get("account"),
            "user": creds.login,
            "password": creds.password,
            "database": creds.database or extra.get("database"),
            "warehouse": extra.get("warehouse"),
            "role": tenant_role(space),
            "application": "airlock",
            "login_timeout": 30,
            "session_parameters": {"QUERY_TAG": tag.json()} if tag else {},
        }
        # PrivateLink or a stand-in endpoint (the connection's host/port, extra `protocol`)
        if creds.host:
            kwargs.update(host=creds.host, port=creds.port or 443, protocol=extra.get("protocol", "https"))
        try:
            conn = snowflake.connector.connect(**{k: v for k, v in kwargs.items() if v is not None})
        except errors.DatabaseError as exc:
            if "not granted" in str(exc) or "does not exist" in str(exc):
                raise _not_provisioned(space, exc) from None
            raise WarehouseUnavailableError(
                f"cannot open a Snowflake session for {space.tenant_id} (connection {creds.conn_id}): {exc}. "
                "Nothing was loaded; the task retries, and a re-run loads the batch exactly once."
            ) from None
        try:
            yield conn
        except errors.Error as exc:
            raise WarehouseError(f"Snowflake refused the load: {exc}") from None
        finally:
            conn.close()

    def ensure_tenant(self, space: TenantSpace) -> None:
        """Snowflake roles are an admin's: check that the tenant's role can see its schemas, else say what to run."""
        with self.connect(space) as conn:
            cur = conn.cursor()
            cur.execute(
                "select schema_name from information_schema.schemata where schema_name in (%s, %s)",
                (space.schema.upper(), space.raw_schema.upper()),
            )
            found = {row[0].upper() for row in cur.fetchall()}
        missing = sorted({space.schema.upper(), space.raw_schema.upper()} - found)
        if missing:
            raise _not_provisioned(space, f"schemas {missing} are missing or not visible to {tenant_role(space)}")

    def load(self, load: BatchLoad) -> dict[str, int]:
        for file in load.files:
            info = load.raw.head(file.key)
            if info is None or info.size != file.size:
                raise SnapshotIntegrityError(
                    f"{file.key}: {'missing' if info is None else f'{info.size} bytes'} in the raw bucket, the "
                    f"manifest records {file.size}: the snapshot changed after it was committed; nothing was loaded."
                )
        raw = load.space.raw_schema.upper()
        with self.connect(load.space, load.tag) as conn:
            cur = conn.cursor()
            run = _Tagged(cur, self, load.tag)
            run.execute(f"use schema {raw}")
            self._create_tables(run, load)
            temps = [self._stage_file(run, load, file, index) for index, file in enumerate(load.files)]
            run.execute("begin")
            try:
                replace_batch(run, raw, [t.upper() for t in load.tables], load)
                rows: dict[str, int] = dict.fromkeys(load.tables, 0)
                for file, (temp, picks) in zip(load.files, temps, strict=True):
                    cols = ", ".join(load.tables[file.table])
                    run.execute(
                        f"insert into {raw}.{file.table} ({cols}, _batch_id, _snapshot_ts, _source_file, _loaded_at) "  # noqa: S608
                        f"select {picks}, %s, %s, %s, current_timestamp() from {temp}",
                        (load.batch.batch_id, load.snapshot_ts, file.key),
                    )
                    check_rows(file, cur.rowcount, "Snowflake")
                    rows[file.table] += cur.rowcount
                record_batch(run, raw, load, rows)
                run.execute("commit")
            except BaseException:
                cur.execute("rollback")
                raise
        return rows

    def _create_tables(self, run: _Tagged, load: BatchLoad) -> None:
        raw = load.space.raw_schema.upper()
        ledger = ", ".join(f"{c} varchar" for c in LEDGER_COLUMNS)
        run.execute(f"create table if not exists {raw}._airlock_loads ({ledger})")
        for table, columns in load.tables.items():
            cols = ", ".join(f"{c} varchar" for c in columns)
            run.execute(
                f"create table if not exists {raw}.{table} ({cols}, _batch_id varchar, _snapshot_ts varchar, "
                "_source_file varchar, _loaded_at timestamp_ntz)"
            )

    def _stage_file(self, run: _Tagged, load: BatchLoad, file: SnapshotFile, index: int) -> tuple[str, str]:
        """COPY one file into a session temp table; check its rows; return (temp table, select list)."""
        temp = f"_airlock_load_{index}"
        folder, _, name = file.key.rpartition("/")
        columns = list(load.tables[file.table])
        if file.format == "jsonl":
            run.execute(f"create or replace temporary table {temp} (v variant)")
            fmt, picks = JSON_FORMAT, ", ".join(f"v:{c}::varchar" for c in columns)
        else:
            mapping = ColumnMap(read_header(load.raw, file), columns)
            fields = ", ".join(f"c{i} varchar" for i in range(len(mapping.header)))
            run.execute(f"create or replace temporary table {temp} ({fields})")
            fmt, picks = CSV_FORMAT, ", ".join(f"c{i}" for i in mapping.positions)
        stage_schema = self.stage.rpartition(".")[0]
        file_format = f"{stage_schema}.{fmt}" if stage_schema else fmt
        run.execute(
            f"copy into {temp} from @{self.stage}/{folder}/ files = ('{name}') "
            f"file_format = (format_name = '{file_format}') force = true"
        )
        results = run.fetchall()
        loaded = sum(int(row[ROWS_LOADED]) for row in results) if results else 0
        check_rows(file, loaded, "Snowflake")
        return temp, picks


def _not_provisioned(space: TenantSpace, why: object) -> TenantNotProvisionedError:
    return TenantNotProvisionedError(
        f"tenant {space.tenant_id} is not provisioned on Snowflake ({why}). An admin runs the output of "
        f"`airlock warehouse sql --kind snowflake --tenant {space.tenant_id}` once (role {tenant_role(space)}, "
        "its schemas and grants)."
    )


class _Tagged:
    """A cursor whose statements carry the load's comment (the session also has the QUERY_TAG)."""

    def __init__(self, cursor: Any, warehouse: SnowflakeWarehouse, tag: QueryTag) -> None:
        self._cursor, self._warehouse, self._tag = cursor, warehouse, tag

    def execute(self, sql: str, params: Any = None) -> Any:
        return self._cursor.execute(self._warehouse.tag(sql, self._tag), tuple(params) if params else None)

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()
