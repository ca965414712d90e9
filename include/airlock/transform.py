"""The dbt step of a processing DAG: one Cosmos task group per dataflow, rendered from a prebuilt manifest.

Parse time does no I/O but reading `dbt_project/target/manifest.json` (and stat-ing the project's files to
refuse a stale one): no `dbt ls`, no network. Which tenant and batch a run is for is only known at run time,
so the dbt vars are Jinja templates over the claim task's XCom, rendered per task instance (Cosmos lists
`vars` in its operators' `template_fields`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import airflow  # noqa: F401 - must precede cosmos.constants: cosmos registers a policy hook (FIELD-NOTES)
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import DbtResourceType, ExecutionMode, InvocationMode, LoadMode, TestBehavior

from airlock import tenant_ecs
from airlock.errors import AirlockError, ConfigError
from airlock.isolation import (
    CLAIM_TASK_ID,
    RUN_KEYS,
    IsolationConfig,
    ecs_kwargs,
    load_isolation_config,
    pod_kwargs,
    run_payload,
)
from airlock.warehouse import writer_pool
from airlock.warehouse.credentials import inject_dbt_credentials
from airlock.watcher_consumers import POKE_INTERVAL_S, adapt_watcher_group

if TYPE_CHECKING:
    from cosmos.dbt.graph import DbtNode

    from airlock.settings import Settings
    from airlock.tenants import Dataflow

DBT_PROJECT_NAME = "airlock"
DBT_PROFILE_NAME = "airlock"
HEAVY_TAG = "heavy"
"""Models tagged `heavy` run in the deployment target's isolated mode (pod / ECS task)."""

DbtMode = Literal["local", "watcher", "virtualenv"]
_DBT_MODES: dict[str, ExecutionMode] = {
    "local": ExecutionMode.LOCAL,
    "watcher": ExecutionMode.WATCHER,
    "virtualenv": ExecutionMode.VIRTUALENV,
}
DBT_REQUIREMENTS = ("dbt-core==1.11.16", "dbt-duckdb==1.11.1", "dbt-postgres==1.11.0", "duckdb==1.5.5")
"""For ExecutionMode.VIRTUALENV (kept equal to requirements-dbt.txt by a unit test; no file read at parse)."""

_PROJECT_SOURCES = ("models", "macros", "seeds", "data-tests", "snapshots", "analyses")
_SOURCE_SUFFIXES = {".sql", ".yml", ".yaml", ".csv"}
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ManifestError(AirlockError):
    """The prebuilt dbt manifest is missing or older than the project: the DAG must not render from it."""


class TenantMismatchError(AirlockError):
    """A dbt task was about to run with vars that are not the run's own tenant and batch."""


@dataclass(frozen=True)
class DbtRuntime:
    """How dbt runs here: chosen by the environment, read once (see `load_dbt_runtime`)."""

    project_dir: Path
    dbt_executable: str
    target: str
    mode: DbtMode
    isolated_mode: ExecutionMode | None
    container_project_dir: str
    manifest_check: Literal["mtime", "exists"]
    retries: int = 2
    retry_delay: timedelta = timedelta(seconds=30)
    watcher_poke_interval: float = POKE_INTERVAL_S

    @property
    def manifest_path(self) -> Path:
        return self.project_dir / "target" / "manifest.json"

    @property
    def execution_mode(self) -> ExecutionMode:
        return _DBT_MODES[self.mode]


