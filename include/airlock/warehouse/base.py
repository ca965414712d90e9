"""The one interface every warehouse module implements, and what they share.

A warehouse module (duckdb, postgres, snowflake, redshift) does three things for the kit: make sure a
tenant's schemas and role exist (`ensure_tenant`), load a committed snapshot into the tenant's raw
tables (`load`), and tag a statement for cost attribution (`tag`). Everything above it (the load task,
the demo, the tests) is warehouse-agnostic, as dbt is above its adapters.

The raw-table contract is the same everywhere (docs/contracts.md, "Raw tables"): all columns are
text; rows carry `_batch_id`, `_snapshot_ts`, `_source_file` and `_loaded_at`; one transaction deletes
the batch's rows, loads the snapshot, checks every file's row count against the manifest and records the
batch in `<raw schema>._airlock_loads`, whose entries also drive the retention.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar, Protocol

from airlock.errors import AirlockError
from airlock.landing import BatchRef
from airlock.storage import LocalStorage, Storage

if TYPE_CHECKING:
    from airlock.warehouse.config import WarehouseConfig
    from airlock.warehouse.credentials import WarehouseCredentials

META_COLUMNS = ("_batch_id", "_snapshot_ts", "_source_file", "_loaded_at")
LEDGER = "_airlock_loads"
"""Per raw schema: one row per batch the raw tables hold (batch, snapshot, when, rows per table)."""
LEDGER_COLUMNS = ("batch_id", "snapshot_ts", "loaded_at", "rows_loaded", "run_id")
TENANT_ROLE_PREFIX = "airlock_tenant_"
CHUNK = 1024 * 1024
BOM = b"\xef\xbb\xbf"


class WarehouseError(AirlockError):
    """A load failed; the message carries the warehouse's own words and what to do."""


class WarehouseUnavailableError(WarehouseError):
    """The warehouse could not be reached (down, restarting, network): nothing was loaded."""


class SnapshotIntegrityError(WarehouseError):
    """A snapshot file's bytes are not the ones the manifest recorded (sha256, size or rows)."""


class TenantNotProvisionedError(WarehouseError):
    """The tenant's role or schemas are missing and this connection may not create them."""


class CredentialsError(WarehouseError):
    """No Airflow connection holds the warehouse's credentials for this tenant."""


@dataclass(frozen=True)
class TenantSpace:
    """A tenant's part of the warehouse: its schemas and the role that owns them."""

    tenant_id: str
    schema: str

    @property
    def raw_schema(self) -> str:
        return raw_schema(self.schema)

    @property
    def role(self) -> str:
        """`airlock_tenant_<id>`: owns the tenant's schemas; the loader and dbt act as it."""
        return f"{TENANT_ROLE_PREFIX}{self.tenant_id}"


def raw_schema(tenant_schema: str) -> str:
    return f"{tenant_schema}_raw"


@dataclass(frozen=True)
class SnapshotFile:
    """One `_MANIFEST.json` entry: where the file is and what the validator saw in it."""

    key: str
    file: str
    table: str
    format: str
    rows: int
    size: int
    sha256: str

    @classmethod
    def from_manifest(cls, entry: Mapping[str, Any]) -> SnapshotFile:
        return cls(
            key=entry["key"],
            file=entry["file"],
            table=entry["table"],
            format=entry["format"],
            rows=int(entry["rows"]),
            size=int(entry["size"]),
            sha256=entry["sha256"],
        )


