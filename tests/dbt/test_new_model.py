"""An analyst's new model becomes an Airflow task after `make manifest`, with no Python change."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path

import airflow  # noqa: F401 - before cosmos
import pytest
from airflow.sdk import DAG

from airlock.settings import load_settings
from airlock.tenants import load_dataflows
from airlock.transform import ManifestError, dbt_task_group
from tests.dbt.conftest import PROJECT, REPO

NEW_MODEL = """-- Gross margin per order: an analyst's addition.
select
    order_id,
    net_amount * 0.3 as margin_amount
from {{ ref('fct_orders') }}
"""


def render(project: Path) -> DAG:
    environ = {"AIRLOCK_HOME": str(REPO), "AIRLOCK_DBT_PROJECT_DIR": str(project)}
    with DAG("process_orders", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        dbt_task_group(
            load_dataflows(REPO / "dags" / "registry" / "dataflows")["orders"], load_settings(environ), environ=environ
        )
    return dag


def test_new_model_shows_up_as_a_task_after_make_manifest(project_copy: Path) -> None:
    (project_copy / "target").mkdir()
    shutil.copy(PROJECT / "target" / "manifest.json", project_copy / "target" / "manifest.json")
    assert "dbt.fct_order_margin_run" not in render(project_copy).task_dict

    model = project_copy / "models" / "marts" / "orders" / "fct_order_margin.sql"
    model.write_text(NEW_MODEL)
    later = time.time() + 2
    os.utime(model, (later, later))
    with pytest.raises(ManifestError, match=r"older than .*fct_order_margin.sql.*make manifest"):
        render(project_copy)

    result = subprocess.run(
        ["make", "-s", "-C", str(REPO), "manifest", f"DBT_DIR={project_copy}", f"DBT_DEV_DIR={project_copy}/dev"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    dag = render(project_copy)
    task = dag.task_dict["dbt.fct_order_margin_run"]  # the default mode, WATCHER: the model's task
    assert "dbt.fct_orders_run" in task.upstream_task_ids
    assert type(task).__name__ == "DbtRunWatcherOperator"
    assert task.start_trigger_args.trigger_kwargs["model_unique_id"] == "model.airlock.fct_order_margin"
