"""The heavy-step factory: the same entrypoint as an ECS task, a pod, or a local subprocess in another venv."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import airflow  # noqa: F401
import pytest
from airflow.sdk import DAG

from airlock.errors import ConfigError
from airlock.isolation import ENTRYPOINT_MODULE, heavy_task, load_isolation_config, main
from airlock.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
CALLABLE = "tests.dbt.heavy_sample:score"
ECS_ENV = {
    "AIRLOCK_EXECUTION_TARGET": "aws_ecs",
    "AIRLOCK_ECS_CLUSTER": "airlock-prod",
    "AIRLOCK_ECS_TASK_DEFINITION": "airlock-transform:7",
    "AIRLOCK_ECS_CONTAINER": "airlock",
    "AIRLOCK_ECS_SUBNETS": "subnet-a,subnet-b",
    "AIRLOCK_ECS_SECURITY_GROUPS": "sg-1,sg-2",
    "AIRLOCK_ECS_LOG_GROUP": "/airlock/prod/transform",
    "AIRLOCK_ECS_LOG_STREAM_PREFIX": "airlock/airlock",
    "AIRLOCK_ECS_TASK_ROLE_ARN_TEMPLATE": "arn:aws:iam::123456789012:role/airlock-prod-{tenant}-processing",
    "AIRLOCK_AWS_REGION": "eu-west-1",
    "AIRLOCK_HEAVY_CPU": "2",
    "AIRLOCK_HEAVY_MEMORY": "4Gi",
}
K8S_ENV = {
    "AIRLOCK_EXECUTION_TARGET": "kubernetes",
    "AIRLOCK_TASK_IMAGE": "registry.example/airlock:1.2.3",
    "AIRLOCK_K8S_NAMESPACE": "astro-airlock",
    "AIRLOCK_K8S_SERVICE_ACCOUNT": "airlock-transform",
    "AIRLOCK_HEAVY_CPU": "500m",
    "AIRLOCK_HEAVY_MEMORY": "1Gi",
    "AIRLOCK_K8S_TENANT_ROLE_ARN_TEMPLATE": "arn:aws:iam::123456789012:role/airlock-prod-{tenant}-processing",
}


def build(env: dict[str, str]) -> Any:
    environ = {"AIRLOCK_HOME": str(REPO), **env}
    settings = load_settings(environ)
    config = load_isolation_config(settings, environ)
    with DAG("process_orders", schedule=None, start_date=datetime(2026, 1, 1)):
        return heavy_task("score_customers", CALLABLE, settings, payload={"model": "rfm"}, config=config)


def context(tenant: str) -> dict[str, Any]:
    claim = {"tenant_id": tenant, "batch_id": "b1", "dataflow": "orders", "tenant_schema": f"tenant_{tenant}"}
    return {"ti": SimpleNamespace(xcom_pull=lambda task_ids=None, **_: claim if task_ids == "claim" else None)}


def rendered(op: Any, field: str, tenant: str) -> Any:
    return op.render_template(getattr(op, field), context(tenant))


def payload_of(command: list[str]) -> dict[str, str]:
    return json.loads(command[command.index("--payload") + 1])


def test_ecs_task_runs_the_entrypoint_in_the_tenant_context() -> None:
    op = build(ECS_ENV)
    assert type(op).__name__ == "EcsRunTaskOperator"
    assert op.cluster == "airlock-prod"
    assert op.task_definition == "airlock-transform:7"
    assert op.launch_type == "FARGATE"
    assert op.network_configuration == {
        "awsvpcConfiguration": {
            "subnets": ["subnet-a", "subnet-b"],
            "securityGroups": ["sg-1", "sg-2"],
            "assignPublicIp": "DISABLED",
        }
    }
    assert (op.awslogs_group, op.awslogs_stream_prefix, op.awslogs_region) == (
        "/airlock/prod/transform",
        "airlock/airlock",
        "eu-west-1",
    )
    assert op.retries == 2
    overrides = rendered(op, "overrides", "globex")
    container = overrides["containerOverrides"][0]
    assert container["name"] == "airlock"
    assert container["command"][:2] == [CALLABLE, "--payload"], "the image's ENTRYPOINT is python -m airlock.isolation"
    assert payload_of(container["command"]) == {
        "batch_id": "b1",
        "dataflow": "orders",
        "model": "rfm",
        "tenant_id": "globex",
        "tenant_schema": "tenant_globex",
    }
    assert {"name": "AIRLOCK_TENANT_ID", "value": "globex"} in container["environment"]
    assert (container["cpu"], container["memory"]) == (2048, 4096)
    assert (overrides["cpu"], overrides["memory"]) == ("2048", "4096"), "Fargate sizes the task, not only its container"
    assert overrides["taskRoleArn"] == "arn:aws:iam::123456789012:role/airlock-prod-globex-processing"
    assert "acme" not in json.dumps(overrides)
    assert rendered(op, "tags", "globex")["airlock:tenant"] == "globex"


def test_pod_runs_the_same_entrypoint_with_image_resources_and_service_account() -> None:
    op = build(K8S_ENV)
    assert type(op).__name__ == "KubernetesPodOperator"
    assert op.image == "registry.example/airlock:1.2.3"
    assert op.namespace == "astro-airlock"
    assert op.service_account_name == "airlock-transform"
    assert op.container_resources.requests == {"cpu": "500m", "memory": "1Gi"}
    assert op.container_resources.limits == {"cpu": "500m", "memory": "1Gi"}
    assert not op.cmds, "the image's ENTRYPOINT: python -m airlock.isolation"
    args = rendered(op, "arguments", "initech")
    assert args[:2] == [CALLABLE, "--payload"]
    assert payload_of(args)["tenant_id"] == "initech"
    raw_env = rendered(op, "env_vars", "initech")
    env = raw_env if isinstance(raw_env, dict) else {e.name: e.value for e in raw_env}
    assert env["AIRLOCK_TENANT_ID"] == "initech"
    assert env["AIRLOCK_TENANT_ROLE_ARN"] == "arn:aws:iam::123456789012:role/airlock-prod-initech-processing"
    assert "acme" not in json.dumps(args) + json.dumps(env)


def test_local_runs_a_subprocess_in_the_separate_venv(tmp_path: Path) -> None:
    op = build({"AIRLOCK_HEAVY_PYTHON": sys.executable, "AIRLOCK_HEAVY_PYTHONPATH": f"{REPO}:{REPO / 'include'}"})
    assert type(op).__name__ == "LocalVenvOperator"
    assert op.argv[:2] == ["-m", ENTRYPOINT_MODULE]
    op.argv = rendered(op, "argv", "acme")
    op.env = rendered(op, "env", "acme")
    op.env["HEAVY_SAMPLE_OUT"] = str(tmp_path / "out.json")
    op.execute({})
    assert json.loads((tmp_path / "out.json").read_text())["tenant_id"] == "acme"


def test_local_failure_raises_with_the_transform_error(tmp_path: Path) -> None:
    op = build({"AIRLOCK_HEAVY_PYTHON": sys.executable, "AIRLOCK_HEAVY_PYTHONPATH": f"{REPO}:{REPO / 'include'}"})
    op.argv = rendered(op, "argv", "acme")
    op.env = {**rendered(op, "env", "acme"), "HEAVY_SAMPLE_FAIL": "1"}
    with pytest.raises(Exception, match=r"heavy step failed.*sample failure for acme"):
        op.execute({})


def test_local_default_interpreter_is_the_dbt_venv() -> None:
    settings = load_settings({"AIRLOCK_HOME": str(REPO)})
    config = load_isolation_config(settings, {})
    if (REPO / ".venv-dbt" / "bin" / "python").exists():
        assert config.local_python == str(REPO / ".venv-dbt" / "bin" / "python")


def test_ecs_needs_its_variables() -> None:
    settings = load_settings({"AIRLOCK_HOME": str(REPO), "AIRLOCK_EXECUTION_TARGET": "aws_ecs"})
    with pytest.raises(ConfigError, match="AIRLOCK_ECS_CLUSTER"):
        load_isolation_config(settings, {})


def test_bad_memory_quantity_is_a_config_error() -> None:
    settings = load_settings({"AIRLOCK_HOME": str(REPO)})
    with pytest.raises(ConfigError, match="AIRLOCK_HEAVY_MEMORY"):
        load_isolation_config(settings, {"AIRLOCK_HEAVY_MEMORY": "4GB"})


def test_entrypoint_refuses_a_payload_without_the_run_identity(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([CALLABLE, "--payload", json.dumps({"tenant_id": "acme"})]) == 2
    assert "lacks" in capsys.readouterr().err


def test_the_entrypoint_acts_as_the_runs_tenant_and_refuses_another_tenants_role() -> None:
    from moto import mock_aws

    from airlock.isolation import assume_tenant_role

    role = "arn:aws:iam::123456789012:role/airlock-prod-initech-processing"
    with mock_aws():
        import boto3

        boto3.client("iam", region_name="eu-west-1").create_role(
            RoleName="airlock-prod-initech-processing", AssumeRolePolicyDocument="{}"
        )
        env = {"AIRLOCK_TENANT_ROLE_ARN": role, "AWS_DEFAULT_REGION": "eu-west-1"}
        assert assume_tenant_role("initech", "b1", env) == role
        assert env["AWS_SESSION_TOKEN"] and env["AWS_ACCESS_KEY_ID"].startswith("ASIA")
        with pytest.raises(ConfigError, match="is not tenant acme's role"):
            assume_tenant_role("acme", "b1", {"AIRLOCK_TENANT_ROLE_ARN": role})
        assert assume_tenant_role("acme", "b1", {}) is None, "ECS: the task role is the tenant's already"
