"""Amazon Redshift (`AIRLOCK_WAREHOUSE=redshift`): `COPY … FROM 's3://…' IAM_ROLE …`, a database user per tenant.

The files never pass through the worker: Redshift reads them from the raw bucket, assuming the IAM role
Terraform creates (infra/terraform/modules/warehouse_access, setting AIRLOCK_REDSHIFT_IAM_ROLE). The worker
checks each file's size against the manifest and reads CSV headers only, to map columns by name.

Redshift has no per-session role switch the kit relies on, so isolation is per user: each tenant has a
connection `airlock_warehouse_<tenant>` that logs in as `airlock_tenant_<id>`, owner of the tenant's schemas
(sql/redshift/tenant.sql); dbt gets the same user (AIRLOCK_REDSHIFT_USER/PASSWORD). Redshift speaks the
PostgreSQL protocol: the driver is psycopg 3 (client-side binding), the one the kit already ships.
Each file is COPYed into a session temp table, its row count (`pg_last_copy_count()`) checked; one
transaction then replaces the batch's rows. Every statement carries the run's comment and `query_group`.
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

TEXT = "varchar(65535)"
"""Raw columns: Redshift's longest varchar (its `text` is varchar(256))."""


def render(name: str, **values: str) -> str:
    text = resources.files("airlock.warehouse").joinpath(f"sql/redshift/{name}.sql").read_text("utf-8")
    return text.format(**values)


def tenant_sql(space: TenantSpace, iam_role_arn: str, database: str = "airlock") -> str:
    """The SQL an admin runs once per tenant (`airlock warehouse sql --kind redshift --tenant <id>`)."""
    return render(
        "tenant",
        tenant_id=space.tenant_id,
        user=space.role,
        schema=space.schema,
        raw_schema=space.raw_schema,
        iam_role_arn=iam_role_arn,
        database=database,
    )


def copy_sql(table: str, s3_url: str, iam_role_arn: str, fmt: str, columns: list[str] | None = None) -> str:
    """Redshift's bulk load of one snapshot file into a temp table."""
    target = f"{table} ({', '.join(columns)})" if columns else table
    options = (
        "format as json 'auto ignorecase'"
        if fmt == "jsonl"
        else "format as csv ignoreheader 1 ignoreblanklines encoding utf8"
    )
    tuning = "acceptinvchars compupdate off statupdate off"
    return f"copy {target} from '{s3_url}' iam_role '{iam_role_arn}' {options} {tuning}"


