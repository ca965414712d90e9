"""Bring your own dbt project (docs/byo-dbt-project.md): a third-party-shaped project, configured, not edited.

The project is built here the way a team has it: its own name and profile (`shop_warehouse`, target `dev`),
its own folders and source names, a selectors.yml, none of the kit's macros (no generate_schema_name, no
query comment, no run guards). airlock is pointed at it with AIRLOCK_DBT_* variables and a dataflow YAML
whose `dbt_selector` names one of its selectors. Everything runs for real: dbt parse, the DAG's rendering,
the build task with the runner in dbt's venv.
"""

from __future__ import annotations

import os
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import airflow  # noqa: F401 - before cosmos (FIELD-NOTES: import-order trap)
import duckdb
import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException

from airlock.errors import ConfigError
from airlock.settings import load_settings
from airlock.tenants import load_dataflows
from airlock.transform.config import ManifestError
from airlock.transform.steps import dbt_steps
from tests.dbt.conftest import DBT, REPO, run_context

PROJECT_YML = """name: shop_analytics
version: "2.3.0"
config-version: 2
profile: shop_warehouse
model-paths: ["transformations"]
models:
  shop_analytics:
    base: {+materialized: view}
    reporting: {+materialized: table}
"""
PROFILES_YML = """shop_warehouse:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{{ env_var('AIRLOCK_WAREHOUSE_DIR') }}/{{ var('tenant_id', 'dev') }}.duckdb"
      schema: "{{ var('tenant_schema', 'analytics') }}"
      threads: 2
"""
FIXED_SCHEMA_PROFILES_YML = PROFILES_YML.replace("\"{{ var('tenant_schema', 'analytics') }}\"", "analytics")
SELECTORS_YML = """selectors:
  - name: daily_sales
    definition:
      union:
        - method: path
          value: transformations/base
        - method: path
          value: transformations/reporting
"""
SOURCES_YML = """version: 2
sources:
  - name: shop
    schema: "{{ var('tenant_schema', 'analytics') }}_raw"
    tables: [{name: orders}]
models:
  - name: base_orders
    columns:
      - name: order_id
        data_tests: [not_null, unique]
"""
BASE_ORDERS = (
    "select cast(order_id as integer) as order_id, cast(amount as double) as amount\n"
    "from {{ source('shop', 'orders') }}\n"
)
DAILY_REVENUE = "select count(*) as orders, sum(amount) as revenue from {{ ref('base_orders') }}\n"
DATAFLOW_YML = """dataflow: sales
description: Daily sales from the shop's own dbt project.
dbt_selector: daily_sales
tables:
  orders:
    columns: [order_id, amount]
"""
UNMATCHED_YML = """dataflow: returns
dbt_tag: returns
tables:
  returns:
    columns: [order_id]
"""


def write_project(root: Path, profiles: str = PROFILES_YML) -> Path:
    (root / "transformations" / "base").mkdir(parents=True)
    (root / "transformations" / "reporting").mkdir(parents=True)
    (root / "dbt_project.yml").write_text(PROJECT_YML)
    (root / "profiles.yml").write_text(profiles)
    (root / "selectors.yml").write_text(SELECTORS_YML)
    (root / "transformations" / "base" / "_sources.yml").write_text(SOURCES_YML)
    (root / "transformations" / "base" / "base_orders.sql").write_text(BASE_ORDERS)
    (root / "transformations" / "reporting" / "daily_revenue.sql").write_text(DAILY_REVENUE)
    return root