def load_dbt_runtime(settings: Settings, environ: Mapping[str, str] | None = None) -> DbtRuntime:
    """Read AIRLOCK_DBT_* variables; raise ConfigError naming the variable and the fix.

    AIRLOCK_DBT_MODE (local | watcher | virtualenv) picks the fast mode for ordinary models;
    settings.execution_target picks the isolated mode for `heavy` models: KUBERNETES on Astro, AWS_ECS on
    MWAA, none locally (they run like the rest, in dbt's own venv).

    Default: watcher where no model needs isolating (one `dbt build` per run, model tasks in the triggerer:
    bench/results/dbt_overhead.json), local on kubernetes/aws_ecs (watcher cannot hand one model to a pod;
    AIRLOCK_DBT_MODE=watcher is accepted there for dataflows without `heavy` models).
    """
    env = os.environ if environ is None else environ
    isolated = {"kubernetes": ExecutionMode.KUBERNETES, "aws_ecs": ExecutionMode.AWS_ECS}.get(settings.execution_target)
    mode = env.get("AIRLOCK_DBT_MODE") or ("local" if isolated is not None else "watcher")
    if mode not in _DBT_MODES:
        raise ConfigError(f"AIRLOCK_DBT_MODE={mode!r}: use one of {', '.join(_DBT_MODES)}.")
    check = env.get("AIRLOCK_DBT_MANIFEST_CHECK", "mtime")
    if check not in ("mtime", "exists"):
        raise ConfigError(f"AIRLOCK_DBT_MANIFEST_CHECK={check!r}: use mtime (default) or exists.")
    project_dir = Path(env.get("AIRLOCK_DBT_PROJECT_DIR") or settings.home / "dbt_project")
    default_dbt = settings.home / ".venv-dbt" / "bin" / "dbt"
    return DbtRuntime(
        project_dir=project_dir,
        dbt_executable=env.get("AIRLOCK_DBT_EXECUTABLE") or str(default_dbt),
        target=env.get("AIRLOCK_DBT_TARGET", "local"),
        mode=mode,  # type: ignore[arg-type]
        isolated_mode=isolated,
        container_project_dir=env.get("AIRLOCK_CONTAINER_DBT_PROJECT_DIR", "/usr/local/airflow/dbt_project"),
        manifest_check=check,  # type: ignore[arg-type]
        retries=int(env.get("AIRLOCK_DBT_RETRIES", "2")),
        retry_delay=timedelta(seconds=float(env.get("AIRLOCK_DBT_RETRY_DELAY", "30"))),
        watcher_poke_interval=float(env.get("AIRLOCK_DBT_WATCHER_POKE_INTERVAL", POKE_INTERVAL_S)),
    )


def check_manifest(project_dir: Path, check: Literal["mtime", "exists"] = "mtime") -> Path:
    """Return the manifest path, or raise ManifestError saying how to rebuild it.

    Stale means a model, macro, seed, test or dbt_project.yml changed after the manifest was built: the
    DAG would show (and run) yesterday's graph while dbt runs today's files.
    """
    manifest = project_dir / "target" / "manifest.json"
    fix = "Fix: run `make manifest` (dbt parse, from the repo root) and redeploy the manifest with the project."
    try:
        built = manifest.stat().st_mtime
    except FileNotFoundError:
        raise ManifestError(f"{manifest} is missing: the DAG renders dbt tasks from it. {fix}") from None
    if check == "exists":
        return manifest
    newest, newest_path = _newest_source(project_dir)
    if newest > built:
        raise ManifestError(f"{manifest} is older than {newest_path} (changed after the last parse). {fix}")
    return manifest


def _newest_source(project_dir: Path) -> tuple[float, Path]:
    newest, newest_path = (project_dir / "dbt_project.yml").stat().st_mtime, project_dir / "dbt_project.yml"
    stack = [project_dir / name for name in _PROJECT_SOURCES]
    while stack:  # os.scandir: about 10x cheaper than Path.rglob on a 600-model project
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            elif entry.name[entry.name.rfind(".") :] in _SOURCE_SUFFIXES:
                mtime = entry.stat().st_mtime
                if mtime > newest:
                    newest, newest_path = mtime, Path(entry.path)
    return newest, newest_path


def dbt_vars(claim_task_id: str = CLAIM_TASK_ID) -> dict[str, str]:
    """The dbt vars of a run (docs/contracts.md), templated from the claim task's XCom."""
    return run_payload(claim_task_id)


def assert_run_identity(context: Mapping[str, Any], operator: Any) -> None:
    """Cosmos interceptor, run just before dbt starts: the rendered vars must be this run's tenant and batch.

    The partition key (`<tenant>|<batch_id>`) is the run's identity; the claim task derives the vars from it.
    Checking them again here means a bug or a hand-edited XCom can never point dbt at another tenant's schema
    or DuckDB file.
    """
    values = operator.vars or {}
    missing = [key for key in RUN_KEYS if not values.get(key) or values.get(key) == "None"]
    if missing:
        raise TenantMismatchError(f"dbt vars lack {missing}: the claim task's XCom must return {list(RUN_KEYS)}.")
    bad = {key: values[key] for key in RUN_KEYS if not _SAFE_VALUE.match(str(values[key]))}
    if bad:
        raise TenantMismatchError(f"dbt vars {bad} are not plain identifiers; refusing to run dbt with them.")
    dag_run = context.get("dag_run")
    partition_key = getattr(dag_run, "partition_key", None) if dag_run is not None else None
    if partition_key:
        tenant_id, _, batch_id = str(partition_key).partition("|")
        if (values["tenant_id"], values["batch_id"]) != (tenant_id, batch_id):
            raise TenantMismatchError(
                f"dbt vars are for {values['tenant_id']}|{values['batch_id']} but this run is {partition_key}."
            )


