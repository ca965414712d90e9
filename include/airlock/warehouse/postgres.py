"""PostgreSQL (`AIRLOCK_WAREHOUSE=postgres`): `COPY … FROM STDIN` with psycopg 3, a role per tenant.

Isolation is the database's: the role `airlock_tenant_<id>` owns the tenant's schemas; no other tenant's
role has any privilege on them. The loader and dbt act as that role: `SET ROLE` on the shared connection
(profiles.yml `role:`), or a per-tenant connection that logs in as it (then no SQL a model runs can
reach another tenant). Even a superuser connection is bound by the role's privileges after `SET ROLE`.

The bulk path streams each snapshot file from the raw bucket into `COPY` (no temp file), hashing it on the
way: a sha256 mismatch aborts the COPY, so the transaction never commits. Meta columns take the batch's
values from transaction-local settings (`airlock.batch_id`, …) through their defaults, so COPY loads the
file's own bytes, as `psql \\copy` would. A file whose header is exactly the dataflow's columns (any order)
is copied straight into the raw table; one with extra columns, and JSON lines, go through a temp table.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from airlock.warehouse.base import (
    BOM,
    BatchLoad,
    ColumnMap,
    QueryTag,
    SnapshotFile,
    TenantNotProvisionedError,
    TenantSpace,
    VerifiedReader,
    WarehouseError,
    WarehouseUnavailableError,
    append_comment,
    check_rows,
    export_query,
    ledger_ddl,
    parse_header,
    quote_ident,
    record_batch,
    replace_batch,
)

if TYPE_CHECKING:
    import psycopg

    from airlock.warehouse.config import WarehouseConfig
    from airlock.warehouse.credentials import WarehouseCredentials

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10
SETTINGS = {
    "_batch_id": "airlock.batch_id",
    "_snapshot_ts": "airlock.snapshot_ts",
    "_source_file": "airlock.source_file",
}
"""Meta column → the transaction-local setting its default reads (set by the loader, per file)."""
JSON_QUOTE = b"\x01"
"""JSON lines are copied as one CSV field with quote \\x01 and delimiter \\x02: bytes valid JSON never holds."""


def tenant_sql(space: TenantSpace, database: str, loader: str) -> str:
    """The SQL that provisions a tenant (role, schemas, grants): what `ensure_tenant` runs, and what an admin
    runs by hand where the loader may not create roles (`airlock warehouse sql --kind postgres`)."""
    template = resources.files("airlock.warehouse").joinpath("sql/postgres/tenant.sql").read_text("utf-8")
    return template.format(
        tenant_id=space.tenant_id,
        role=quote_ident(space.role),
        role_literal=space.role,
        schema=quote_ident(space.schema),
        raw_schema=quote_ident(space.raw_schema),
        database=quote_ident(database),
        loader=quote_ident(loader),
        loader_literal=loader.replace("'", "''"),
    )


class PostgresWarehouse:
    """`Warehouse` on PostgreSQL; credentials from the Airflow connection (per tenant if it has one)."""

    kind: ClassVar[str] = "postgres"

    def __init__(self, credentials: Callable[[str], WarehouseCredentials]) -> None:
        self._credentials = credentials

    @classmethod
    def from_config(cls, config: WarehouseConfig) -> PostgresWarehouse:
        from airlock.warehouse.credentials import resolve

        return cls(lambda tenant_id: resolve(config.conn_id, tenant_id))

    @staticmethod
    def dbt_env(creds: WarehouseCredentials) -> dict[str, str]:
        return {
            "AIRLOCK_PG_HOST": creds.host or "",
            "AIRLOCK_PG_PORT": str(creds.port or 5432),
            "AIRLOCK_PG_USER": creds.login or "",
            "AIRLOCK_PG_PASSWORD": creds.password or "",
            "AIRLOCK_PG_DATABASE": creds.database or "",
            "AIRLOCK_PG_SSLMODE": str(creds.extra.get("sslmode") or ""),
        }

    @staticmethod
    def provisioning_sql(spaces: Sequence[TenantSpace], names: Mapping[str, str]) -> str:
        """What an admin runs where the loader may not create roles: its login, then each tenant."""
        database, loader = names.get("database", "airlock"), names.get("loader", "airlock_loader")
        login = (
            f"-- The loader's login: NOINHERIT, so it holds a tenant's privileges only after SET ROLE.\n"
            f"-- create role {quote_ident(loader)} login noinherit password '…';\n"
        )
        return login + "\n".join(tenant_sql(space, database, loader) for space in spaces)

    def tag(self, sql: str, tag: QueryTag) -> str:
        return append_comment(sql, tag)

    # -- connections --------------------------------------------------------------------------------
    @contextmanager
    def connect(self, tenant_id: str, application_name: str = "airlock") -> Iterator[psycopg.Connection]:
        """A connection for the tenant; unreachable → WarehouseUnavailableError saying what to do."""
        import psycopg

        creds = self._credentials(tenant_id)
        where = f"{creds.host}:{creds.port or 5432}/{creds.database} (connection {creds.conn_id})"
        try:
            conn = psycopg.connect(
                host=creds.host,
                port=creds.port or 5432,
                user=creds.login,
                password=creds.password,
                dbname=creds.database,
                sslmode=str(creds.extra.get("sslmode") or "prefer"),
                connect_timeout=CONNECT_TIMEOUT_S,
                application_name=application_name[:63],
                autocommit=True,  # transactions are explicit: `with conn.transaction()`
            )
        except psycopg.OperationalError as exc:
            raise _unavailable(where, exc) from None
        try:
            yield conn
        except psycopg.OperationalError as exc:
            raise _unavailable(where, exc) from None
        except psycopg.Error as exc:
            raise WarehouseError(f"PostgreSQL refused the statement: {_message(exc)}") from None
        finally:
            conn.close()

    # -- the interface ------------------------------------------------------------------------------
    def ensure_tenant(self, space: TenantSpace) -> None:
        """Role `airlock_tenant_<id>` owning `<schema>` and `<schema>_raw`; created if missing and allowed."""
        import psycopg

        with self.connect(space.tenant_id, f"airlock:provision:{space.tenant_id}") as conn, conn.transaction():
            conn.execute("select pg_advisory_xact_lock(hashtext(%s))", [space.role])
            if _provisioned(conn, space):
                return
            database, loader = conn.execute("select current_database(), session_user").fetchone()  # type: ignore[misc]
            owners = _schema_owners(conn, space)
            strangers = {s: o for s, o in owners.items() if o != space.role}
            if strangers:
                raise TenantNotProvisionedError(
                    f"schemas {strangers} exist but are not owned by {space.role}: another role created them. "
                    f"Tenant {space.tenant_id} will not load into schemas it does not own; an admin must drop or "
                    "re-own them (ALTER SCHEMA … OWNER TO …) after checking who made them."
                )
            try:
                conn.execute(tenant_sql(space, database, loader))
            except psycopg.errors.InsufficientPrivilege as exc:
                raise TenantNotProvisionedError(
                    f"tenant {space.tenant_id} has no role/schemas on the warehouse and connection user {loader} may "
                    f"not create them ({_message(exc)}). An admin runs the output of "
                    f"`airlock warehouse sql --kind postgres --tenant {space.tenant_id}` once."
                ) from None

    def tenant_schemas(self, space: TenantSpace) -> list[str]:
        """The schemas the tenant's role owns (its models, raw and dbt's custom schemas), whatever their names."""
        with self.connect(space.tenant_id, f"airlock:offboard:{space.tenant_id}") as conn:
            rows = conn.execute(
                "select nspname from pg_namespace where pg_get_userbyid(nspowner) = %s order by 1", [space.role]
            ).fetchall()
        return [r[0] for r in rows]

    def export_tenant(self, space: TenantSpace, dest: Path) -> dict[str, int]:
        """As the tenant's role (it can read nothing else): every table of its schemas."""
        schemas = self.tenant_schemas(space)
        rows: dict[str, int] = {}
        with self.connect(space.tenant_id, f"airlock:export:{space.tenant_id}") as conn, conn.cursor() as cur:
            cur.execute(f"set role {quote_ident(space.role)}")
            cur.execute(
                "select table_schema, table_name from information_schema.tables where table_schema = any(%s) "
                "order by 1, 2",
                [schemas],
            )
            for schema, table in cur.fetchall():
                sql = f"select * from {quote_ident(schema)}.{quote_ident(table)}"  # noqa: S608
                rows[f"{schema}.{table}"] = export_query(cur, sql, dest / schema / f"{table}.csv")
        return rows

    def drop_tenant(self, space: TenantSpace) -> list[str]:
        """Drop its schemas as the tenant's role, then the role (the loader made it, so the loader may drop it)."""
        import psycopg

        schemas = self.tenant_schemas(space)
        with self.connect(space.tenant_id, f"airlock:offboard:{space.tenant_id}") as conn, conn.transaction():
            exists = conn.execute("select 1 from pg_roles where rolname = %s", [space.role]).fetchone()
            if not exists:
                return schemas
            conn.execute(f"set local role {quote_ident(space.role)}")
            for schema in schemas:
                conn.execute(f"drop schema if exists {quote_ident(schema)} cascade")
            conn.execute("reset role")
            try:
                conn.execute(f"drop owned by {quote_ident(space.role)}")  # its grants (create on the database)
                conn.execute(f"drop role {quote_ident(space.role)}")
            except psycopg.errors.InsufficientPrivilege as exc:
                raise TenantNotProvisionedError(
                    f"tenant {space.tenant_id}: its schemas are dropped, but the connection may not drop role "
                    f"{space.role} ({_message(exc)}). An admin runs: "
                    f"drop owned by {space.role}; drop role {space.role};"
                ) from None
        return schemas

    def load(self, load: BatchLoad) -> dict[str, int]:
        space, tag = load.space, load.tag
        with self.connect(space.tenant_id, f"airlock:load:{load.batch.partition_key}") as conn:
            conn.execute(self.tag(f"set role {quote_ident(space.role)}", tag))
            with conn.transaction():
                self._create_tables(conn, load)
            with conn.transaction(), conn.cursor() as cur:
                schema = quote_ident(space.raw_schema)
                expired = replace_batch(_Tagged(cur, self, tag), schema, [quote_ident(t) for t in load.tables], load)
                rows: dict[str, int] = dict.fromkeys(load.tables, 0)
                for index, file in enumerate(load.files):
                    _set_meta(cur, load, file)
                    loaded = self._copy(cur, load, file, index)
                    check_rows(file, loaded, "PostgreSQL")
                    rows[file.table] += loaded
                record_batch(_Tagged(cur, self, tag), schema, load, rows)
        if expired:
            log.info("retention: dropped batches %s from %s", expired, space.raw_schema)
        return rows

    # -- internals ----------------------------------------------------------------------------------
    def _create_tables(self, conn: psycopg.Connection, load: BatchLoad) -> None:
        """Raw tables and the ledger, as the tenant's role; columns a dataflow gained are added (never dropped)."""
        schema = quote_ident(load.space.raw_schema)
        conn.execute("select pg_advisory_xact_lock(hashtext(%s))", [load.space.raw_schema])
        conn.execute(self.tag(ledger_ddl(schema), load.tag))
        existing: dict[str, set[str]] = {}
        for table, column in conn.execute(
            "select table_name, column_name from information_schema.columns where table_schema = %s",
            [load.space.raw_schema],
        ):
            existing.setdefault(table, set()).add(column)
        for table, columns in load.tables.items():
            name = f"{schema}.{quote_ident(table)}"
            if table not in existing:
                cols = ", ".join(f"{quote_ident(c)} text" for c in columns)
                meta = ", ".join(
                    f"{col} text not null default current_setting('{setting}')" for col, setting in SETTINGS.items()
                )
                conn.execute(
                    self.tag(
                        f"create table {name} ({cols}, {meta}, _loaded_at timestamptz not null default now())", load.tag
                    )
                )
                # BRIN: a batch's rows are appended together, so block ranges map to batches; it costs next to
                # nothing to maintain during COPY (a btree index on _batch_id measured 2x the COPY time).
                conn.execute(self.tag(f"create index on {name} using brin (_batch_id)", load.tag))
                continue
            for column in (c for c in columns if c not in existing[table]):
                conn.execute(self.tag(f"alter table {name} add column {quote_ident(column)} text", load.tag))

    def _copy(self, cur: psycopg.Cursor, load: BatchLoad, file: SnapshotFile, index: int) -> int:
        table = f"{quote_ident(load.space.raw_schema)}.{quote_ident(file.table)}"
        columns = list(load.tables[file.table])
        with VerifiedReader(load.raw, file) as reader:
            if file.format == "jsonl":
                stream = CopyStream(reader.chunks(), quote=JSON_QUOTE)
                tmp = f"_airlock_load_{index}"
                cur.execute(self.tag(f"create temp table {tmp} (doc text) on commit drop", load.tag))
                self._pump(
                    cur,
                    f"copy {tmp} from stdin with (format csv, quote e'\\x01', delimiter e'\\x02')",
                    stream,
                    reader,
                    load.tag,
                )
                picks = ", ".join(f"j ->> '{c}'" for c in columns)
                # OFFSET 0 keeps the subquery: each line is parsed once, not once per column
                docs = f"(select doc::jsonb as j from {tmp} where btrim(doc, e' \\t\\r') <> '' offset 0) as lines"  # noqa: S608
                return self._insert(cur, f"insert into {table} ({_cols(columns)}) select {picks} from {docs}", load.tag)  # noqa: S608
            stream = CopyStream(reader.chunks())
            mapping = ColumnMap(stream.header(), columns)
            if mapping.direct:
                self._pump(
                    cur,
                    f"copy {table} ({_cols(mapping.header)}) from stdin with (format csv)",
                    stream,
                    reader,
                    load.tag,
                )
                return cur.rowcount
            tmp = f"_airlock_load_{index}"
            fields = ", ".join(f"c{i} text" for i in range(len(mapping.header)))
            cur.execute(self.tag(f"create temp table {tmp} ({fields}) on commit drop", load.tag))
            self._pump(cur, f"copy {tmp} from stdin with (format csv)", stream, reader, load.tag)
            picks = ", ".join(f"c{i}" for i in mapping.positions)
            return self._insert(cur, f"insert into {table} ({_cols(columns)}) select {picks} from {tmp}", load.tag)  # noqa: S608

    def _pump(
        self, cur: psycopg.Cursor, sql: str, chunks: Iterable[bytes], reader: VerifiedReader, tag: QueryTag
    ) -> None:
        with cur.copy(self.tag(sql, tag)) as copy:
            for chunk in chunks:
                copy.write(chunk)
            reader.verify()  # raising here aborts the COPY: the transaction never commits

    def _insert(self, cur: psycopg.Cursor, sql: str, tag: QueryTag) -> int:
        cur.execute(self.tag(sql, tag))
        return cur.rowcount


