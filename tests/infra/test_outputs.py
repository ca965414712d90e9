"""Outputs -> settings mapping, provider-mirror discovery and the `airlock infra` CLI: fast, no Terraform run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airlock.cli import build_parser
from airlock.errors import ConfigError
from airlock.infra import find_plugin_dir, missing_providers, outputs_to_env, terraform_root
from airlock.infra.plugins import PLUGIN_DIR_ENV, required_providers
from airlock.isolation import load_isolation_config
from airlock.settings import load_settings

KIT = {
    "env": "prod",
    "region": "eu-west-1",
    "landing_url": "s3://airlock-prod-landing",
    "raw_url": "s3://airlock-prod-raw",
    "quarantine_url": "s3://airlock-prod-quarantine",
    "shared_queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/airlock-prod-shared-landing",
    "queue_url_template": "https://sqs.eu-west-1.amazonaws.com/123456789012/airlock-prod-{tenant}-landing",
    "dedicated_tenants": ["globex"],
    "tenant_key_template": "arn:aws:kms:eu-west-1:123456789012:alias/airlock-prod-{tenant}",
    "tenants": {},
    "ecs": {
        "cluster_name": "airlock-prod-transforms",
        "task_definition_family": "airlock-prod-dbt",
        "container_name": "dbt",
        "subnet_ids": ["subnet-a", "subnet-b"],
        "security_group_ids": ["sg-1"],
        "log_group_name": "/airlock/airlock-prod/ecs/dbt",
        "log_stream_prefix": "dbt",
        "task_role_arns": {"acme": "arn:aws:iam::123456789012:role/airlock-prod-acme-processing"},
        "task_role_arn_template": "arn:aws:iam::123456789012:role/airlock-prod-{tenant}-processing",
    },
}


def _tf_json(**values: object) -> dict[str, dict[str, object]]:
    """The shape of `terraform output -json`."""
    return {k: {"value": v, "type": "dynamic", "sensitive": False} for k, v in values.items()}


def test_outputs_map_to_the_contract_settings() -> None:
    env = outputs_to_env(_tf_json(airlock=KIT), execution_target="aws_ecs")
    assert env["AIRLOCK_LANDING_URL"] == "s3://airlock-prod-landing"
    assert env["AIRLOCK_RAW_URL"] == "s3://airlock-prod-raw"
    assert env["AIRLOCK_QUARANTINE_URL"] == "s3://airlock-prod-quarantine"
    assert env["AIRLOCK_QUEUE_URL_TEMPLATE"].format(tenant="acme").endswith("/airlock-prod-acme-landing")
    assert env["AIRLOCK_ECS_SUBNETS"] == "subnet-a,subnet-b"
    assert env["AIRLOCK_ECS_LOG_STREAM_PREFIX"] == "dbt/dbt"
    assert env["AIRLOCK_AWS_REGION"] == "eu-west-1"
    assert env["AIRLOCK_ECS_TASK_ROLE_ARN_TEMPLATE"].format(tenant="acme") == KIT["ecs"]["task_role_arns"]["acme"]
    assert env["AIRLOCK_EXECUTION_TARGET"] == "aws_ecs"
    # Real AWS: no endpoint, so no connection with dummy keys is emitted.
    assert not any(k.startswith("AIRFLOW_CONN_") for k in env)
    settings = load_settings({**env, "AIRLOCK_HOME": "/srv/airlock"})
    assert settings.queue_url("globex") == KIT["queue_url_template"].format(tenant="globex")
    assert settings.tenant_key("acme") == "arn:aws:kms:eu-west-1:123456789012:alias/airlock-prod-acme"
    assert settings.queue_url("acme") == KIT["shared_queue_url"]
    assert settings.watched_queues() == {
        "sqs_shared": KIT["shared_queue_url"],
        "sqs_globex": KIT["queue_url_template"].format(tenant="globex"),
    }
    assert settings.execution_target == "aws_ecs"
    isolation = load_isolation_config(settings, env)  # the ECS operator's own reading of the same env
    assert (isolation.ecs_cluster, isolation.ecs_task_definition, isolation.ecs_container) == (
        "airlock-prod-transforms",
        "airlock-prod-dbt",
        "dbt",
    )
    assert list(isolation.ecs_subnets) == ["subnet-a", "subnet-b"]


def test_local_endpoint_becomes_the_aws_connection() -> None:
    kit = {**KIT, "env": "local", "region": "us-east-1", "ecs": None}
    env = outputs_to_env(_tf_json(airlock=kit, aws_endpoint_url="http://127.0.0.1:5000"))
    conn = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    assert conn["conn_type"] == "aws"
    assert conn["extra"] == {"endpoint_url": "http://127.0.0.1:5000", "region_name": "us-east-1"}
    assert "AIRLOCK_ECS_CLUSTER" not in env


def test_custom_connection_id_names_its_variable() -> None:
    env = outputs_to_env(_tf_json(airlock=KIT), endpoint_url="http://127.0.0.1:1", aws_conn_id="aws-local")
    assert env["AIRLOCK_AWS_CONN_ID"] == "aws-local"
    assert "AIRFLOW_CONN_AWS_LOCAL" in env


def test_missing_output_says_what_to_do() -> None:
    with pytest.raises(ConfigError, match="airlock infra apply"):
        outputs_to_env({})


def _mirror(root: Path, source: str, version: str = "1.0.0") -> None:
    from airlock.infra.plugins import _os_arch

    (root / "registry.terraform.io" / source / version / _os_arch()).mkdir(parents=True)


def test_plugin_dir_from_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PLUGIN_DIR_ENV, str(tmp_path))
    assert find_plugin_dir() == tmp_path


def test_plugin_dir_is_searched_in_usual_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PLUGIN_DIR_ENV, raising=False)
    monkeypatch.setattr("airlock.infra.plugins.candidate_plugin_dirs", lambda: [tmp_path / "empty", tmp_path / "m"])
    assert find_plugin_dir() is None
    _mirror(tmp_path / "m", "hashicorp/aws")
    assert find_plugin_dir() == tmp_path / "m"


def test_stacks_needing_unavailable_providers_are_detected(tmp_path: Path) -> None:
    _mirror(tmp_path, "hashicorp/aws")
    modules = terraform_root() / "modules"
    assert required_providers(modules / "astro") == {"hashicorp/aws", "astronomer/astro"}
    assert missing_providers(modules / "astro", tmp_path) == ["astronomer/astro"]
    assert missing_providers(modules / "datadog", tmp_path) == ["datadog/datadog"]
    assert missing_providers(modules / "datadog" / "modules" / "aws", tmp_path) == []
    assert missing_providers(terraform_root() / "envs" / "prod", tmp_path) == []
    assert missing_providers(modules / "astro", None) == []


def test_every_module_has_the_registry_layout() -> None:
    modules = [p.parent for p in (terraform_root() / "modules").glob("**/versions.tf")]
    assert len(modules) >= 10
    for module in modules:
        for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
            assert (module / name).is_file(), f"{module} lacks {name}"


def test_infra_cli_has_the_four_actions(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["infra", "--help"])
    text = capsys.readouterr().out
    for action in ("plan", "apply", "output", "destroy"):
        assert action in text
    args = parser.parse_args(["infra", "apply", "--env", "local", "--endpoint-url", "http://127.0.0.1:9"])
    assert (args.action, args.env, args.endpoint_url) == ("apply", "local", "http://127.0.0.1:9")