def _operator_args(settings: Settings, runtime: DbtRuntime, claim_task_id: str) -> dict[str, Any]:
    args: dict[str, Any] = {
        "vars": dbt_vars(claim_task_id),
        "env": {
            "AIRLOCK_WAREHOUSE_DIR": str(settings.warehouse_dir),
            "AIRLOCK_DBT_TARGET": runtime.target,
        },
        "install_deps": False,  # no packages.yml: hub.getdbt.com is not reachable
        "emit_datasets": False,  # one asset per model is not tenant-aware; `publish` emits the run's events
        # the run's identity first, then its tenant's warehouse credentials (run time only: never rendered)
        "interceptors": [assert_run_identity, inject_dbt_credentials],
        "retries": runtime.retries,
        "retry_delay": runtime.retry_delay,
    }
    if pool := writer_pool(runtime.target):
        args["pool"] = pool
    if runtime.mode == "virtualenv":
        args["py_requirements"] = list(DBT_REQUIREMENTS)
        args["py_system_site_packages"] = False
    return args


def _isolated_args(runtime: DbtRuntime, config: IsolationConfig, node_name: str) -> dict[str, Any]:
    """Arguments that move one heavy model into a pod / ECS task running the kit's image."""
    tenant = run_payload()["tenant_id"]
    if runtime.isolated_mode == ExecutionMode.KUBERNETES:
        return {
            **pod_kwargs(config, {"airlock/model": node_name.replace("_", "-")}),
            "project_dir": runtime.container_project_dir,
            "name": f"dbt-{node_name}".replace("_", "-")[:63],
        }
    if runtime.isolated_mode == ExecutionMode.AWS_ECS:
        return {
            **ecs_kwargs(config),
            "task_role_arn_template": config.ecs_task_role_arn_template,  # TenantRoleDbtBuildAwsEcsOperator
            "container_name": config.ecs_container,
            "project_dir": runtime.container_project_dir,
            "tags": {"airlock:tenant": tenant, "airlock:model": node_name},
        }
    return {}


def _heavy_model_converter(
    runtime: DbtRuntime, config: IsolationConfig, render_config: RenderConfig
) -> Callable[..., Any]:
    """A Cosmos node converter: heavy models get the isolated operator, the rest Cosmos's usual one.

    Both go through Cosmos's own `create_task_metadata`, so task ids, selection and BUILD behaviour stay
    exactly what Cosmos renders without a converter.
    """
    from cosmos.airflow.graph import (
        _get_dbt_dag_task_group_identifier,
        create_airflow_task,
        create_task_metadata,
    )

    def convert(
        *,
        dag: Any,
        task_group: Any,
        node: DbtNode,
        task_args: dict[str, Any],
        execution_mode: ExecutionMode,
        test_indirect_selection: Any,
        on_warning_callback: Any = None,
        detached_from_parent: Any = None,
        **_: Any,
    ) -> Any:
        mode, args = execution_mode, task_args
        if HEAVY_TAG in node.tags and runtime.isolated_mode is not None:
            mode = runtime.isolated_mode
            args = {**task_args, **_isolated_args(runtime, config, node.name)}
        meta = create_task_metadata(
            node=node,
            execution_mode=mode,
            args=args,
            dbt_dag_task_group_identifier=_get_dbt_dag_task_group_identifier(dag, task_group),
            render_config=render_config,
            test_indirect_selection=test_indirect_selection,
            on_warning_callback=on_warning_callback,
            detached_from_parent=detached_from_parent,
        )
        if meta is not None and meta.operator_class == tenant_ecs.COSMOS_CLASS:
            meta.operator_class = tenant_ecs.KIT_CLASS
        return create_airflow_task(meta, dag, task_group) if meta is not None else None

    return convert


