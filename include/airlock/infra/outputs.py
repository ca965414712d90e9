"""Map `terraform output -json` to the AIRLOCK_* environment the DAGs read (docs/contracts.md).

This is the only place the two meet: whatever Terraform names a bucket, a queue or a role, the
DAGs learn it from here, so infrastructure and DAG configuration cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from airlock.errors import ConfigError

LOCAL_CREDENTIALS = ("test", "test")
"""The local endpoint's dummy access key and secret (moto accepts any)."""


def _value(outputs: Mapping[str, Any], name: str) -> Any:
    """An output's value, from either `terraform output -json` ({"value": ...}) or plain values."""
    if name not in outputs:
        raise ConfigError(f"terraform output {name!r} is missing. Fix: apply the env first (airlock infra apply).")
    item = outputs[name]
    return item["value"] if isinstance(item, Mapping) and "value" in item and "type" in item else item


def connection_env_name(conn_id: str) -> str:
    """AIRFLOW_CONN_<ID>: how Airflow finds a connection in the environment."""
    return "AIRFLOW_CONN_" + conn_id.upper().replace("-", "_")


def aws_connection_json(
    region: str,
    *,
    endpoint_url: str | None = None,
    role_arn: str | None = None,
) -> str:
    """The aws connection as Airflow's JSON form: region, plus endpoint and dummy keys when local.

    The endpoint goes in `extra.endpoint_url` (the SQS watcher and S3 hooks honour it), so the
    DAGs keep AWS-style queue URLs and only the connection knows the traffic stays on loopback.
    """
    extra: dict[str, str] = {"region_name": region}
    conn: dict[str, Any] = {"conn_type": "aws"}
    if endpoint_url:
        extra["endpoint_url"] = endpoint_url
        conn["login"], conn["password"] = LOCAL_CREDENTIALS
    if role_arn:
        extra["role_arn"] = role_arn
    conn["extra"] = extra
    return json.dumps(conn, sort_keys=True)


def outputs_to_env(
    outputs: Mapping[str, Any],
    *,
    endpoint_url: str | None = None,
    aws_conn_id: str = "aws_default",
    execution_target: str | None = None,
) -> dict[str, str]:
    """AIRLOCK_* settings (and the AWS connection) from an env's outputs.

    :param outputs: `terraform output -json` of infra/terraform/envs/<env> (needs the `airlock` output).
    :param endpoint_url: the local AWS endpoint; defaults to the `aws_endpoint_url` output if any.
        When set, AIRFLOW_CONN_<AWS_CONN_ID> carries it with the endpoint's dummy credentials.
    :param aws_conn_id: the connection id the DAGs use (AIRLOCK_AWS_CONN_ID).
    :param execution_target: AIRLOCK_EXECUTION_TARGET to set (e.g. "aws_ecs" on MWAA); None leaves
        the DAGs' default, since a local endpoint cannot run ECS tasks even when they are defined.
    """
    kit = _value(outputs, "airlock")
    if endpoint_url is None and "aws_endpoint_url" in outputs:
        endpoint_url = _value(outputs, "aws_endpoint_url")
    env = {
        "AIRLOCK_ENV": kit["env"],
        "AIRLOCK_LANDING_URL": kit["landing_url"],
        "AIRLOCK_RAW_URL": kit["raw_url"],
        "AIRLOCK_QUARANTINE_URL": kit["quarantine_url"],
        "AIRLOCK_AWS_CONN_ID": aws_conn_id,
        "AIRLOCK_AWS_REGION": kit["region"],
    }
    if kit.get("shared_queue_url"):  # the standard tier's queue; dedicated tenants have their own
        env["AIRLOCK_SHARED_QUEUE_URL"] = kit["shared_queue_url"]
    if kit.get("tenant_key_template"):  # each tenant's snapshots under its own key (crypto-shredding)
        env["AIRLOCK_TENANT_KEY_TEMPLATE"] = kit["tenant_key_template"]
    if kit.get("queue_url_template"):
        env["AIRLOCK_QUEUE_URL_TEMPLATE"] = kit["queue_url_template"]
        env["AIRLOCK_DEDICATED_TENANTS"] = ",".join(kit.get("dedicated_tenants") or [])
    if ecs := kit.get("ecs"):
        env.update(
            {
                "AIRLOCK_ECS_CLUSTER": ecs["cluster_name"],
                "AIRLOCK_ECS_TASK_DEFINITION": ecs["task_definition_family"],
                "AIRLOCK_ECS_CONTAINER": ecs["container_name"],
                "AIRLOCK_ECS_SUBNETS": ",".join(ecs["subnet_ids"]),
                "AIRLOCK_ECS_SECURITY_GROUPS": ",".join(ecs["security_group_ids"]),
                "AIRLOCK_ECS_LOG_GROUP": ecs["log_group_name"],
                # The ECS operator wants "<awslogs-stream-prefix>/<container>" to find a task's stream.
                "AIRLOCK_ECS_LOG_STREAM_PREFIX": f"{ecs['log_stream_prefix']}/{ecs['container_name']}",
            }
        )
        if ecs.get("task_role_arn_template"):
            env["AIRLOCK_ECS_TASK_ROLE_ARN_TEMPLATE"] = ecs["task_role_arn_template"]
    if execution_target:
        env["AIRLOCK_EXECUTION_TARGET"] = execution_target
    if endpoint_url:
        env[connection_env_name(aws_conn_id)] = aws_connection_json(kit["region"], endpoint_url=endpoint_url)
    return env
