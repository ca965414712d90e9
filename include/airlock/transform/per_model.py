"""LOCAL per model (AIRLOCK_DBT_MODE=local): Cosmos renders one task per model, each its own `dbt build`.

Kept for teams that want a worker task per model (their own retries, pools or SLAs per model). It costs
one dbt process per model: ~47x a plain `dbt build` for 200 models on 2 cores, against ~1.x for the one
build per run (bench/results/dbt_overhead.json). dbt runs in the worker, from dbt's own venv, on every
target: no pod or ECS task per model.

The vars are Jinja templates over the claim task's XCom, rendered per task instance (Cosmos lists `vars`
in its operators' `template_fields`), and checked against the run's partition key just before dbt starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import airflow  # noqa: F401 - must precede cosmos.constants: cosmos registers a policy hook (FIELD-NOTES)
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

from airlock.isolation import CLAIM_TASK_ID, run_payload
from airlock.transform.identity import check_run_vars, partition_key_of
from airlock.transform.selection import Selection
from airlock.warehouse.credentials import inject_dbt_credentials

if TYPE_CHECKING:
    from airlock.settings import Settings
    from airlock.transform.config import DbtRuntime


def assert_run_identity(context: Mapping[str, Any], operator: Any) -> None:
    """Cosmos interceptor, run just before dbt starts: the rendered vars must be this run's tenant and batch."""
    check_run_vars(operator.vars or {}, partition_key_of(context))


def task_group(
    selection: Selection,
    runtime: DbtRuntime,
    settings: Settings,
    manifest: Path,
    *,
    group_id: str = "dbt",
    claim_task_id: str = CLAIM_TASK_ID,
    operator_args: Mapping[str, Any] | None = None,
    load_method: LoadMode = LoadMode.DBT_MANIFEST,
) -> DbtTaskGroup:
    """The dataflow's nodes as a Cosmos task group (TestBehavior.BUILD: a model's task runs its tests too).

    `load_method` exists for bench/cosmos_parse.py, which compares against LoadMode.DBT_LS; DAGs keep the
    default (DBT_LS runs dbt at parse time, seconds per DAG file on a real project).
    """
    project = runtime.project
    project_config = ProjectConfig(manifest_path=manifest, project_name=selection.project_name)
    project_config.manifest_path = manifest  # a local file: skip ObjectStoragePath's plugin loading
    return DbtTaskGroup(
        group_id=group_id,
        project_config=project_config,
        profile_config=ProfileConfig(
            profile_name=project.profile,
            target_name=project.target,
            profiles_yml_filepath=project.profiles_dir / "profiles.yml",
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.LOCAL,
            invocation_mode=InvocationMode.SUBPROCESS,  # dbt is not importable here: it has its own venv
            dbt_executable_path=runtime.dbt_executable,
            dbt_project_path=project.project_dir,
        ),
        render_config=RenderConfig(
            load_method=load_method,
            dbt_project_path=None if load_method == LoadMode.DBT_MANIFEST else project.project_dir,
            select=list(selection.select),
            selector=selection.selector,
            exclude=list(selection.exclude),
            test_behavior=TestBehavior.BUILD,
            emit_datasets=False,
            invocation_mode=InvocationMode.SUBPROCESS,
            dbt_executable_path=runtime.dbt_executable,
        ),
        operator_args={
            "vars": run_payload(claim_task_id),
            "env": {"AIRLOCK_WAREHOUSE_DIR": str(settings.warehouse_dir), "AIRLOCK_DBT_TARGET": project.target},
            "install_deps": False,  # packages are installed when the image is built, never at run time
            "emit_datasets": False,  # `publish` records the run; assets per model are the build mode's
            # the run's identity first, then its tenant's warehouse credentials (run time only: never rendered)
            "interceptors": [assert_run_identity, inject_dbt_credentials],
            "retries": runtime.retries,
            "retry_delay": runtime.retry_delay,
            **(operator_args or {}),
        },
    )
