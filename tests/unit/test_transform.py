"""The dbt step of a processing DAG, rendered per target, with the run's tenant in the operators' real arguments.

These tests build a throwaway DAG around `dbt_steps` and assert on the operators' real arguments (and what
they put together just before they run, for a given run); they run no dbt (tests/dbt/ does).
"""

from __future__ import annotations

import json
import os
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import airflow  # noqa: F401 - before cosmos (FIELD-NOTES: import-order trap)
import pytest
from airflow.sdk import DAG
from airflow.serialization.serialized_objects import DagSerialization

from airlock.errors import ConfigError
from airlock.isolation import RUN_KEYS
from airlock.settings import load_settings
from airlock.tenants import load_dataflows
from airlock.transform.config import ManifestError, check_manifest, check_profile, load_dbt_runtime
from airlock.transform.identity import TenantMismatchError, check_run_vars
from airlock.transform.steps import dbt_steps
from tests.dbt.conftest import run_context

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "dbt_project"
ECS_ENV = {
    "AIRLOCK_EXECUTION_TARGET": "aws_ecs",
    "AIRLOCK_ECS_CLUSTER": "airlock-prod-transforms",
    "AIRLOCK_ECS_TASK_DEFINITION": "airlock-prod-dbt",
    "AIRLOCK_ECS_CONTAINER": "dbt",
    "AIRLOCK_ECS_SUBNETS": "subnet-a,subnet-b",
    "AIRLOCK_ECS_SECURITY_GROUPS": "sg-1",
    "AIRLOCK_ECS_LOG_GROUP": "/airlock/airlock-prod/ecs/dbt",
    "AIRLOCK_ECS_LOG_STREAM_PREFIX": "dbt/dbt",
    "AIRLOCK_ECS_TASK_ROLE_ARN_TEMPLATE": "arn:aws:iam::123456789012:role/airlock-prod-{tenant}-processing",
    "AIRLOCK_AWS_REGION": "eu-west-1",
    "AIRLOCK_DBT_TARGET": "postgres",
}
K8S_ENV = {
    "AIRLOCK_EXECUTION_TARGET": "kubernetes",
    "AIRLOCK_TASK_IMAGE": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/airlock-prod-runner:4f2a9c1",
    "AIRLOCK_K8S_NAMESPACE": "astro-airlock",
    "AIRLOCK_K8S_SERVICE_ACCOUNT": "airlock-transform",
    "AIRLOCK_K8S_WAREHOUSE_SECRET": "airlock-warehouse",
    "AIRLOCK_K8S_TENANT_ROLE_ARN_TEMPLATE": "arn:aws:iam::123456789012:role/airlock-prod-{tenant}-processing",
    "AIRLOCK_DBT_CPU": "1",
    "AIRLOCK_DBT_MEMORY": "2Gi",
    "AIRLOCK_HEAVY_CPU": "4",
    "AIRLOCK_HEAVY_MEMORY": "8Gi",
    "AIRLOCK_DBT_TARGET": "postgres",
}
SECRET_NAMES = re.compile(r"PASSWORD|SECRET|TOKEN|PRIVATE_KEY", re.IGNORECASE)


@pytest.fixture(scope="module", autouse=True)
def _manifest() -> None:
    """The manifest is a build artifact (`make manifest`); `make test` builds it first."""
    if not (PROJECT / "target" / "manifest.json").exists():
        pytest.fail("dbt_project/target/manifest.json is missing: run `make manifest` first")


def render(dataflow: str = "orders", **env: str) -> tuple[DAG, Any]:
    """A throwaway DAG with the dataflow's dbt step under the given environment (defaults: build + events)."""
    environ = {"AIRLOCK_HOME": str(REPO), "AIRLOCK_WAREHOUSE_DIR": "/data/warehouse", **env}
    settings = load_settings(environ)
    flow = load_dataflows(REPO / "dags" / "registry" / "dataflows")[dataflow]
    with DAG(f"process_{dataflow}", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        steps = dbt_steps(flow, settings, environ=environ)
    return dag, steps


def payload_of(command: list[str]) -> dict[str, Any]:
    return json.loads(command[command.index("--payload") + 1])


# ---- configuration ----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["local", "kubernetes", "aws_ecs"])
def test_one_build_per_run_with_events_is_the_default_on_every_target(target: str) -> None:
    environ = {"AIRLOCK_HOME": str(REPO), "AIRLOCK_EXECUTION_TARGET": target}
    runtime = load_dbt_runtime(load_settings(environ), environ)
    assert (runtime.mode, runtime.model_status) == ("build", "events")
    assert runtime.project.profile == "airlock" and runtime.project.is_kit_project


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("AIRLOCK_DBT_MODE", "watcher", r"retired: use AIRLOCK_DBT_MODE=build with AIRLOCK_DBT_MODEL_STATUS=tasks"),
        ("AIRLOCK_DBT_MODE", "virtualenv", r"retired"),
        ("AIRLOCK_DBT_MODE", "docker", r"AIRLOCK_DBT_MODE='docker': use one of build, local"),
        ("AIRLOCK_DBT_MODEL_STATUS", "pods", r"use one of events, tasks"),
    ],
)
def test_unknown_or_retired_modes_are_refused_naming_the_fix(variable: str, value: str, message: str) -> None:
    settings = load_settings({"AIRLOCK_HOME": str(REPO)})
    with pytest.raises(ConfigError, match=message):
        load_dbt_runtime(settings, {variable: value})


