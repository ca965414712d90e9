"""The dbt part of a processing DAG, for the configured mode; call inside `with DAG(...)`.

Parse time reads the manifest (and stats the project's files to refuse a stale one) and profiles.yml: no
`dbt ls`, no network. It refuses, with the fix in the message, a missing profile or target, a stale
manifest and a dataflow whose selection matches no model, so a misconfiguration is an import error and
never a claimed batch.

    build + events (default)   load >> dbt_build >> publish          1 task; one asset event per model
    build + tasks              load >> dbt_build >> publish, and dbt_build >> models.<node> (triggerer)
    local                      load >> dbt (Cosmos group, one `dbt build` per model task) >> publish
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airlock.isolation import CLAIM_TASK_ID, load_isolation_config
from airlock.transform.config import check_manifest, check_profile, load_dbt_runtime
from airlock.transform.selection import Selection, select_nodes
from airlock.warehouse import writer_pool

if TYPE_CHECKING:
    from airlock.settings import Settings
    from airlock.tenants import Dataflow

BUILD_TASK_ID = "dbt_build"
MODELS_GROUP_ID = "models"


@dataclass
class DbtSteps:
    """What the DAG wires: `entry` follows the load, `exit` precedes publish; `tasks` is every task made."""

    entry: Any
    exit: Any
    selection: Selection
    tasks: list[Any] = field(default_factory=list)


def dbt_steps(
    dataflow: Dataflow,
    settings: Settings,
    *,
    environ: Mapping[str, str] | None = None,
    claim_task_id: str = CLAIM_TASK_ID,
    on_failure_callback: Callable[..., Any] | None = None,
) -> DbtSteps:
    """Render the dataflow's dbt step for AIRLOCK_DBT_MODE / AIRLOCK_DBT_MODEL_STATUS / AIRLOCK_EXECUTION_TARGET.

    :param on_failure_callback: given to the tasks that can fail a batch (the build, or each model task in
        local mode), so a failed batch is recorded where the status views read it.
    """
    runtime = load_dbt_runtime(settings, environ)
    check_profile(runtime.project)
    manifest = check_manifest(runtime)
    selection = select_nodes(dataflow, manifest, runtime.project_dir)
    common: dict[str, Any] = {"retries": runtime.retries, "retry_delay": runtime.retry_delay}
    if on_failure_callback is not None:
        common["on_failure_callback"] = on_failure_callback
    if pool := writer_pool(runtime.target):
        common["pool"] = pool
    if runtime.mode == "local":
        from airlock.transform.per_model import task_group

        group = task_group(selection, runtime, settings, manifest, claim_task_id=claim_task_id, operator_args=common)
        return DbtSteps(group, group, selection, list(group.children.values()))

    from airlock.transform.operators import build_task

    config = load_isolation_config(settings, environ) if settings.execution_target != "local" else None
    build = build_task(
        BUILD_TASK_ID,
        selection,
        runtime,
        settings,
        config,
        model_status=runtime.model_status,
        claim_task_id=claim_task_id,
        doc_md=f"One `dbt build` of `{selection.describe()}` for the run's tenant and batch.",
        **common,
    )
    tasks = [build]
    if runtime.model_status == "tasks":
        from airflow.sdk import TaskGroup

        from airlock.transform.model_tasks import DbtModelStatusOperator

        with TaskGroup(MODELS_GROUP_ID, tooltip="dbt's result per node, from the build (ends in the triggerer)"):
            for node in selection.nodes.values():
                tasks.append(
                    DbtModelStatusOperator(
                        task_id=node.name, model_unique_id=node.unique_id, build_task_id=BUILD_TASK_ID
                    )
                )
        build >> tasks[1:]
    return DbtSteps(build, build, selection, tasks)
