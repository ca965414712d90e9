"""An analyst's new model shows up in the processing DAG after the manifest is rebuilt, with no Python change."""

from __future__ import annotations

import os
import re
import shlex
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
from airlock.transform.config import ManifestError
from airlock.transform.steps import dbt_steps
from tests.dbt.conftest import PROJECT, REPO

NEW_MODEL = """-- Gross margin per order: an analyst's addition.
select
    order_id,
    net_amount * 0.3 as margin_amount
from {{ ref('fct_orders') }}
"""


def render(project: Path) -> DAG:
    environ = {"AIRLOCK_HOME": str(REPO), "AIRLOCK_DBT_PROJECT_DIR": str(project), "AIRLOCK_DBT_MODEL_STATUS": "tasks"}
    with DAG("process_orders", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        dbt_steps(
            load_dataflows(REPO / "dags" / "registry" / "dataflows")["orders"], load_settings(environ), environ=environ
        )
    return dag


def test_new_model_shows_up_after_the_manifest_command_the_error_names(project_copy: Path) -> None:
    (project_copy / "target").mkdir()
    shutil.copy(PROJECT / "target" / "manifest.json", project_copy / "target" / "manifest.json")
    assert "models.fct_order_margin" not in render(project_copy).task_dict

    model = project_copy / "models" / "marts" / "orders" / "fct_order_margin.sql"
    model.write_text(NEW_MODEL)
    later = time.time() + 2
    os.utime(model, (later, later))
    with pytest.raises(ManifestError, match=r"older than .*fct_order_margin.sql") as stale:
        render(project_copy)
    # The message names the command for the configured project (a copy of the kit's, so not `make manifest`):
    # run exactly that.
    command = re.search(r"Fix: run `([^`]+)`", str(stale.value)).group(1)  # type: ignore[union-attr]
    assert f"parse --project-dir {project_copy}" in command
    env = {**os.environ, "AIRLOCK_WAREHOUSE_DIR": str(project_copy / "dev")}
    result = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    dag = render(project_copy)
    task = dag.task_dict["models.fct_order_margin"]  # its own task (tasks mode), reporting from the build
    assert task.start_trigger_args.trigger_kwargs["model_unique_id"] == "model.airlock.fct_order_margin"
    assert "model.airlock.fct_order_margin" in dag.task_dict["dbt_build"].selection.nodes