def test_a_missing_profile_or_target_is_refused_before_anything_runs(tmp_path: Path) -> None:
    settings = load_settings({"AIRLOCK_HOME": str(REPO)})
    runtime = load_dbt_runtime(settings, {"AIRLOCK_DBT_PROFILE": "analytics"})
    with pytest.raises(ConfigError, match=r"profile 'analytics' is not in .*profiles.yml \(it has: airlock\)"):
        check_profile(runtime.project)
    runtime = load_dbt_runtime(settings, {"AIRLOCK_DBT_TARGET": "prod"})
    with pytest.raises(ConfigError, match=r"has no target 'prod' \(it has: local, postgres, redshift, snowflake\)"):
        check_profile(runtime.project)
    runtime = load_dbt_runtime(settings, {"AIRLOCK_DBT_PROFILES_DIR": str(tmp_path)})
    with pytest.raises(ConfigError, match=r"profiles.yml is missing"):
        check_profile(runtime.project)
    check_profile(load_dbt_runtime(settings, {}).project)  # the kit's own: fine


def test_missing_and_stale_manifests_name_the_command_for_the_configured_project(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "dbt_project.yml").write_text("name: shop\nprofile: shop_warehouse\n")
    settings = load_settings({"AIRLOCK_HOME": str(REPO)})
    runtime = load_dbt_runtime(settings, {"AIRLOCK_DBT_PROJECT_DIR": str(tmp_path), "AIRLOCK_DBT_TARGET": "prod"})
    command = f"dbt parse --project-dir {tmp_path} --profiles-dir {tmp_path} --profile shop_warehouse --target prod"
    with pytest.raises(ManifestError, match=r"missing.*" + re.escape(command)):
        check_manifest(runtime)
    (tmp_path / "target").mkdir()
    manifest = tmp_path / "target" / "manifest.json"
    manifest.write_text("{}")
    model = tmp_path / "models" / "new_model.sql"
    model.write_text("select 1 as id\n")
    later = time.time() + 5
    os.utime(model, (later, later))
    with pytest.raises(ManifestError, match=r"older than .*new_model.sql.*" + re.escape(command)):
        check_manifest(runtime)
    os.utime(manifest, (later + 1, later + 1))
    assert check_manifest(runtime) == manifest
    kit = load_dbt_runtime(settings, {})
    assert kit.project.manifest_command(kit.dbt_executable) == "make manifest"


# ---- the run's identity ---------------------------------------------------------------------------------


def test_run_vars_must_be_the_partition_keys_tenant_and_plain_identifiers() -> None:
    good = {"tenant_id": "acme", "batch_id": "1", "dataflow": "orders", "tenant_schema": "tenant_acme"}
    assert check_run_vars(good, "acme|1") == good
    with pytest.raises(TenantMismatchError, match=r"this run is globex\|1"):
        check_run_vars(good, "globex|1")
    with pytest.raises(TenantMismatchError, match="not plain identifiers"):
        check_run_vars({**good, "tenant_schema": "x; drop schema"}, None)
    with pytest.raises(TenantMismatchError, match="lack"):
        check_run_vars({k: v for k, v in good.items() if k != "batch_id"}, None)


# ---- build + events (the default) -----------------------------------------------------------------------


def test_local_default_is_one_build_task_with_one_asset_per_model() -> None:
    dag, steps = render("orders")
    assert [t.task_id for t in dag.tasks] == ["dbt_build"]
    build = steps.entry
    assert type(build).__name__ == "SubprocessDbtBuildOperator"
    models = sorted(n.name for n in steps.selection.models)
    assert models == sorted(
        [
            "stg_customers",
            "stg_orders",
            "stg_refunds",
            "int_order_refunds",
            "dim_customers",
            "fct_orders",
            "customer_value_scores",
        ]
    )
    assert sorted(o.name for o in build.outlets) == [f"dbt/airlock/{m}" for m in models]
    assert build.retries == 2 and build.pool == "airlock_duckdb"
    inventory = render("inventory")[1].selection
    assert not set(inventory.nodes) & set(steps.selection.nodes), "a dataflow never builds another's models"