def _cols(columns: Sequence[str]) -> str:
    return ", ".join(quote_ident(c) for c in columns)


def _set_meta(cur: psycopg.Cursor, load: BatchLoad, file: SnapshotFile) -> None:
    """The values the meta columns' defaults read, for this file (transaction-local)."""
    values = {
        "airlock.batch_id": load.batch.batch_id,
        "airlock.snapshot_ts": load.snapshot_ts,
        "airlock.source_file": file.key,
    }
    for setting, value in values.items():
        cur.execute("select set_config(%s, %s, true)", [setting, value])


def _provisioned(conn: psycopg.Connection, space: TenantSpace) -> bool:
    member = conn.execute(
        "select exists (select from pg_roles where rolname = %s) and pg_has_role(session_user, %s, 'member')",
        [space.role, space.role],
    ).fetchone()
    owners = _schema_owners(conn, space)
    return bool(member and member[0]) and all(owners.get(s) == space.role for s in (space.schema, space.raw_schema))


def _schema_owners(conn: psycopg.Connection, space: TenantSpace) -> dict[str, str]:
    rows = conn.execute(
        "select nspname, pg_get_userbyid(nspowner) from pg_namespace where nspname = any(%s)",
        [[space.schema, space.raw_schema]],
    ).fetchall()
    return {name: owner for name, owner in rows}


