"""The build task on the local target, for real: the runner entrypoint in dbt's venv, as the pod and ECS task run it.

Each test renders the processing DAG's dbt step (`dbt_steps`, the default build mode) and calls the
build task's `execute` with a run's context: the operator starts `python -m airlock.isolation
airlock.transform.runner:build` in dbt's own venv, reads dbt's JSON stream back, and decides. dbt runs on
per-tenant DuckDB files loaded as the processing DAG's `load` task leaves them.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import airflow  # noqa: F401 - before cosmos (FIELD-NOTES: import-order trap)
import duckdb
import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airlock.settings import load_settings
from airlock.tenants import load_dataflows
from airlock.transform.results import BuildLog
from airlock.transform.state import STATE_MARKER
from airlock.transform.steps import dbt_steps
from tests.dbt.conftest import NEGATIVE_STOCK, REPO, load_raw, query, run_context


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The worker's environment: a folder raw zone (the resume state) and a DuckDB warehouse dir."""
    values = {
        "AIRLOCK_HOME": str(REPO),
        "AIRLOCK_RAW_URL": str(tmp_path / "raw"),
        "AIRLOCK_WAREHOUSE_DIR": str(tmp_path / "warehouse"),
        "AIRLOCK_DBT_MODE": "build",
        "AIRLOCK_DBT_MODEL_STATUS": "events",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def build_task(env: dict[str, str], dataflow: str = "inventory", **extra: str) -> Any:
    environ = {**env, **extra}
    settings = load_settings(environ)
    with DAG(f"process_{dataflow}", schedule=None, start_date=datetime(2026, 1, 1)):
        return dbt_steps(load_dataflows(settings.dataflows_dir)[dataflow], settings, environ=environ).entry


def test_a_good_build_emits_one_partitioned_event_per_model_with_status_and_rows(
    env: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    load_raw(Path(env["AIRLOCK_WAREHOUSE_DIR"]), "acme", "inventory")
    task = build_task(env)
    assert type(task).__name__ == "SubprocessDbtBuildOperator"
    context = run_context("acme")
    report = task.execute(context)
    logged = "".join(capfd.readouterr())  # the task's logger (structlog) writes to the process's stdout
    finished = [line for line in logged.splitlines() if "dbt finished with exit code 0" in line]
    phases = ("parse", "select", "build", "count")
    assert finished and all(f"{phase} " in finished[0] for phase in phases), logged[-2000:]
    assert report["outcome"] == "success"
    assert query(Path(env["AIRLOCK_WAREHOUSE_DIR"]), "acme", "select count(*) from tenant_acme.fct_stock_levels") == [
        (4,)
    ]
    # One event per model on its own asset, partitioned like the run (the run's key), status and rows.
    events = {key.name: accessor.extra for key, accessor in context["outlet_events"]._dict.items()}
    assert sorted(events) == ["dbt/airlock/fct_stock_levels", "dbt/airlock/int_stock_latest", "dbt/airlock/stg_stock"]
    assert events["dbt/airlock/fct_stock_levels"]["status"] == "success"
    assert events["dbt/airlock/fct_stock_levels"]["rows"] == 4
    assert events["dbt/airlock/fct_stock_levels"]["tenant_id"] == "acme"
    assert {key.name for key in context["outlet_events"]._dict} == {o.name for o in task.outlets}


def test_a_failing_model_fails_the_try_and_the_retry_resumes_from_it(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = Path(env["AIRLOCK_WAREHOUSE_DIR"])
    warehouse.mkdir(parents=True)
    con = duckdb.connect(str(warehouse / "globex.duckdb"))
    con.execute("create schema tenant_globex_raw")
    con.execute("create table tenant_globex_raw.stock (warehouse_id varchar, sku varchar)")  # no quantity
    con.close()
    seen: list[tuple[dict[str, Any], BuildLog]] = []
    original = type(build_task(env)).launch

    def observe(operator: Any, context: Any, run: Any, payload: Any, build: BuildLog) -> None:
        seen.append((dict(payload), build))
        original(operator, context, run, payload, build)

    monkeypatch.setattr(type(build_task(env)), "launch", observe)

    task = build_task(env)
    with pytest.raises(AirflowException) as failure:
        task.execute(run_context("globex", try_number=1))
    assert not isinstance(failure.value, AirflowFailException), "a model error is retried"
    assert "model stg_stock" in str(failure.value) and "Binder Error" in str(failure.value)
    state = json.loads((Path(env["AIRLOCK_RAW_URL"]) / "globex/inventory/20261102" / STATE_MARKER).read_text())
    assert state["results"]["seed.airlock.stock_status_bands"]["status"] == "success"
    assert state["results"]["model.airlock.stg_stock"]["status"] == "error"

    load_raw(warehouse, "globex", "inventory")  # the cause is fixed before Airflow's retry
    report = task.execute(run_context("globex", try_number=2))
    assert report["outcome"] == "success"
    retry_payload, retry_build = seen[-1]
    assert retry_payload["resume"] == ["fct_stock_levels", "int_stock_latest", "stg_stock"], retry_payload
    assert "seed.airlock.stock_status_bands" not in retry_build.results, "the seed built by try 1 is kept"
    assert {uid for uid, r in retry_build.results.items() if r.resource_type == "model"} == {
        "model.airlock.stg_stock",
        "model.airlock.int_stock_latest",
        "model.airlock.fct_stock_levels",
    }
    assert report["models"]["seed.airlock.stock_status_bands"]["status"] == "success"
    assert query(warehouse, "globex", "select count(*) from tenant_globex.fct_stock_levels") == [(4,)]

    # A new claim of the batch (the whole run cleared) builds from scratch.
    task.execute(run_context("globex", try_number=1, claimed_at="2026-11-03T07:00:00+00:00"))
    assert seen[-1][0]["resume"] is None


def test_a_failed_data_test_fails_for_good_with_dbts_message(env: dict[str, str]) -> None:
    load_raw(Path(env["AIRLOCK_WAREHOUSE_DIR"]), "initech", "inventory", overrides={"stock": NEGATIVE_STOCK})
    context = run_context("initech")
    with pytest.raises(AirflowFailException, match=r"not_negative_stg_stock_quantity: Got 1 result") as failure:
        build_task(env).execute(context)
    assert "not retried" in str(failure.value)
    assert context["outlet_events"]._dict == {}, "no asset event for a failed build"


def test_the_build_refuses_vars_of_another_tenant(env: dict[str, str]) -> None:
    context = run_context("acme", partition_key="globex|20261102")
    with pytest.raises(Exception, match=r"this run is globex\|20261102"):
        build_task(env).execute(context)
