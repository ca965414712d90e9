"""Heavy steps run isolated: one factory gives an ECS task (MWAA), a Kubernetes pod (Astro) or a
subprocess in a separate virtualenv (local), all three running the same container entrypoint.

The entrypoint is this module itself: ``python -m airlock.isolation <module:function> --payload JSON``.
It imports nothing from Airflow, so the image (or the local venv) needs only the kit's package and the
transform's own libraries. Placement (cluster, image, sizes) comes from AIRLOCK_* variables, read once by
`load_isolation_config`, so the deployment target is chosen by the environment and never by a DAG.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airlock.errors import ConfigError

if TYPE_CHECKING:  # Airflow is imported lazily: the entrypoint runs in images without it.
    from airflow.sdk import BaseOperator

    from airlock.settings import Settings

ENTRYPOINT_MODULE = "airlock.isolation"
ENTRYPOINT = ("python", "-m", ENTRYPOINT_MODULE)
"""The runner image's ENTRYPOINT (Dockerfile.runner): pods and ECS tasks are given only its arguments."""
CLAIM_TASK_ID = "claim"
RUN_KEYS = ("tenant_id", "batch_id", "dataflow", "tenant_schema")
"""The claim task's XCom keys every isolated step receives (docs/contracts.md, dbt vars)."""


def claim_template(key: str, claim_task_id: str = CLAIM_TASK_ID) -> str:
    """A Jinja expression reading one key of the claim task's XCom at run time (never at parse time)."""
    return "{{ ti.xcom_pull(task_ids='" + claim_task_id + "')['" + key + "'] }}"


def run_payload(claim_task_id: str = CLAIM_TASK_ID) -> dict[str, str]:
    """The run's identity (tenant, batch, dataflow, schema) as templates: rendered per task instance."""
    return {key: claim_template(key, claim_task_id) for key in RUN_KEYS}


@dataclass(frozen=True)
class IsolationConfig:
    """Where isolated steps run. Every field maps to one AIRLOCK_* variable (see `load_isolation_config`)."""

    # Kubernetes (Astro): the deployment's namespace and a least-privilege service account.
    image: str = "airlock:latest"
    namespace: str = "default"
    service_account: str = "airlock-transform"
    kubernetes_conn_id: str | None = None
    in_cluster: bool = True
    # ECS (MWAA): a Fargate task definition whose container runs the same image.
    ecs_cluster: str = ""
    ecs_task_definition: str = ""
    ecs_container: str = "airlock"
    ecs_subnets: tuple[str, ...] = ()
    ecs_security_groups: tuple[str, ...] = ()
    ecs_assign_public_ip: bool = False
    ecs_log_group: str = ""
    ecs_log_stream_prefix: str = "airlock/airlock"
    ecs_task_role_arn_template: str = ""
    aws_region: str | None = None
    aws_conn_id: str = "aws_default"
    # Sizes (Kubernetes quantities; ECS gets the equivalent CPU units / MiB): a dataflow's dbt build, and a
    # heavy step or the build of a dataflow with a model tagged `heavy`.
    build_cpu: str = "1"
    build_memory: str = "2Gi"
    cpu: str = "2"
    memory: str = "4Gi"
    # Kubernetes: the Secret whose keys become the dbt container's environment (warehouse credentials), and
    # the tenant's processing role the build assumes (`{tenant}` filled per run).
    k8s_warehouse_secret: str = "airlock-warehouse"  # noqa: S105 - the Secret's name, not a secret
    k8s_tenant_role_arn_template: str = ""
    # Local: the separate virtualenv's interpreter, and PYTHONPATH so it finds the kit's package.
    local_python: str = sys.executable
    local_pythonpath: str = ""
    # Passed to every isolated step; never a secret (secrets come from the pod's/task's own role).
    env: Mapping[str, str] = field(default_factory=dict)

    def size(self, heavy: bool) -> tuple[str, str]:
        """(cpu, memory) of one container: the heavy size, or a dbt build's ordinary one."""
        return (self.cpu, self.memory) if heavy else (self.build_cpu, self.build_memory)

    @property
    def ecs_cpu_units(self) -> int:
        return ecs_cpu_units(self.cpu)

    @property
    def ecs_memory_mib(self) -> int:
        return ecs_memory_mib(self.memory)