@dataclass(frozen=True)
class QueryTag:
    """Who a statement is for: tenant, dataflow, batch and the Airflow task (docs/contracts.md)."""

    tenant_id: str
    dataflow: str
    batch_id: str
    dag_id: str = ""
    run_id: str = ""
    task_id: str = ""
    step: str = "load"

    @classmethod
    def from_airflow_env(cls, batch: BatchRef, environ: Mapping[str, str] | None = None) -> QueryTag:
        """The tag of the running task: Airflow exports AIRFLOW_CTX_* into every task process."""
        env = os.environ if environ is None else environ
        return cls(
            batch.tenant_id,
            batch.dataflow,
            batch.batch_id,
            dag_id=env.get("AIRFLOW_CTX_DAG_ID", ""),
            run_id=env.get("AIRFLOW_CTX_DAG_RUN_ID", ""),
            task_id=env.get("AIRFLOW_CTX_TASK_ID", ""),
        )

    def payload(self) -> dict[str, Any]:
        """The same keys as dbt's query comment (macros/query_comment.sql), `model` null, plus `step`."""
        return {
            "app": "airlock",
            "tenant_id": self.tenant_id,
            "dataflow": self.dataflow,
            "batch_id": self.batch_id,
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "task_id": self.task_id,
            "model": None,
            "step": self.step,
        }

    def json(self) -> str:
        return json.dumps(self.payload()).replace("*/", "")

    def comment(self) -> str:
        return f"/* {self.json()} */"


def append_comment(sql: str, tag: QueryTag) -> str:
    """What `Warehouse.tag` does for warehouses that keep comments in their query history."""
    return f"{sql.rstrip().rstrip(';')}\n{tag.comment()}"


@dataclass(frozen=True)
class BatchLoad:
    """Everything one load needs: the tenant's space, the batch, its files and where they are."""

    space: TenantSpace
    batch: BatchRef
    snapshot_ts: str
    tables: Mapping[str, Sequence[str]]
    """Every table of the dataflow and its canonical columns (tables of absent optional files exist, empty)."""
    files: Sequence[SnapshotFile]
    raw: Storage
    workdir: Path
    tag: QueryTag
    retention: timedelta = timedelta(days=7)
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def retention_cutoff(self) -> str:
        """Batches loaded before this instant (ISO, UTC) leave the raw tables with this load."""
        return (self.loaded_at - self.retention).isoformat()

    def ledger_row(self, rows: Mapping[str, int]) -> tuple[str, ...]:
        return (
            self.batch.batch_id,
            self.snapshot_ts,
            self.loaded_at.isoformat(),
            json.dumps(dict(rows), sort_keys=True),
            self.tag.run_id,
        )


class Warehouse(Protocol):
    """What the kit needs from a warehouse. One module per warehouse implements it (see __init__)."""

    kind: ClassVar[str]

    @classmethod
    def from_config(cls, config: WarehouseConfig) -> Warehouse:
        """Build from the deployment's settings (no connection is opened here)."""

    @staticmethod
    def dbt_env(creds: WarehouseCredentials) -> dict[str, str]:
        """The AIRLOCK_<WAREHOUSE>_* variables profiles.yml reads, from a resolved Airflow connection."""

    @staticmethod
    def provisioning_sql(spaces: Sequence[TenantSpace], names: Mapping[str, str]) -> str:
        """The SQL an admin runs once (setup and each tenant's role/grants): `airlock warehouse sql`."""

    def ensure_tenant(self, space: TenantSpace) -> None:
        """Create the tenant's role and schemas if missing, or fail saying who must (idempotent)."""

    def load(self, load: BatchLoad) -> dict[str, int]:
        """Replace the batch's rows in the raw tables with the snapshot's, in one transaction; rows per table."""

    def tag(self, sql: str, tag: QueryTag) -> str:
        """`sql` as sent for this tenant and task (its cost-attribution tag attached)."""

    def tenant_schemas(self, space: TenantSpace) -> list[str]:
        """The tenant's schemas that exist now: models, raw and dbt's custom ones (offboarding checks none is left)."""

    def export_tenant(self, space: TenantSpace, dest: Path) -> dict[str, int]:
        """Every table of the tenant's schemas as `dest/<schema>/<table>.csv` (with a header); rows per table."""

    def drop_tenant(self, space: TenantSpace) -> list[str]:
        """Drop the tenant's schemas (and role, where the kit made it); return the schemas dropped. Idempotent."""