class RedshiftWarehouse:
    """`Warehouse` on Redshift; one Airflow connection per tenant (its own database user)."""

    kind: ClassVar[str] = "redshift"

    def __init__(
        self,
        credentials: Callable[[str], WarehouseCredentials],
        iam_role_arn: str,
        raw_url: str,
        connect: Callable[[WarehouseCredentials, str], Any] | None = None,
    ) -> None:
        if not raw_url.startswith("s3://"):
            raise ConfigError(f"AIRLOCK_RAW_URL={raw_url!r}: Redshift copies from S3, so the raw root must be s3://…")
        self._credentials = credentials
        self.iam_role_arn = iam_role_arn
        self.raw_url = raw_url.rstrip("/")
        self._connect = connect or _psycopg_connect

    @classmethod
    def from_config(cls, config: WarehouseConfig) -> RedshiftWarehouse:
        from airlock.warehouse.credentials import resolve

        if not config.redshift_iam_role:
            raise ConfigError(
                "AIRLOCK_REDSHIFT_IAM_ROLE is not set: give it the ARN of the role Redshift assumes to read the raw "
                "bucket (`airlock infra output` prints it from infra/terraform/modules/warehouse_access)."
            )
        return cls(lambda tenant_id: resolve(config.conn_id, tenant_id), config.redshift_iam_role, config.raw_url)

    @staticmethod
    def dbt_env(creds: WarehouseCredentials) -> dict[str, str]:
        return {
            "AIRLOCK_REDSHIFT_HOST": creds.host or "",
            "AIRLOCK_REDSHIFT_PORT": str(creds.port or 5439),
            "AIRLOCK_REDSHIFT_USER": creds.login or "",
            "AIRLOCK_REDSHIFT_PASSWORD": creds.password or "",
            "AIRLOCK_REDSHIFT_DATABASE": creds.database or "",
        }

    @staticmethod
    def provisioning_sql(spaces: Sequence[TenantSpace], names: Mapping[str, str]) -> str:
        """Each tenant's user, schemas and COPY grant (the reader role is Terraform's)."""
        if not names.get("iam_role_arn"):
            raise ConfigError(
                "Redshift grants need the reader role: --set iam_role_arn=<terraform output warehouse.reader_role_arn>"
            )
        database = names.get("database", "airlock")
        return "\n".join(tenant_sql(space, names["iam_role_arn"], database) for space in spaces)

    def tag(self, sql: str, tag: QueryTag) -> str:
        return append_comment(sql, tag)

    @contextmanager
    def session(self, space: TenantSpace, tag: QueryTag) -> Iterator[Any]:
        creds = self._credentials(space.tenant_id)
        if creds.login != space.role:
            log.warning(
                "Redshift connection %s logs in as %s, not %s: tenant isolation on Redshift needs a connection "
                "per tenant (airlock_warehouse_%s)",
                creds.conn_id,
                creds.login,
                space.role,
                space.tenant_id,
            )
        try:
            conn = self._connect(creds, f"airlock:load:{space.tenant_id}")
        except Exception as exc:
            raise WarehouseUnavailableError(
                f"cannot reach Redshift at {creds.host}:{creds.port or 5439} (connection {creds.conn_id}): {exc}. "
                "Nothing was loaded; the task retries, and a re-run loads the batch exactly once."
            ) from None
        try:
            cur = conn.cursor()
            cur.execute(f"set query_group to '{_query_group(tag)}'")
            yield cur
        except WarehouseError:
            raise
        except Exception as exc:
            raise WarehouseError(f"Redshift refused the load: {exc}") from None
        finally:
            conn.close()

    def ensure_tenant(self, space: TenantSpace) -> None:
        """Redshift users are an admin's: check the tenant's schemas exist and are its own, else say what to run."""
        tag = QueryTag(space.tenant_id, "", "", step="ensure_tenant")
        with self.session(space, tag) as cur:
            cur.execute(
                "select nspname, pg_get_userbyid(nspowner) from pg_namespace where nspname in (%s, %s)",
                (space.schema, space.raw_schema),
            )
            owners = dict(cur.fetchall())
        wrong = {s: owners.get(s) for s in (space.schema, space.raw_schema) if owners.get(s) != space.role}
        if wrong:
            raise TenantNotProvisionedError(
                f"tenant {space.tenant_id}: schemas {wrong} are missing or not owned by {space.role}. An admin runs "
                f"the output of `airlock warehouse sql --kind redshift --tenant {space.tenant_id}` once."
            )

    def load(self, load: BatchLoad) -> dict[str, int]:
        for file in load.files:
            info = load.raw.head(file.key)
            if info is None or info.size != file.size:
                raise SnapshotIntegrityError(
                    f"{file.key}: {'missing' if info is None else f'{info.size} bytes'} in the raw bucket, the "
                    f"manifest records {file.size}: the snapshot changed after it was committed; nothing was loaded."
                )
        raw = load.space.raw_schema
        with self.session(load.space, load.tag) as cur:
            run = _Tagged(cur, self, load.tag)
            self._create_tables(run, load)
            temps = [self._stage_file(run, load, file, index) for index, file in enumerate(load.files)]
            run.execute("begin")
            replace_batch(run, raw, list(load.tables), load)
            rows: dict[str, int] = dict.fromkeys(load.tables, 0)
            for file, (temp, picks) in zip(load.files, temps, strict=True):
                cols = ", ".join(load.tables[file.table])
                run.execute(
                    f"insert into {raw}.{file.table} ({cols}, _batch_id, _snapshot_ts, _source_file, _loaded_at) "  # noqa: S608
                    f"select {picks}, %s, %s, %s, getdate() from {temp}",
                    (load.batch.batch_id, load.snapshot_ts, file.key),
                )
                check_rows(file, cur.rowcount, "Redshift")
                rows[file.table] += cur.rowcount
            record_batch(run, raw, load, rows)
            run.execute("commit")
        return rows

    def _create_tables(self, run: _Tagged, load: BatchLoad) -> None:
        raw = load.space.raw_schema
        ledger = ", ".join(f"{c} varchar(1024)" for c in LEDGER_COLUMNS)
        run.execute(f"create table if not exists {raw}._airlock_loads ({ledger})")
        for table, columns in load.tables.items():
            cols = ", ".join(f"{c} {TEXT}" for c in columns)
            run.execute(
                f"create table if not exists {raw}.{table} ({cols}, _batch_id varchar(64), _snapshot_ts varchar(32), "
                "_source_file varchar(1024), _loaded_at timestamp) diststyle auto sortkey (_batch_id)"
            )

    def _stage_file(self, run: _Tagged, load: BatchLoad, file: SnapshotFile, index: int) -> tuple[str, str]:
        """COPY one file from S3 into a session temp table; check its rows; return (temp table, select list)."""
        temp = f"_airlock_load_{index}"
        columns = list(load.tables[file.table])
        if file.format == "jsonl":
            run.execute(f"create temp table {temp} ({', '.join(f'{c} {TEXT}' for c in columns)})")
            picks, copy_columns = ", ".join(columns), None
        else:
            mapping = ColumnMap(read_header(load.raw, file), columns)
            run.execute(f"create temp table {temp} ({', '.join(f'c{i} {TEXT}' for i in range(len(mapping.header)))})")
            picks, copy_columns = ", ".join(f"c{i}" for i in mapping.positions), None
        run.execute(copy_sql(temp, f"{self.raw_url}/{file.key}", self.iam_role_arn, file.format, copy_columns))
        run.execute("select pg_last_copy_count()")
        check_rows(file, int(run.fetchall()[0][0]), "Redshift")
        return temp, picks


def _query_group(tag: QueryTag) -> str:
    """WLM query group (SYS_QUERY_HISTORY.query_label): `airlock:<tenant>:<dataflow>:<batch>:<step>`."""
    label = f"airlock:{tag.tenant_id}:{tag.dataflow}:{tag.batch_id}:{tag.step}"
    return label.replace("'", "")[:320]


def _psycopg_connect(creds: WarehouseCredentials, application_name: str) -> Any:
    import psycopg

    return psycopg.connect(
        host=creds.host,
        port=creds.port or 5439,
        user=creds.login,
        password=creds.password,
        dbname=creds.database,
        sslmode=str(creds.extra.get("sslmode") or "require"),
        connect_timeout=10,
        application_name=application_name[:63],
        autocommit=True,  # transactions are explicit (`begin` … `commit`)
        cursor_factory=psycopg.ClientCursor,  # client-side binding: no server-side prepared statements
    )


class _Tagged:
    def __init__(self, cursor: Any, warehouse: RedshiftWarehouse, tag: QueryTag) -> None:
        self._cursor, self._warehouse, self._tag = cursor, warehouse, tag

    def execute(self, sql: str, params: Any = None) -> Any:
        return self._cursor.execute(self._warehouse.tag(sql, self._tag), tuple(params) if params else None)

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()