def ecs_cpu_units(cpu: str) -> int:
    """Kubernetes CPU ("500m", "2") as ECS CPU units (1 vCPU = 1024)."""
    try:
        return int(float(cpu[:-1]) / 1000 * 1024) if cpu.endswith("m") else int(float(cpu) * 1024)
    except ValueError:
        raise ConfigError(
            f"CPU quantity {cpu!r} (AIRLOCK_HEAVY_CPU / AIRLOCK_DBT_CPU): write it like 500m or 2."
        ) from None


def ecs_memory_mib(memory: str) -> int:
    """Kubernetes memory ("512Mi", "2Gi") as ECS MiB."""
    units = {"Mi": 1, "Gi": 1024}
    for suffix, factor in units.items():
        if memory.endswith(suffix):
            return int(float(memory[: -len(suffix)]) * factor)
    raise ConfigError(
        f"memory quantity {memory!r} (AIRLOCK_HEAVY_MEMORY / AIRLOCK_DBT_MEMORY): write it like 512Mi or 2Gi."
    )


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def load_isolation_config(settings: Settings, environ: Mapping[str, str] | None = None) -> IsolationConfig:
    """Read the isolation variables; raise ConfigError naming the missing variable for the chosen target."""
    env = os.environ if environ is None else environ
    home = settings.home
    default_python = home / ".venv-dbt" / "bin" / "python"
    config = IsolationConfig(
        image=env.get("AIRLOCK_TASK_IMAGE", "airlock:latest"),
        namespace=env.get("AIRLOCK_K8S_NAMESPACE", "default"),
        service_account=env.get("AIRLOCK_K8S_SERVICE_ACCOUNT", "airlock-transform"),
        kubernetes_conn_id=env.get("AIRLOCK_K8S_CONN_ID") or None,
        in_cluster=env.get("AIRLOCK_K8S_IN_CLUSTER", "true").lower() != "false",
        ecs_cluster=env.get("AIRLOCK_ECS_CLUSTER", ""),
        ecs_task_definition=env.get("AIRLOCK_ECS_TASK_DEFINITION", ""),
        ecs_container=env.get("AIRLOCK_ECS_CONTAINER", "airlock"),
        ecs_subnets=_split(env.get("AIRLOCK_ECS_SUBNETS")),
        ecs_security_groups=_split(env.get("AIRLOCK_ECS_SECURITY_GROUPS")),
        ecs_assign_public_ip=env.get("AIRLOCK_ECS_ASSIGN_PUBLIC_IP", "false").lower() == "true",
        ecs_log_group=env.get("AIRLOCK_ECS_LOG_GROUP", f"/airlock/{settings.env}/transform"),
        ecs_log_stream_prefix=env.get("AIRLOCK_ECS_LOG_STREAM_PREFIX", "airlock/airlock"),
        # The task definition has no task role: each run assumes its tenant's processing role, or none.
        ecs_task_role_arn_template=env.get("AIRLOCK_ECS_TASK_ROLE_ARN_TEMPLATE", ""),
        aws_region=env.get("AIRLOCK_AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
        aws_conn_id=settings.aws_conn_id,
        build_cpu=env.get("AIRLOCK_DBT_CPU", "1"),
        build_memory=env.get("AIRLOCK_DBT_MEMORY", "2Gi"),
        cpu=env.get("AIRLOCK_HEAVY_CPU", "2"),
        memory=env.get("AIRLOCK_HEAVY_MEMORY", "4Gi"),
        k8s_warehouse_secret=env.get("AIRLOCK_K8S_WAREHOUSE_SECRET", "airlock-warehouse"),
        k8s_tenant_role_arn_template=env.get("AIRLOCK_K8S_TENANT_ROLE_ARN_TEMPLATE", ""),
        local_python=env.get("AIRLOCK_HEAVY_PYTHON")
        or (str(default_python) if default_python.exists() else sys.executable),
        local_pythonpath=env.get("AIRLOCK_HEAVY_PYTHONPATH", str(home / "include")),
        env={"AIRLOCK_ENV": settings.env, "AIRLOCK_EXECUTION_TARGET": settings.execution_target},
    )
    if settings.execution_target == "aws_ecs":
        missing = [
            name
            for name, value in (
                ("AIRLOCK_ECS_CLUSTER", config.ecs_cluster),
                ("AIRLOCK_ECS_TASK_DEFINITION", config.ecs_task_definition),
                ("AIRLOCK_ECS_SUBNETS", config.ecs_subnets),
                ("AIRLOCK_ECS_TASK_ROLE_ARN_TEMPLATE", "{tenant}" in config.ecs_task_role_arn_template),
            )
            if not value
        ]
        if missing:
            raise ConfigError(
                f"AIRLOCK_EXECUTION_TARGET=aws_ecs needs {', '.join(missing)}: take them from the ecs "
                "module's Terraform outputs (cluster_arn, task_definition_family, private_subnet_ids, "
                "task_role_arn_template with '{tenant}'; `airlock infra output` prints them)."
            )
    if settings.execution_target == "kubernetes" and "{tenant}" not in config.k8s_tenant_role_arn_template:
        raise ConfigError(
            "AIRLOCK_EXECUTION_TARGET=kubernetes needs AIRLOCK_K8S_TENANT_ROLE_ARN_TEMPLATE with '{tenant}' (the "
            "tenant module's processing role, e.g. arn:aws:iam::123456789012:role/airlock-prod-{tenant}-processing): "
            "each run's pod acts as its tenant."
        )
    for cpu, memory in (config.size(True), config.size(False)):  # validate the quantities at parse time
        ecs_cpu_units(cpu), ecs_memory_mib(memory)
    return config


def entrypoint_args(callable_path: str, payload: Mapping[str, Any]) -> list[str]:
    """The entrypoint's arguments: identical in the pod, the ECS container and the local venv.

    Containers run the runner image's ENTRYPOINT (`python -m airlock.isolation`, Dockerfile.runner) and get
    only these; the local subprocess runs `<python> -m airlock.isolation` with them. The payload may hold
    Jinja templates: their rendered values are plain identifiers (registry-checked tenant ids, batch ids),
    so the JSON stays valid once Airflow renders it.
    """
    return [callable_path, "--payload", json.dumps(dict(payload), sort_keys=True)]


# ---- Kubernetes / ECS keyword arguments, shared with Cosmos's isolated dbt operators -----------------


def pod_kwargs(config: IsolationConfig, labels: Mapping[str, str]) -> dict[str, Any]:
    """KubernetesPodOperator arguments common to heavy Python steps and heavy dbt models."""
    from kubernetes.client import models as k8s

    resources = k8s.V1ResourceRequirements(
        requests={"cpu": config.cpu, "memory": config.memory},
        limits={"cpu": config.cpu, "memory": config.memory},
    )
    kwargs: dict[str, Any] = {
        "image": config.image,
        "namespace": config.namespace,
        "service_account_name": config.service_account,
        "container_resources": resources,
        "labels": {"app": "airlock", **labels},
        "in_cluster": config.in_cluster,
        "get_logs": True,
        "on_finish_action": "delete_succeeded_pod",
        "startup_timeout_seconds": 300,
    }
    if config.kubernetes_conn_id:
        kwargs["kubernetes_conn_id"] = config.kubernetes_conn_id
    return kwargs


def ecs_kwargs(config: IsolationConfig) -> dict[str, Any]:
    """EcsRunTaskOperator arguments common to heavy Python steps and heavy dbt models."""
    kwargs: dict[str, Any] = {
        "cluster": config.ecs_cluster,
        "task_definition": config.ecs_task_definition,
        "launch_type": "FARGATE",
        "aws_conn_id": config.aws_conn_id,
        "network_configuration": {
            "awsvpcConfiguration": {
                "subnets": list(config.ecs_subnets),
                "securityGroups": list(config.ecs_security_groups),
                "assignPublicIp": "ENABLED" if config.ecs_assign_public_ip else "DISABLED",
            }
        },
        "awslogs_group": config.ecs_log_group,
        "awslogs_stream_prefix": config.ecs_log_stream_prefix,
        "propagate_tags": "TASK_DEFINITION",
        "wait_for_completion": True,
    }
    if config.aws_region:
        kwargs["awslogs_region"] = config.aws_region
    return kwargs


# ---- The factory ------------------------------------------------------------------------------------


def heavy_task(
    task_id: str,
    callable_path: str,
    settings: Settings,
    *,
    payload: Mapping[str, str] | None = None,
    config: IsolationConfig | None = None,
    claim_task_id: str = CLAIM_TASK_ID,
    retries: int = 2,
    **operator_kwargs: Any,
) -> BaseOperator:
    """One heavy, non-dbt Python step, placed by `settings.execution_target`.

    :param task_id: the Airflow task id.
    :param callable_path: ``package.module:function`` run by the entrypoint with the payload as kwargs.
    :param payload: extra templated arguments; the run's tenant, batch, dataflow and schema (from the
        claim task's XCom) are always included, so a step cannot be started for another tenant.
    :param config: placement; defaults to `load_isolation_config(settings)`.
    """
    if ":" not in callable_path:
        raise ConfigError(f"heavy step {task_id}: callable_path {callable_path!r} must be 'module:function'.")
    config = config or load_isolation_config(settings)
    full_payload = {**(payload or {}), **run_payload(claim_task_id)}
    tenant = claim_template("tenant_id", claim_task_id)
    env = {**config.env, "AIRLOCK_TENANT_ID": tenant, "AIRLOCK_BATCH_ID": claim_template("batch_id", claim_task_id)}
    args = entrypoint_args(callable_path, full_payload)
    common = {"task_id": task_id, "retries": retries, **operator_kwargs}

    if settings.execution_target == "kubernetes":
        from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

        env["AIRLOCK_TENANT_ROLE_ARN"] = config.k8s_tenant_role_arn_template.replace("{tenant}", tenant)
        return KubernetesPodOperator(
            name=f"airlock-{task_id}".replace("_", "-")[:63],
            arguments=args,  # the image's ENTRYPOINT is `python -m airlock.isolation`
            env_vars=env,
            **pod_kwargs(config, {"airlock/step": task_id.replace("_", "-")}),
            **common,
        )
    if settings.execution_target == "aws_ecs":
        from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator

        overrides = {
            "containerOverrides": [
                {
                    "name": config.ecs_container,
                    "command": args,  # after the image's ENTRYPOINT
                    "environment": [{"name": k, "value": v} for k, v in sorted(env.items())],
                    "cpu": config.ecs_cpu_units,
                    "memory": config.ecs_memory_mib,
                }
            ],
            # Fargate: a container cannot outgrow its task, so the task size is overridden too.
            "cpu": str(config.ecs_cpu_units),
            "memory": str(config.ecs_memory_mib),
            "taskRoleArn": config.ecs_task_role_arn_template.replace("{tenant}", tenant),
        }
        return EcsRunTaskOperator(
            overrides=overrides,
            container_name=config.ecs_container,
            tags={"airlock:tenant": tenant, "airlock:step": task_id},
            **ecs_kwargs(config),
            **common,
        )
    return LocalVenvOperator(
        python=config.local_python,
        argv=["-m", ENTRYPOINT_MODULE, *args],
        env=env,
        pythonpath=config.local_pythonpath,
        **common,
    )


def _local_operator_class() -> type:
    from airflow.sdk import BaseOperator

    class _LocalVenvOperator(BaseOperator):
        """Run the isolation entrypoint with another virtualenv's interpreter, in a subprocess.

        :param python: the interpreter of the separate virtualenv.
        :param argv: the entrypoint's arguments (templated: they carry the run's tenant and batch).
        :param env: extra environment (templated).
        :param pythonpath: where the kit's package lives for that interpreter.
        """

        template_fields: Sequence[str] = ("argv", "env")

        def __init__(
            self, *, python: str, argv: list[str], env: Mapping[str, str], pythonpath: str, **kwargs: Any
        ) -> None:
            super().__init__(**kwargs)
            self.python = python
            self.argv = argv
            self.env = dict(env)
            self.pythonpath = pythonpath

        def execute(self, context: Any) -> None:
            child_env = {**os.environ, **self.env, "PYTHONPATH": self.pythonpath}
            cmd = [self.python, *self.argv]
            self.log.info("Running %s", " ".join(cmd))
            proc = subprocess.run(cmd, env=child_env, capture_output=True, text=True, check=False)
            for line in (proc.stdout + proc.stderr).splitlines():
                self.log.info("%s", line)
            if proc.returncode != 0:
                from airflow.exceptions import AirflowException

                lines = proc.stderr.strip().splitlines() or ["(no output)"]
                # The exception line first: it is what the task's failure summary shows.
                raise AirflowException(f"heavy step failed (exit {proc.returncode}): {lines[-1]}")

    _LocalVenvOperator.__name__ = "LocalVenvOperator"
    _LocalVenvOperator.__qualname__ = "LocalVenvOperator"
    return _LocalVenvOperator


def LocalVenvOperator(**kwargs: Any) -> BaseOperator:
    """Build the local-subprocess operator (defined lazily so the entrypoint never imports Airflow)."""
    global _LOCAL_VENV_OPERATOR
    if _LOCAL_VENV_OPERATOR is None:
        _LOCAL_VENV_OPERATOR = _local_operator_class()
    return _LOCAL_VENV_OPERATOR(**kwargs)


_LOCAL_VENV_OPERATOR: Any = None


# ---- The entrypoint -----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Container entrypoint: import `module:function` and call it with the payload as keyword args.

    An int result is the exit code; anything else is printed as JSON and the exit code is 0.
    """
    parser = argparse.ArgumentParser(prog="python -m airlock.isolation", description=main.__doc__)
    parser.add_argument("callable", help="module:function")
    parser.add_argument("--payload", default="{}", help="JSON object passed as keyword arguments")
    args = parser.parse_args(argv)
    module_name, _, function_name = args.callable.partition(":")
    payload = json.loads(args.payload)
    missing = [k for k in RUN_KEYS if not payload.get(k)]
    if missing:
        print(f"airlock.isolation: payload lacks {missing}; the factory always passes them", file=sys.stderr)
        return 2
    try:
        assume_tenant_role(str(payload["tenant_id"]), str(payload["batch_id"]))
    except ConfigError as exc:
        print(f"airlock.isolation: {exc}", file=sys.stderr)
        return 2
    function = getattr(importlib.import_module(module_name), function_name)
    result = function(**payload)
    if isinstance(result, int) and not isinstance(result, bool):
        return result  # the callable's own exit code (the dbt runner's: 0 built, 1 failures, 2 could not run)
    if result is not None:
        print(json.dumps(result, default=str))
    return 0


def assume_tenant_role(tenant_id: str, batch_id: str, environ: MutableMapping[str, str] | None = None) -> str | None:
    """Act as the run's tenant: assume AIRLOCK_TENANT_ROLE_ARN, if set, and export its credentials.

    A pod runs under the deployment's workload identity; what it does for a tenant must be done as that
    tenant's processing role (modules/tenant), which the identity may assume. An ECS task already runs as
    the tenant's role (taskRoleArn) and leaves the variable unset. Returns the role assumed, if any.
    """
    env = os.environ if environ is None else environ
    role_arn = env.get("AIRLOCK_TENANT_ROLE_ARN")
    if not role_arn:
        return None
    role_name = role_arn.rsplit("/", 1)[-1]
    if not re.search(rf"(^|[^a-z0-9]){re.escape(tenant_id)}([^a-z0-9]|$)", role_name):
        raise ConfigError(f"AIRLOCK_TENANT_ROLE_ARN {role_arn} is not tenant {tenant_id}'s role; refusing to run.")
    import boto3

    session_name = f"airlock-{tenant_id}-{batch_id}"[:64]
    credentials = boto3.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
    env["AWS_ACCESS_KEY_ID"] = credentials["AccessKeyId"]
    env["AWS_SECRET_ACCESS_KEY"] = credentials["SecretAccessKey"]
    env["AWS_SESSION_TOKEN"] = credentials["SessionToken"]
    print(f"airlock.isolation: acting as {role_arn} ({session_name})", file=sys.stderr)
    return role_arn


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "IsolationConfig",
    "assume_tenant_role",
    "claim_template",
    "ecs_kwargs",
    "entrypoint_args",
    "heavy_task",
    "load_isolation_config",
    "main",
    "pod_kwargs",
    "run_payload",
]