def _message(exc: Exception) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(exc).splitlines()[0]
    extra = [getattr(diag, name, None) for name in ("message_detail", "context")]
    details = "; ".join(" ".join(str(e).split()) for e in extra if e)
    return f"{primary} ({details})" if details else primary


def _unavailable(where: str, exc: Exception) -> WarehouseUnavailableError:
    return WarehouseUnavailableError(
        f"the PostgreSQL warehouse at {where} is unreachable: {_message(exc)}. Nothing of this batch was committed. "
        "The task retries; once the warehouse is back, a re-run (clear the failed run) loads the batch exactly once."
    )


class _Tagged:
    """A cursor whose statements carry the load's cost-attribution comment (for the shared ledger SQL)."""

    def __init__(self, cursor: Any, warehouse: PostgresWarehouse, tag: QueryTag) -> None:
        self._cursor, self._warehouse, self._tag = cursor, warehouse, tag

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self._cursor.execute(self._warehouse.tag(sql, self._tag), list(params))

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()


_BLANK = re.compile(rb"\n(?=\r?\n)")


class CopyStream:
    """A CSV file's bytes as COPY must see them: BOM, header and blank lines dropped, quoted newlines kept.

    PostgreSQL's COPY rejects a blank line ("missing data for column"), which the validator (and every
    spreadsheet) accepts, so blank lines are removed on the way: a line is blank if it ends a line outside
    quotes (quote parity, as COPY itself finds line ends). The work is C-speed scans of each chunk, the slow
    path only runs where a blank line is.
    """

    def __init__(self, chunks: Iterator[bytes], quote: bytes = b'"') -> None:
        self._chunks = chunks
        self._quote = quote
        self._pending = b""
        self._in_quote = False
        self._line_start = True
        self._started = False

    def _first(self) -> None:
        if not self._started:
            self._started = True
            self._pending = self._next().removeprefix(BOM)

    def _next(self) -> bytes:
        return next(self._chunks, b"")

    def header(self) -> list[str]:
        """Consume the BOM, leading blank lines and the header line; return the header's names."""
        self._first()
        while True:
            stripped = self._pending.lstrip(b"\r\n")
            end = stripped.find(b"\n")
            if end >= 0:
                self._pending = stripped[end + 1 :]
                return parse_header(stripped[: end + 1])
            more = self._next()
            if not more:
                self._pending = b""
                return parse_header(stripped)
            self._pending = stripped + more

    def __iter__(self) -> Iterator[bytes]:
        self._first()
        carry = self._pending
        while True:
            chunk = self._next()
            data = carry + chunk
            if not chunk:
                if data:
                    yield self._filter(data)
                return
            cut = data.rfind(b"\n") + 1
            carry = data[cut:]
            if cut:
                yield self._filter(data[:cut])

    def _filter(self, data: bytes) -> bytes:
        q = self._quote
        if self._line_start and not self._in_quote:
            data = data.lstrip(b"\r\n") if data[:1] in (b"\n", b"\r") else data
            if not data:
                return data  # only blank lines: still at a line start
        if b"\n\n" not in data and b"\n\r\n" not in data:
            self._advance(data.count(q))
            self._line_start = data.endswith(b"\n") and not self._in_quote
            return data
        kept, start, scanned, in_quote = [], 0, 0, self._in_quote
        for match in _BLANK.finditer(data):
            pos = match.start()
            if data.count(q, scanned, pos) & 1:
                in_quote = not in_quote
            scanned = pos
            if in_quote:
                continue
            end = pos + (3 if data[pos + 1 : pos + 2] == b"\r" else 2)
            if pos + 1 > start:
                kept.append(data[start : pos + 1])
            start = end
        kept.append(data[start:])
        if data.count(q, scanned) & 1:
            in_quote = not in_quote
        self._in_quote = in_quote
        out = b"".join(kept)
        self._line_start = out.endswith(b"\n") and not in_quote
        return out

    def _advance(self, quotes: int) -> None:
        if quotes & 1:
            self._in_quote = not self._in_quote