def test_local_build_runs_the_runner_entrypoint_in_dbts_venv_with_the_runs_identity() -> None:
    _, steps = render("inventory")
    build = steps.entry
    context = run_context("globex")
    payload = {
        "tenant_id": "globex",
        "batch_id": "20261102",
        "dataflow": "inventory",
        "tenant_schema": "tenant_globex",
        "selection": ["--select", "tag:inventory"],
        "resume": None,
    }
    args = build.runner_args(payload)
    assert args[:2] == ["airlock.transform.runner:build", "--payload"], "after `<dbt venv python> -m airlock.isolation`"
    assert payload_of(args) == payload
    assert build.runtime.dbt_python == str(REPO / ".venv-dbt" / "bin" / "python")
    env = build.runner_env(context, {"tenant_id": "globex", "batch_id": "20261102"}, container=False)
    assert env["AIRLOCK_DBT_PROJECT_DIR"] == str(PROJECT)
    assert (env["AIRLOCK_DBT_PROFILE"], env["AIRLOCK_DBT_TARGET"]) == ("airlock", "local")
    assert env["AIRFLOW_CTX_DAG_ID"] == "process_inventory" and env["AIRLOCK_TENANT_ID"] == "globex"


def test_kubernetes_build_is_one_pod_of_the_runner_image_as_the_runs_tenant() -> None:
    _, steps = render("orders", **K8S_ENV)
    pod = steps.entry
    assert type(pod).__name__ == "PodDbtBuildOperator"
    assert pod.image == K8S_ENV["AIRLOCK_TASK_IMAGE"]
    assert pod.namespace == "astro-airlock"
    assert pod.service_account_name == "airlock-transform"
    assert not pod.cmds, "the runner image's ENTRYPOINT: python -m airlock.isolation"
    # orders has a model tagged `heavy`: the whole build gets the heavy size, never a pod per model.
    assert pod.container_resources.limits == {"cpu": "4", "memory": "8Gi"}
    assert [e.secret_ref.name for e in pod.env_from] == ["airlock-warehouse"], "credentials: a Secret as env"
    for tenant in ("initech", "globex"):
        context = run_context(tenant, "orders")
        pod.prepare(
            context,
            context["ti"].claim,
            {**{k: context["ti"].claim[k] for k in RUN_KEYS}, "selection": ["--select", "tag:orders"], "resume": None},
        )
        assert pod.arguments[:2] == ["airlock.transform.runner:build", "--payload"]
        assert payload_of(pod.arguments)["tenant_id"] == tenant
        env = {e.name: e.value for e in pod.env_vars}
        assert env["AIRLOCK_TENANT_ROLE_ARN"] == f"arn:aws:iam::123456789012:role/airlock-prod-{tenant}-processing"
        assert env["AIRLOCK_DBT_PROJECT_DIR"] == "/opt/airlock/dbt_project"
        assert env["AIRLOCK_DBT_TARGET"] == "postgres"
        assert pod.labels["airlock/tenant"] == tenant
        others = {"acme", "initech", "globex"} - {tenant}
        assert not any(o in json.dumps([pod.arguments, env]) for o in others)
        assert not [k for k in env if SECRET_NAMES.search(k)], "no credential on the command line or in env_vars"
    inventory_pod = render("inventory", **K8S_ENV)[1].entry
    assert inventory_pod.container_resources.limits == {"cpu": "1", "memory": "2Gi"}


def test_kubernetes_needs_the_tenant_role_template() -> None:
    env = {k: v for k, v in K8S_ENV.items() if k != "AIRLOCK_K8S_TENANT_ROLE_ARN_TEMPLATE"}
    with pytest.raises(ConfigError, match="AIRLOCK_K8S_TENANT_ROLE_ARN_TEMPLATE"):
        render("inventory", **env)