def parse(project: Path, warehouse: Path) -> None:
    env = {**os.environ, "AIRLOCK_WAREHOUSE_DIR": str(warehouse), "DO_NOT_TRACK": "1"}
    done = subprocess.run(
        [str(DBT), "parse", "--project-dir", str(project), "--profiles-dir", str(project), "--target", "dev"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def load_orders(warehouse: Path, tenant: str, rows: list[tuple[str, str]]) -> None:
    con = duckdb.connect(str(warehouse / f"{tenant}.duckdb"))
    con.execute(f"create schema if not exists tenant_{tenant}_raw")
    con.execute(f"create or replace table tenant_{tenant}_raw.orders (order_id varchar, amount varchar)")
    con.executemany(f"insert into tenant_{tenant}_raw.orders values (?, ?)", rows)
    con.close()


@pytest.fixture
def byo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    warehouse = tmp_path / "warehouse"
    warehouse.mkdir()
    dataflows = tmp_path / "dataflows"
    dataflows.mkdir()
    (dataflows / "sales.yaml").write_text(DATAFLOW_YML)
    env = {
        "AIRLOCK_HOME": str(REPO),
        "AIRLOCK_DATAFLOWS_DIR": str(dataflows),
        "AIRLOCK_RAW_URL": str(tmp_path / "raw"),
        "AIRLOCK_DBT_PROJECT_DIR": str(write_project(tmp_path / "shop")),
        "AIRLOCK_DBT_TARGET": "dev",
        "AIRLOCK_WAREHOUSE_DIR": str(warehouse),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return {**env, "warehouse": warehouse, "project": tmp_path / "shop", "dataflows": dataflows}


def render(env: dict[str, Any], dataflow: str = "sales") -> Any:
    environ = {k: v for k, v in env.items() if isinstance(v, str)}
    settings = load_settings(environ)
    with DAG(f"process_{dataflow}", schedule=None, start_date=datetime(2026, 1, 1)):
        return dbt_steps(load_dataflows(settings.dataflows_dir)[dataflow], settings, environ=environ)


def test_a_third_party_project_runs_by_configuration_one_tenant_per_schema(byo: dict[str, Any]) -> None:
    parse(byo["project"], byo["warehouse"])
    steps = render(byo)
    build = steps.entry
    assert build.runtime.project.profile == "shop_warehouse", "the profile comes from the project's dbt_project.yml"
    assert build.selection.dbt_args() == ["--selector", "daily_sales"]
    assert sorted(n.name for n in build.selection.models) == ["base_orders", "daily_revenue"]
    assert sorted(o.name for o in build.outlets) == [
        "dbt/shop_analytics/base_orders",
        "dbt/shop_analytics/daily_revenue",
    ]
    load_orders(byo["warehouse"], "acme", [("1", "10.5"), ("2", "4.5")])
    load_orders(byo["warehouse"], "initech", [("7", "100")])
    for tenant in ("acme", "initech"):
        report = build.execute(run_context(tenant, "sales", claimed_at=tenant))
        assert report["outcome"] == "success", report
    acme = duckdb.connect(str(byo["warehouse"] / "acme.duckdb"), read_only=True)
    assert acme.execute("select orders, revenue from tenant_acme.daily_revenue").fetchall() == [(2, 15.0)]
    schemas = {r[0] for r in acme.execute("select distinct table_schema from information_schema.tables").fetchall()}
    acme.close()
    assert schemas == {"tenant_acme", "tenant_acme_raw"}, "nothing of initech's, nothing outside acme's schemas"


def test_a_project_without_the_kits_schema_macro_still_cannot_mix_tenants(byo: dict[str, Any]) -> None:
    (byo["project"] / "profiles.yml").write_text(FIXED_SCHEMA_PROFILES_YML)  # every tenant into `analytics`
    parse(byo["project"], byo["warehouse"])
    load_orders(byo["warehouse"], "acme", [("1", "10.5")])
    with pytest.raises(AirflowFailException, match=r"would be written outside tenant schema tenant_acme") as refusal:
        render(byo).entry.execute(run_context("acme", "sales"))
    assert "model.shop_analytics.base_orders → acme.analytics" in str(refusal.value)
    acme = duckdb.connect(str(byo["warehouse"] / "acme.duckdb"), read_only=True)
    assert acme.execute(
        "select count(*) from information_schema.schemata where schema_name = 'analytics'"
    ).fetchall() == [(0,)]
    acme.close()


def test_a_dataflow_whose_selection_matches_no_model_fails_at_parse_naming_it_and_the_fix(byo: dict[str, Any]) -> None:
    parse(byo["project"], byo["warehouse"])
    (byo["dataflows"] / "returns.yaml").write_text(UNMATCHED_YML)
    with pytest.raises(
        ConfigError, match=r"dataflow returns: dbt selection `--select tag:returns` matches no model"
    ) as error:
        render(byo, "returns")
    assert "Fix: tag the dataflow's models `returns`" in str(error.value) and "dbt_selector" in str(error.value)


def test_a_missing_profile_or_target_is_refused_when_the_dags_parse(byo: dict[str, Any]) -> None:
    parse(byo["project"], byo["warehouse"])
    with pytest.raises(ConfigError, match=r"profile 'shop_warehouse' .* has no target 'local' \(it has: dev\)"):
        render({**byo, "AIRLOCK_DBT_TARGET": "local"})
    with pytest.raises(ConfigError, match=r"profile 'analytics' is not in .*profiles.yml \(it has: shop_warehouse\)"):
        render({**byo, "AIRLOCK_DBT_PROFILE": "analytics"})


def test_the_stale_manifest_message_names_the_command_for_this_project(byo: dict[str, Any]) -> None:
    parse(byo["project"], byo["warehouse"])
    model = byo["project"] / "transformations" / "reporting" / "weekly_revenue.sql"
    model.write_text("select 1 as weeks\n")
    later = time.time() + 5
    os.utime(model, (later, later))
    with pytest.raises(ManifestError) as stale:
        render(byo)
    assert (
        f"parse --project-dir {byo['project']} --profiles-dir {byo['project']} --profile shop_warehouse --target dev"
        in str(stale.value)
    )