# -- shared SQL ------------------------------------------------------------------------------------
def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def ledger_ddl(schema_sql: str) -> str:
    cols = ", ".join(f"{c} varchar(1024)" for c in LEDGER_COLUMNS)
    return f"create table if not exists {schema_sql}.{LEDGER} ({cols})"


def replace_batch(cursor: Any, schema_sql: str, tables: Sequence[str], load: BatchLoad) -> list[str]:
    """Delete this batch's rows (if an earlier load left any) and those of batches past retention.

    Raw tables stay bounded (rows of the batches loaded within the retention) and exact (a batch's rows
    are those of its last load only). Runs inside the load's transaction; parameters are `%s` (DB-API format).
    Returns the batches that left by retention.
    """
    doomed = doomed_batches(cursor, schema_sql, load)
    forget_batches(cursor, schema_sql, tables, doomed, load)
    return [b for b in doomed if b != load.batch.batch_id]


def doomed_batches(cursor: Any, schema_sql: str, load: BatchLoad) -> list[str]:
    """The batches this load removes: its own earlier load (a retry) and those loaded before the retention.

    Only loads of this dataflow count (a ledger row names the tables it loaded): a tenant's dataflows share
    its raw schema and ledger, and often a batch id (`20261120`), so another dataflow's load of the same
    batch id is not a retry of this one. The ledger says which batches the tables hold, so a batch's first
    load (the common case) deletes nothing and scans nothing.
    """
    cursor.execute(
        f"select batch_id, rows_loaded from {schema_sql}.{LEDGER} where batch_id = %s or loaded_at < %s",  # noqa: S608
        (load.batch.batch_id, load.retention_cutoff),
    )
    return sorted({batch for batch, rows in cursor.fetchall() if _ledger_tables(rows) & set(load.tables)})


def _ledger_tables(rows_loaded: str | None) -> set[str]:
    try:
        loaded = json.loads(rows_loaded or "{}")
    except ValueError:
        return set()
    return set(loaded) if isinstance(loaded, dict) else set()


def forget_batches(cursor: Any, schema_sql: str, tables: Sequence[str], doomed: Sequence[str], load: BatchLoad) -> None:
    """Delete the rows of `doomed` batches from this load's tables, and this dataflow's ledger entries of them."""
    if not doomed:
        return
    marks = ", ".join("%s" for _ in doomed)
    for table in tables:
        cursor.execute(f"delete from {schema_sql}.{table} where _batch_id in ({marks})", doomed)  # noqa: S608
    cursor.execute(f"select batch_id, rows_loaded from {schema_sql}.{LEDGER} where batch_id in ({marks})", doomed)  # noqa: S608
    ours = [(b, r) for b, r in cursor.fetchall() if _ledger_tables(r) & set(load.tables)]
    for batch, rows in ours:
        cursor.execute(
            f"delete from {schema_sql}.{LEDGER} where batch_id = %s and rows_loaded = %s",  # noqa: S608
            (batch, rows),
        )


def record_batch(cursor: Any, schema_sql: str, load: BatchLoad, rows: Mapping[str, int]) -> None:
    marks = ", ".join("%s" for _ in LEDGER_COLUMNS)
    cursor.execute(f"insert into {schema_sql}.{LEDGER} values ({marks})", load.ledger_row(rows))  # noqa: S608


def check_rows(file: SnapshotFile, loaded: int, kind: str) -> None:
    """The warehouse's parser must see the rows the validator counted: else the two disagree on the file."""
    if loaded != file.rows:
        raise SnapshotIntegrityError(
            f"{file.key}: {kind} loaded {loaded} rows but the validator counted {file.rows}: the warehouse parses "
            "this file differently (quoting, blank lines, encoding). Nothing was loaded for the batch. Fix the "
            "file at the source and send the batch again."
        )


