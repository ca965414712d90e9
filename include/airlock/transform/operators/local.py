"""The build on the local target: the runner in a subprocess of dbt's own virtualenv (laptop, CI, the demo)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from typing import Any

from airlock.isolation import ENTRYPOINT_MODULE
from airlock.transform.operators import DbtBuildMixin
from airlock.transform.results import BuildLog

_NOT_PASSED = ("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "PYTHONPATH", "VIRTUAL_ENV")
"""Airflow's own configuration and secrets stay out of dbt's process; the warehouse settings go through."""


def tenant_credentials(tenant_id: str) -> dict[str, str]:
    """The tenant's warehouse credentials as dbt's environment (AIRLOCK_PG_* ...), from its Airflow connection.

    Resolved at run time through the secrets backend (airlock.warehouse.credentials), handed to the
    subprocess's environment only: never a command-line argument, never XCom. The local DuckDB target has
    none. Containers get theirs from the platform's secrets instead (the pod's Secret, the task definition).
    """
    from airlock.settings import load_settings
    from airlock.warehouse.config import load_warehouse_config
    from airlock.warehouse.credentials import dbt_env, resolve

    config = load_warehouse_config(load_settings())
    if config.kind == "local":
        return {}
    return dbt_env(config.kind, resolve(config.conn_id, tenant_id))


class SubprocessDbtBuildOperator(DbtBuildMixin):
    """One `dbt build` of the run in a subprocess of dbt's venv: the same entrypoint as the pod and the ECS task.

    :param selection: the dataflow's nodes (airlock.transform.selection).
    :param runtime: how dbt runs here; its `dbt_python` is dbt's venv's interpreter.
    """

    def launch(self, context: Any, run: Mapping[str, str], payload: Mapping[str, Any], build: BuildLog) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_NOT_PASSED)}
        env.update(self.runner_env(context, run, container=False))
        env.update(tenant_credentials(run["tenant_id"]))
        env["PYTHONPATH"] = self.runtime.pythonpath
        command = [self.runtime.dbt_python, "-m", ENTRYPOINT_MODULE, *self.runner_args(payload)]
        self.log.info("Running %s", " ".join(command[:4]))
        with subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
        ) as proc:  # same process group as the task: stopping the task stops dbt
            assert proc.stdout is not None
            for line in proc.stdout:
                shown = build.feed(line)
                if shown is not None:
                    self.log.log(*shown)
            code = proc.wait()
        if code != 0:
            raise RuntimeError(f"the dbt runner exited with code {code}")
