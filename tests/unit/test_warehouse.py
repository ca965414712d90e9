"""The warehouse package without a warehouse: configuration, credentials, tags and the COPY byte stream."""

from __future__ import annotations

import csv
import io
import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airlock.errors import ConfigError
from airlock.landing import BatchRef
from airlock.settings import load_settings
from airlock.warehouse import QueryTag, load_warehouse_config, warehouse_class
from airlock.warehouse.base import ColumnMap, CredentialsError, parse_header
from airlock.warehouse.credentials import dbt_env, resolve
from airlock.warehouse.postgres import CopyStream, batch_child


def _config(**env: str):
    return load_warehouse_config(load_settings({"AIRLOCK_HOME": "/srv/airlock", **env}), env)


@pytest.mark.parametrize(
    ("env", "kind"),
    [
        ({}, "local"),
        ({"AIRLOCK_DBT_TARGET": "postgres"}, "postgres"),
        ({"AIRLOCK_DBT_TARGET": "prod"}, "local"),
        ({"AIRLOCK_DBT_TARGET": "prod", "AIRLOCK_WAREHOUSE": "snowflake"}, "snowflake"),
        ({"AIRLOCK_WAREHOUSE": "redshift"}, "redshift"),
    ],
)
def test_the_warehouse_follows_the_setting_then_the_dbt_target(env: dict[str, str], kind: str) -> None:
    config = _config(**env)
    assert config.kind == kind
    assert warehouse_class(kind).kind == kind


def test_bad_settings_name_the_variable_and_the_fix() -> None:
    kinds = "local, postgres, snowflake, redshift"
    with pytest.raises(ConfigError, match=f"AIRLOCK_WAREHOUSE='oracle': use one of {kinds}"):
        _config(AIRLOCK_WAREHOUSE="oracle")
    with pytest.raises(ConfigError, match="AIRLOCK_RAW_RETENTION='10m' is shorter than 1h"):
        _config(AIRLOCK_RAW_RETENTION="10m")
    assert _config(AIRLOCK_RAW_RETENTION="2d").retention.days == 2


def test_the_tenants_own_connection_wins_and_a_missing_one_says_where_to_put_it(monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AIRLOCK_WAREHOUSE", "postgresql://loader:s3cret@db.internal:6432/analytics")
    monkeypatch.setenv(
        "AIRFLOW_CONN_AIRLOCK_WAREHOUSE_GLOBEX", "postgresql://airlock_tenant_globex:x@db.internal/analytics"
    )
    shared = resolve("airlock_warehouse", "acme")
    assert (shared.conn_id, shared.login, shared.port, shared.database) == (
        "airlock_warehouse",
        "loader",
        6432,
        "analytics",
    )
    assert "s3cret" not in repr(shared)  # secrets stay out of logs and tracebacks
    assert resolve("airlock_warehouse", "globex").login == "airlock_tenant_globex"
    assert dbt_env("postgres", shared) == {
        "AIRLOCK_PG_HOST": "db.internal",
        "AIRLOCK_PG_PORT": "6432",
        "AIRLOCK_PG_USER": "loader",
        "AIRLOCK_PG_PASSWORD": "s3cret",
        "AIRLOCK_PG_DATABASE": "analytics",
    }
    with pytest.raises(CredentialsError, match="no Airflow connection nowhere_acme or nowhere: create nowhere"):
        resolve("nowhere", "acme")


def test_a_statement_is_tagged_like_dbts_own(monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "process_orders")
    monkeypatch.setenv("AIRFLOW_CTX_DAG_RUN_ID", "run-7")
    monkeypatch.setenv("AIRFLOW_CTX_TASK_ID", "load")
    tag = QueryTag.from_airflow_env(BatchRef("acme", "orders", "20261120"))
    sql = warehouse_class("postgres").tag(warehouse_class("postgres"), "copy t from stdin;", tag)
    assert sql.startswith("copy t from stdin\n/* {")
    payload = json.loads(sql[sql.index("/* ") + 3 : sql.rindex(" */")])
    assert payload == {
        "app": "airlock",
        "tenant_id": "acme",
        "dataflow": "orders",
        "batch_id": "20261120",
        "dag_id": "process_orders",
        "run_id": "run-7",
        "task_id": "load",
        "model": None,
        "step": "load",
    }


def test_a_header_maps_by_name_and_copies_directly_only_when_it_holds_exactly_the_columns() -> None:
    assert parse_header(b"\xef\xbb\xbf order_id ,amount\r\n") == ["order_id", "amount"]
    exact = ColumnMap(["amount", "order_id"], ["order_id", "amount"])
    assert exact.direct and exact.positions == [1, 0]
    extra = ColumnMap(["segment", "amount", "order_id"], ["order_id", "amount"])
    assert not extra.direct and extra.positions == [2, 1]


# -- the bytes COPY sees -----------------------------------------------------------------------------
_field = st.text(alphabet=st.sampled_from(list('ab,"\n x')), max_size=6)  # a lone CR is COPY's error to give
_rows = st.lists(st.lists(_field, min_size=2, max_size=2), min_size=0, max_size=12)


def _csv(rows: list[list[str]], newline: str) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator=newline).writerows(rows)
    return out.getvalue()


