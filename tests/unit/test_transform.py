"""The dbt task group: rendered from the manifest under each execution target, with the tenant templated.

These tests build a throwaway DAG around `dbt_task_group` and assert on the operators' real arguments;
they run no dbt (tests/dbt/ does).
"""

from __future__ import annotations

import os
import re
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import airflow  # noqa: F401 - before cosmos (FIELD-NOTES: import-order trap)
import pytest
from airflow.sdk import DAG

from airlock.settings import load_settings
from airlock.tenants import load_dataflows
from airlock.transform import (
    DBT_REQUIREMENTS,
    ManifestError,
    TenantMismatchError,
    assert_run_identity,
    check_manifest,
    dbt_task_group,
    load_dbt_runtime,
)

REPO = Path(__file__).resolve().parents[2]
PROJECT = REPO / "dbt_project"
ECS_ENV = {
    "AIRLOCK_EXECUTION_TARGET": "aws_ecs",
    "AIRLOCK_ECS_CLUSTER": "airlock-prod",
    "AIRLOCK_ECS_TASK_DEFINITION": "airlock-transform:7",
    "AIRLOCK_ECS_SUBNETS": "subnet-a,subnet-b",
    "AIRLOCK_ECS_SECURITY_GROUPS": "sg-1",
    "AIRLOCK_ECS_LOG_GROUP": "/airlock/prod/transform",
    "AIRLOCK_ECS_TASK_ROLE_ARN_TEMPLATE": "arn:aws:iam::123456789012:role/airlock-prod-{tenant}-processing",
    "AIRLOCK_AWS_REGION": "eu-west-1",
}
K8S_ENV = {
    "AIRLOCK_EXECUTION_TARGET": "kubernetes",
    "AIRLOCK_TASK_IMAGE": "registry.example/airlock:1.2.3",
    "AIRLOCK_K8S_NAMESPACE": "astro-airlock",
    "AIRLOCK_K8S_SERVICE_ACCOUNT": "airlock-transform",
    "AIRLOCK_HEAVY_CPU": "2",
    "AIRLOCK_HEAVY_MEMORY": "4Gi",
}


@pytest.fixture(scope="module", autouse=True)
def _manifest() -> None:
    """The manifest is a build artifact (`make manifest`); `make test` builds it first."""
    if not (PROJECT / "target" / "manifest.json").exists():
        pytest.fail("dbt_project/target/manifest.json is missing: run `make manifest` first")