def dbt_task_group(
    dataflow: Dataflow,
    settings: Settings,
    group_id: str = "dbt",
    *,
    claim_task_id: str = CLAIM_TASK_ID,
    environ: Mapping[str, str] | None = None,
    load_method: LoadMode = LoadMode.DBT_MANIFEST,
) -> DbtTaskGroup:
    """The dataflow's dbt models (tag `dataflow.dbt_tag`) as a Cosmos task group; call inside `with DAG()`.

    One Airflow task per model (TestBehavior.BUILD runs each model's tests in the same `dbt build`), so a
    failing test fails its model's task, downstream models are skipped and other runs are untouched.
    Each task runs dbt in its own temporary copy of the project (Cosmos LOCAL/VIRTUALENV; a pod or ECS task
    when isolated), so concurrent runs never share target/ or logs/.

    `load_method` exists for bench/cosmos_parse.py, which compares against LoadMode.DBT_LS; DAGs keep the
    default (DBT_LS runs dbt at parse time, seconds per DAG file on a real project).
    """
    runtime = load_dbt_runtime(settings, environ)
    if load_method == LoadMode.DBT_MANIFEST:
        manifest = check_manifest(runtime.project_dir, runtime.manifest_check)
    else:
        manifest = runtime.manifest_path
    isolated = runtime.isolated_mode is not None
    config = load_isolation_config(settings, environ) if isolated else None
    render_config = RenderConfig(
        load_method=load_method,
        dbt_project_path=None if load_method == LoadMode.DBT_MANIFEST else runtime.project_dir,
        select=[f"tag:{dataflow.dbt_tag}"],
        exclude=["tag:samples"],
        # One task per model, its tests included. WATCHER has no per-node build operator: NONE renders no
        # test tasks and airlock.watcher_consumers makes each model's task stand for its tests.
        test_behavior=TestBehavior.NONE if runtime.mode == "watcher" else TestBehavior.BUILD,
        emit_datasets=False,
        invocation_mode=InvocationMode.SUBPROCESS,  # dbt is not importable here: it has its own venv
        dbt_executable_path=runtime.dbt_executable,
    )
    if isolated and config is not None:
        render_config.node_converters = {DbtResourceType.MODEL: _heavy_model_converter(runtime, config, render_config)}
    project_config = ProjectConfig(manifest_path=manifest, project_name=DBT_PROJECT_NAME)
    # Cosmos wraps every manifest path in ObjectStoragePath, whose first open() loads all Airflow plugins
    # for hook lineage (about 0.2 s CPU, more wall, per fresh parse process). The manifest is a local
    # file: read it as one.
    project_config.manifest_path = manifest
    group = DbtTaskGroup(
        group_id=group_id,
        project_config=project_config,
        profile_config=ProfileConfig(
            profile_name=DBT_PROFILE_NAME,
            target_name=runtime.target,
            profiles_yml_filepath=runtime.project_dir / "profiles.yml",
        ),
        execution_config=ExecutionConfig(
            execution_mode=runtime.execution_mode,
            invocation_mode=InvocationMode.SUBPROCESS,
            dbt_executable_path=runtime.dbt_executable,
            dbt_project_path=runtime.project_dir,
        ),
        render_config=render_config,
        operator_args=_operator_args(settings, runtime, claim_task_id),
    )
    if runtime.mode == "watcher":
        if isolated:
            _refuse_heavy_models(group, dataflow, settings)
        adapt_watcher_group(group.iter_tasks(), poke_interval=runtime.watcher_poke_interval)
    return group


def _refuse_heavy_models(group: DbtTaskGroup, dataflow: Dataflow, settings: Settings) -> None:
    """WATCHER on Astro/MWAA is fine for a dataflow without `heavy` models; with them, refuse at parse.

    The producer runs one `dbt build` for the whole selection in the worker: it cannot hand single models
    to a pod or an ECS task, so heavy models would silently run in the worker.
    """
    heavy = sorted(
        node.name
        for node in group.dbt_graph.filtered_nodes.values()
        if HEAVY_TAG in node.tags and node.resource_type == DbtResourceType.MODEL  # not the model's tests
    )
    if heavy:
        raise ConfigError(
            f"AIRLOCK_DBT_MODE=watcher cannot isolate the `heavy` models {heavy} of dataflow {dataflow.dataflow} on "
            f"AIRLOCK_EXECUTION_TARGET={settings.execution_target}: use AIRLOCK_DBT_MODE=local there "
            "(the default on kubernetes/aws_ecs)."
        )