def _chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


@settings(max_examples=300, deadline=None)
@given(
    rows=_rows,
    newline=st.sampled_from(["\n", "\r\n"]),
    blanks=st.lists(st.integers(min_value=0, max_value=12), max_size=4),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
    bom=st.booleans(),
)
def test_copy_stream_drops_exactly_the_blank_lines_the_validator_skips(rows, newline, blanks, cuts, bom) -> None:
    """Whatever the chunking, COPY gets the header-less rows the validator counted, quoted newlines intact."""
    rows = [r for r in rows if any(r)]  # a row of empty fields is a blank line to csv.reader too
    lines = _csv([["h1", "h2"], *rows], newline).splitlines(keepends=True)
    for position in sorted(blanks, reverse=True):  # blank lines between records, outside quotes
        if rows:
            boundary = _record_starts(lines)[min(position, len(rows))]
            lines.insert(boundary, newline)
    text = "".join(lines) + newline
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode()
    stream = CopyStream(iter(_chunked(data, cuts)))
    assert stream.header() == ["h1", "h2"]
    copied = b"".join(stream).decode()
    validated = [row for row in csv.reader(io.StringIO(text, newline="")) if row][1:]  # as validation.py reads it
    assert list(csv.reader(io.StringIO(copied, newline=""))) == validated


def _record_starts(lines: list[str]) -> list[int]:
    """Indexes in `lines` (split on newlines) where a CSV record starts, after the header."""
    starts, in_quote = [], False
    for index, line in enumerate(lines):
        if not in_quote and index > 0:
            starts.append(index)
        in_quote ^= line.count('"') % 2 == 1
    return [*starts, len(lines)]


@given(
    table=st.from_regex(r"[a-z][a-z0-9_]{1,31}", fullmatch=True),
    batches=st.lists(
        st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", fullmatch=True), min_size=2, max_size=2, unique=True
    ),
)
def test_a_batchs_child_table_name_fits_postgres_and_is_its_own(table: str, batches: list[str]) -> None:
    """Any dataflow table and batch id the registry allows: names within 63 bytes, one per batch, never a table's."""
    names = [batch_child(table, b, staging=s) for b in batches for s in (False, True)]
    assert all(len(n.encode()) <= 63 and n.startswith("_") for n in names)
    assert len(set(names)) == 4
    if len(table) + len(batches[0]) <= 60:
        assert batch_child(table, batches[0]) == f"_{table}__{batches[0]}"


def test_airlock_warehouse_sql_prints_each_tenants_grants(capsys, monkeypatch) -> None:
    from airlock.cli import main

    monkeypatch.setenv("AIRLOCK_WAREHOUSE", "redshift")
    arn = "arn:aws:iam::123456789012:role/airlock-prod-redshift-raw-reader"
    assert main(["warehouse", "sql", "--tenant", "acme", "--set", f"iam_role_arn={arn}"]) == 0
    out = capsys.readouterr().out
    assert "create schema if not exists tenant_acme_raw authorization airlock_tenant_acme;" in out
    assert f"grant assumerole on '{arn}' to airlock_tenant_acme for copy;" in out
    assert main(["warehouse", "sql", "--kind", "snowflake", "--tenant", "acme"]) == 2
    assert "--set iam_role_arn=" in capsys.readouterr().err


def test_dbt_tasks_on_the_worker_get_their_tenants_credentials_at_run_time(monkeypatch) -> None:
    """The Cosmos interceptor: a local dbt task gets AIRLOCK_PG_* from the tenant's connection; nothing is rendered."""
    from cosmos.operators.local import DbtRunLocalOperator

    from airlock.warehouse.credentials import inject_dbt_credentials

    monkeypatch.setenv("AIRLOCK_WAREHOUSE", "postgres")
    monkeypatch.setenv("AIRFLOW_CONN_AIRLOCK_WAREHOUSE", "postgresql://loader:pw@db:5432/analytics")
    monkeypatch.setenv("AIRFLOW_CONN_AIRLOCK_WAREHOUSE_ACME", "postgresql://airlock_tenant_acme:apw@db:5432/analytics")
    operator = DbtRunLocalOperator(
        task_id="stg_orders_run", project_dir="/tmp/project", profile_config=None, vars={"tenant_id": "acme"}
    )
    operator.env = {"AIRLOCK_DBT_TARGET": "postgres"}
    inject_dbt_credentials({}, operator)
    assert operator.env["AIRLOCK_PG_USER"] == "airlock_tenant_acme"
    assert operator.env["AIRLOCK_PG_PASSWORD"] == "apw"
    assert operator.env["AIRLOCK_DBT_TARGET"] == "postgres"
    container = type("EcsOperator", (), {"vars": {"tenant_id": "acme"}, "env": {}})()
    inject_dbt_credentials({}, container)
    assert container.env == {}  # containers get secrets from their task definition, never from overrides