def render(dataflow: str = "orders", **env: str) -> DAG:
    """A throwaway processing DAG: claim >> dbt task group, under the given environment (LOCAL mode unless
    AIRLOCK_DBT_MODE says otherwise: WATCHER's rendering is tests/unit/test_watcher_consumers.py's subject)."""
    environ = {
        "AIRLOCK_HOME": str(REPO),
        "AIRLOCK_WAREHOUSE_DIR": "/data/warehouse",
        "AIRLOCK_DBT_MODE": "local",
        **env,
    }
    settings = load_settings(environ)
    flow = load_dataflows(REPO / "dags" / "registry" / "dataflows")[dataflow]
    with DAG(f"process_{dataflow}", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        dbt_task_group(flow, settings, environ=environ)
    return dag


def dbt_tasks(dag: DAG) -> dict[str, Any]:
    return {t.task_id.removeprefix("dbt."): t for t in dag.tasks if t.task_id.startswith("dbt.")}


def fake_context(tenant: str = "acme", batch: str = "20261102", partition_key: str | None = None) -> dict[str, Any]:
    claim = {"tenant_id": tenant, "batch_id": batch, "dataflow": "orders", "tenant_schema": f"tenant_{tenant}"}
    ti = SimpleNamespace(xcom_pull=lambda task_ids=None, **_: claim if task_ids == "claim" else None)
    return {"ti": ti, "dag_run": SimpleNamespace(partition_key=partition_key or f"{tenant}|{batch}")}


def test_local_renders_one_build_task_per_node_of_the_tag() -> None:
    tasks = dbt_tasks(render("orders"))
    assert sorted(tasks) == [
        "country_regions_seed_build",
        "customer_value_scores_model_build",
        "dim_customers_model_build",
        "fct_orders_model_build",
        "int_order_refunds_model_build",
        "stg_customers_model_build",
        "stg_orders_model_build",
        "stg_refunds_model_build",
    ]
    assert {type(t).__name__ for t in tasks.values()} == {"DbtBuildLocalOperator"}
    inventory = dbt_tasks(render("inventory"))
    assert not set(inventory) & set(tasks), "a dataflow's group never runs another dataflow's models"
    fct = tasks["fct_orders_model_build"]
    assert fct.select == ["fqn:airlock.marts.orders.fct_orders"] or "fct_orders" in str(fct.select)
    assert fct.retries == 2
    assert fct.env["AIRLOCK_WAREHOUSE_DIR"] == "/data/warehouse"
    assert fct.dbt_executable_path == str(REPO / ".venv-dbt" / "bin" / "dbt")
    assert fct.emit_datasets is False


def test_vars_are_templated_from_the_claim_xcom_and_render_per_run() -> None:
    fct = dbt_tasks(render())["fct_orders_model_build"]
    assert "vars" in fct.template_fields, "Cosmos templates `vars`: the tenant is known only at run time"
    assert fct.vars["tenant_id"] == "{{ ti.xcom_pull(task_ids='claim')['tenant_id'] }}"
    for tenant in ("acme", "globex"):
        rendered = fct.render_template(fct.vars, fake_context(tenant))
        assert rendered == {
            "tenant_id": tenant,
            "batch_id": "20261102",
            "dataflow": "orders",
            "tenant_schema": f"tenant_{tenant}",
        }


def test_interceptor_refuses_vars_of_another_tenant() -> None:
    op = SimpleNamespace(vars={"tenant_id": "acme", "batch_id": "1", "dataflow": "orders", "tenant_schema": "t_a"})
    assert_run_identity({"dag_run": SimpleNamespace(partition_key="acme|1")}, op)
    with pytest.raises(TenantMismatchError, match=r"this run is globex\|1"):
        assert_run_identity({"dag_run": SimpleNamespace(partition_key="globex|1")}, op)
    op.vars["tenant_schema"] = "x; drop schema"
    with pytest.raises(TenantMismatchError, match="not plain identifiers"):
        assert_run_identity({}, op)
    op.vars.pop("batch_id")
    with pytest.raises(TenantMismatchError, match="lack"):
        assert_run_identity({}, op)
    fct = dbt_tasks(render())["fct_orders_model_build"]
    assert assert_run_identity in fct.interceptors


def test_kubernetes_isolates_heavy_models_and_keeps_the_rest_local() -> None:
    tasks = dbt_tasks(render(**K8S_ENV))
    heavy = tasks["customer_value_scores_model_build"]
    assert type(heavy).__name__ == "DbtBuildKubernetesOperator"
    assert {type(t).__name__ for n, t in tasks.items() if n != "customer_value_scores_model_build"} == {
        "DbtBuildLocalOperator"
    }
    assert heavy.image == "registry.example/airlock:1.2.3"
    assert heavy.namespace == "astro-airlock"
    assert heavy.service_account_name == "airlock-transform"
    assert heavy.container_resources.limits == {"cpu": "2", "memory": "4Gi"}
    assert heavy.project_dir == "/usr/local/airflow/dbt_project"
    assert heavy.vars == tasks["fct_orders_model_build"].vars
    assert heavy.retries == 2
    # The dbt command the pod runs carries the rendered tenant, never another one.
    heavy.vars = heavy.render_template(heavy.vars, fake_context("globex"))
    heavy.build_kube_args(fake_context("globex"), None)
    args = " ".join(heavy.arguments)
    assert "tenant_id: globex" in args and "tenant_globex" in args and "acme" not in args
    assert "customer_value_scores" in args


def test_aws_ecs_isolates_heavy_models_with_cluster_network_and_logs() -> None:
    tasks = dbt_tasks(render(**ECS_ENV))
    heavy = tasks["customer_value_scores_model_build"]
    assert type(heavy).__name__ == "TenantRoleDbtBuildAwsEcsOperator"  # Cosmos's DbtBuildAwsEcsOperator + role
    assert heavy.cluster == "airlock-prod"
    assert heavy.task_definition == "airlock-transform:7"
    assert heavy.launch_type == "FARGATE"
    assert heavy.network_configuration == {
        "awsvpcConfiguration": {
            "subnets": ["subnet-a", "subnet-b"],
            "securityGroups": ["sg-1"],
            "assignPublicIp": "DISABLED",
        }
    }
    assert heavy.awslogs_group == "/airlock/prod/transform"
    assert heavy.awslogs_region == "eu-west-1"
    assert heavy.tags["airlock:tenant"] == "{{ ti.xcom_pull(task_ids='claim')['tenant_id'] }}"
    # Overrides are built when the task runs; build them as the worker would.
    heavy.vars = heavy.render_template(heavy.vars, fake_context("initech"))
    heavy.build_command(fake_context("initech"))
    override = heavy.overrides["containerOverrides"][0]
    assert override["name"] == "airlock"
    command = " ".join(override["command"])
    assert "tenant_id: initech" in command and "acme" not in command
    # The ECS task assumes the run's tenant's processing role, never another's.
    assert heavy.overrides["taskRoleArn"] == "arn:aws:iam::123456789012:role/airlock-prod-initech-processing"
    assert type(tasks["fct_orders_model_build"]).__name__ == "DbtBuildLocalOperator"


def test_aws_ecs_heavy_model_refuses_to_run_without_a_rendered_tenant() -> None:
    heavy = dbt_tasks(render(**ECS_ENV))["customer_value_scores_model_build"]
    with pytest.raises(Exception, match="no rendered tenant_id"):
        heavy.build_command(fake_context("initech"))  # vars still the unrendered templates


def test_aws_ecs_without_cluster_fails_naming_the_variables() -> None:
    with pytest.raises(Exception, match="AIRLOCK_ECS_CLUSTER, AIRLOCK_ECS_TASK_DEFINITION"):
        render(AIRLOCK_EXECUTION_TARGET="aws_ecs")


@pytest.mark.parametrize(
    ("mode", "operator"), [("watcher", "DbtProducerWatcherOperator"), ("virtualenv", "DbtBuildVirtualenvOperator")]
)
def test_fast_mode_is_chosen_by_the_environment(mode: str, operator: str) -> None:
    tasks = dbt_tasks(render(AIRLOCK_DBT_MODE=mode))
    names = {type(t).__name__ for t in tasks.values()}
    assert operator in names
    if mode == "virtualenv":
        venv_task = tasks["fct_orders_model_build"]
        assert venv_task.py_requirements == list(DBT_REQUIREMENTS)


@pytest.mark.parametrize(("target", "expected"), [("local", "watcher"), ("kubernetes", "local"), ("aws_ecs", "local")])
def test_the_default_mode_is_watcher_unless_heavy_models_need_isolating(target: str, expected: str) -> None:
    environ = {"AIRLOCK_HOME": str(REPO), "AIRLOCK_EXECUTION_TARGET": target}
    assert load_dbt_runtime(load_settings(environ), environ).mode == expected


def test_watcher_cannot_be_combined_with_isolated_heavy_models() -> None:
    with pytest.raises(Exception, match=r"heavy` models \['customer_value_scores'\] of dataflow orders.*=local"):
        render(AIRLOCK_DBT_MODE="watcher", **K8S_ENV)


def test_watcher_is_accepted_on_astro_for_a_dataflow_without_heavy_models() -> None:
    tasks = dbt_tasks(render("inventory", AIRLOCK_DBT_MODE="watcher", **K8S_ENV))
    assert type(tasks["dbt_producer_watcher"]).__name__ == "DbtProducerWatcherOperator"


def test_virtualenv_requirements_match_requirements_dbt() -> None:
    pins = {
        line.split("==")[0]: line.strip()
        for line in (REPO / "requirements-dbt.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    for requirement in DBT_REQUIREMENTS:
        assert pins[requirement.split("==")[0]] == requirement


def test_missing_manifest_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "dbt_project.yml").write_text("name: x\n")
    with pytest.raises(ManifestError, match=r"missing.*make manifest"):
        check_manifest(tmp_path)


def test_stale_manifest_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "dbt_project.yml").write_text("name: x\n")
    (tmp_path / "target").mkdir()
    manifest = tmp_path / "target" / "manifest.json"
    manifest.write_text("{}")
    model = tmp_path / "models" / "new_model.sql"
    model.write_text("select 1 as id\n")
    later = time.time() + 5
    os.utime(model, (later, later))
    with pytest.raises(ManifestError, match=r"older than .*new_model.sql.*make manifest"):
        check_manifest(tmp_path)
    assert check_manifest(tmp_path, "exists") == manifest
    os.utime(manifest, (later + 1, later + 1))
    assert check_manifest(tmp_path) == manifest


def test_unknown_mode_is_rejected() -> None:
    settings = load_settings({"AIRLOCK_HOME": str(REPO)})
    with pytest.raises(Exception, match="AIRLOCK_DBT_MODE='docker'"):
        load_dbt_runtime(settings, {"AIRLOCK_DBT_MODE": "docker"})


def test_parse_reads_only_the_manifest(monkeypatch: pytest.MonkeyPatch) -> None:
    """No dbt ls, no subprocess at parse time: rendering must not start a process."""
    import subprocess

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"parse time started a process: {args}")

    monkeypatch.setattr(subprocess, "Popen", forbidden)
    started = time.perf_counter()
    dag = render()
    assert len(dbt_tasks(dag)) == 8
    assert time.perf_counter() - started < 5
    assert re.search(r"\.venv-dbt/bin/dbt$", dbt_tasks(dag)["stg_orders_model_build"].dbt_executable_path)