def test_aws_ecs_build_is_one_task_of_the_runner_image_with_the_tenants_role_network_and_logs() -> None:
    _, steps = render("orders", **ECS_ENV)
    ecs = steps.entry
    assert type(ecs).__name__ == "EcsDbtBuildOperator"
    assert (ecs.cluster, ecs.task_definition, ecs.launch_type) == (
        "airlock-prod-transforms",
        "airlock-prod-dbt",
        "FARGATE",
    )
    assert ecs.network_configuration == {
        "awsvpcConfiguration": {
            "subnets": ["subnet-a", "subnet-b"],
            "securityGroups": ["sg-1"],
            "assignPublicIp": "DISABLED",
        }
    }
    assert (ecs.awslogs_group, ecs.awslogs_stream_prefix, ecs.awslogs_region) == (
        "/airlock/airlock-prod/ecs/dbt",
        "dbt/dbt",
        "eu-west-1",
    )
    assert ecs.container_name == "dbt"
    context = run_context("initech", "orders")
    claim = context["ti"].claim
    ecs.prepare(
        context,
        claim,
        {**{k: claim[k] for k in RUN_KEYS}, "selection": ["--select", "tag:orders"], "resume": ["fct_orders"]},
    )
    container = ecs.overrides["containerOverrides"][0]
    assert container["name"] == "dbt"
    assert container["command"][:2] == ["airlock.transform.runner:build", "--payload"], "after the ENTRYPOINT"
    assert payload_of(container["command"])["resume"] == ["fct_orders"]
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["AIRLOCK_TENANT_ID"] == "initech" and "AIRLOCK_TENANT_ROLE_ARN" not in env
    assert not [k for k in env if SECRET_NAMES.search(k)], "credentials come from the task definition's secrets"
    assert ecs.overrides["taskRoleArn"] == "arn:aws:iam::123456789012:role/airlock-prod-initech-processing"
    assert (ecs.overrides["cpu"], ecs.overrides["memory"]) == ("2048", "4096"), "heavy dataflow: bigger task"
    assert ecs.tags == {"airlock:tenant": "initech", "airlock:dataflow": "orders", "airlock:batch": "20261102"}
    assert "acme" not in json.dumps(ecs.overrides)
    light = render("inventory", **ECS_ENV)[1].entry
    light.prepare(context, claim, {**{k: claim[k] for k in RUN_KEYS}, "selection": [], "resume": None})
    assert (light.overrides["cpu"], light.overrides["memory"]) == ("1024", "2048")


def test_aws_ecs_without_cluster_fails_naming_the_variables() -> None:
    with pytest.raises(ConfigError, match="AIRLOCK_ECS_CLUSTER, AIRLOCK_ECS_TASK_DEFINITION"):
        render("inventory", AIRLOCK_EXECUTION_TARGET="aws_ecs")


# ---- build + tasks, and LOCAL per model -----------------------------------------------------------------


def test_tasks_mode_adds_one_task_per_node_that_starts_and_ends_in_the_triggerer() -> None:
    dag, steps = render("inventory", AIRLOCK_DBT_MODEL_STATUS="tasks")
    build = steps.entry
    models = {t.task_id: t for t in dag.tasks if t.task_id.startswith("models.")}
    assert sorted(models) == [
        "models.fct_stock_levels",
        "models.int_stock_latest",
        "models.stg_stock",
        "models.stock_status_bands",
    ]
    assert build.outlets == [], "tasks mode: the status is in the model tasks, not in asset events"
    for task in models.values():
        assert task.upstream_task_ids == {"dbt_build"} and task.trigger_rule == "all_done"
        assert task.start_from_trigger is True and task.retries == 0
        args = task.start_trigger_args
        assert args.trigger_cls == "airlock.transform.model_tasks.ModelStatusTrigger"
        assert args.trigger_kwargs["build_task_id"] == "dbt_build"
    restored = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    started = [t for t in restored.tasks if t.start_from_trigger]
    assert len(started) == 4, "start_from_trigger survives serialization (the scheduler reads that copy)"


def test_local_per_model_is_still_available_by_configuration() -> None:
    dag, _ = render("orders", AIRLOCK_DBT_MODE="local", **ECS_ENV)
    tasks = {t.task_id: t for t in dag.tasks}
    assert len(tasks) == 8 and {type(t).__name__ for t in tasks.values()} == {"DbtBuildLocalOperator"}
    fct = tasks["dbt.fct_orders_model_build"]
    assert fct.vars["tenant_id"] == "{{ ti.xcom_pull(task_ids='claim')['tenant_id'] }}"
    rendered = fct.render_template(fct.vars, run_context("globex", "orders"))
    assert rendered["tenant_id"] == "globex" and rendered["tenant_schema"] == "tenant_globex"


def test_parse_starts_no_process_and_reads_only_the_manifest(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"parse time started a process: {args}")

    monkeypatch.setattr(subprocess, "Popen", forbidden)
    for env in ({}, K8S_ENV, ECS_ENV, {"AIRLOCK_DBT_MODEL_STATUS": "tasks"}, {"AIRLOCK_DBT_MODE": "local"}):
        dag, _ = render("orders", **env)
        assert dag.tasks