def export_query(cursor: Any, sql: str, dest: Path, batch_rows: int = 10_000) -> int:
    """Write a query's result to `dest` as CSV with a header, streaming; return the rows written."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    cursor.execute(sql)
    header = [d[0] for d in cursor.description]
    rows = 0
    with dest.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        while chunk := cursor.fetchmany(batch_rows):
            writer.writerows(chunk)
            rows += len(chunk)
    return rows


# -- reading snapshot files ---------------------------------------------------------------------------
class VerifiedReader:
    """Streams a snapshot file from raw storage, hashing what passes; `verify()` at EOF checks the manifest.

    Wherever a file passes through the worker its sha256 is checked: the check happens before the load's
    transaction commits, so a corrupted or swapped file never reaches a raw table.
    """

    def __init__(self, raw: Storage, file: SnapshotFile) -> None:
        self.file = file
        self._stream: BinaryIO = raw.open_read(file.key)
        self._digest = hashlib.sha256()
        self.size = 0

    def read(self, n: int = CHUNK) -> bytes:
        chunk = self._stream.read(n)
        self._digest.update(chunk)
        self.size += len(chunk)
        return chunk

    def chunks(self) -> Iterator[bytes]:
        while chunk := self.read():
            yield chunk

    def verify(self) -> None:
        digest = self._digest.hexdigest()
        if self.size != self.file.size or digest != self.file.sha256:
            raise SnapshotIntegrityError(
                f"{self.file.key}: read {self.size} bytes with sha256 {digest}, but the manifest records "
                f"{self.file.size} bytes with sha256 {self.file.sha256}. The snapshot was altered after it was "
                "committed: nothing was loaded. Restore the file from the bucket's versions, or re-deliver the batch."
            )

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> VerifiedReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def local_copy(raw: Storage, file: SnapshotFile, workdir: Path) -> Path:
    """A path on this machine holding the snapshot file, its sha256 checked against the manifest.

    A raw root on local disk is read in place (one hashing pass, no copy); from S3 the file is downloaded.
    """
    if isinstance(raw, LocalStorage):
        with VerifiedReader(raw, file) as reader:
            for _ in reader.chunks():
                pass
            reader.verify()
        return raw.root / file.key
    dest = workdir / file.file
    dest.parent.mkdir(parents=True, exist_ok=True)
    with VerifiedReader(raw, file) as reader, dest.open("wb") as out:
        for chunk in reader.chunks():
            out.write(chunk)
        reader.verify()
    return dest


def parse_header(line: bytes) -> list[str]:
    """A CSV header line as the validator reads it (UTF-8, BOM dropped, names stripped)."""
    text = line.decode("utf-8-sig").rstrip("\r\n")
    return [name.strip() for name in next(csv.reader([text]), [])]


def read_header(raw: Storage, file: SnapshotFile, limit: int = 1024 * 1024) -> list[str]:
    """The header of a CSV snapshot file, reading only its start (for loads that never stream the file)."""
    with raw.open_read(file.key) as stream:
        head = b""
        while len(head) < limit and (chunk := stream.read(64 * 1024)):
            head += chunk
            lines = head.removeprefix(BOM).splitlines(keepends=True)
            first = next((ln for ln in lines if ln.strip(b"\r\n")), None)
            if first is not None and first.endswith((b"\n", b"\r")):
                return parse_header(first)
        return parse_header(head.removeprefix(BOM).strip(b"\r\n"))


@dataclass(frozen=True)
class ColumnMap:
    """How a CSV file's columns (by header position) feed a table's canonical columns."""

    header: list[str]
    columns: Sequence[str]

    @property
    def positions(self) -> list[int]:
        """0-based position in the file of each canonical column (the validator made sure all exist)."""
        missing = [c for c in self.columns if c not in self.header]
        if missing:
            raise SnapshotIntegrityError(f"header {self.header} lacks {missing}: the manifest's file changed")
        return [self.header.index(c) for c in self.columns]

    @property
    def direct(self) -> bool:
        """True when the file holds exactly the canonical columns (any order): COPY can take it as is."""
        return len(self.header) == len(set(self.header)) and set(self.header) == set(self.columns)


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat()
