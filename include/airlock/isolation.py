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
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airlock.errors import ConfigError

if TYPE_CHECKING:  # Airflow is imported lazily: the entrypoint runs in images without it.
    from airflow.sdk import BaseOperator

    from airlock.settings import Settings

ENTRYPOINT_MODULE = "airlock.isolation"
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
    # Sizes of one heavy step (Kubernetes quantities; ECS gets the equivalent CPU units / MiB).
    cpu: str = "1"
    memory: str = "2Gi"
    # Local: the separate virtualenv's interpreter, and PYTHONPATH so it finds the kit's package.
    local_python: str = sys.executable
    local_pythonpath: str = ""
    # Passed to every isolated step; never a secret (secrets come from the pod's/task's own role).
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def ecs_cpu_units(self) -> int:
        """Kubernetes CPU ("500m", "2") as ECS CPU units (1 vCPU = 1024)."""
        return int(float(self.cpu[:-1]) / 1000 * 1024) if self.cpu.endswith("m") else int(float(self.cpu) * 1024)

    @property
    def ecs_memory_mib(self) -> int:
        """Kubernetes memory ("512Mi", "2Gi") as ECS MiB."""
        units = {"Mi": 1, "Gi": 1024}
        for suffix, factor in units.items():
            if self.memory.endswith(suffix):
                return int(float(self.memory[: -len(suffix)]) * factor)
        raise ConfigError(f"AIRLOCK_HEAVY_MEMORY={self.memory!r}: write it like 512Mi or 2Gi.")


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
        cpu=env.get("AIRLOCK_HEAVY_CPU", "1"),
        memory=env.get("AIRLOCK_HEAVY_MEMORY", "2Gi"),
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
    config.ecs_memory_mib  # noqa: B018 - validate the quantity at parse time, not when the task runs
    return config


def entrypoint_command(callable_path: str, payload: Mapping[str, Any]) -> list[str]:
    """The argv after the interpreter: identical in the pod, the ECS container and the local venv.

    The payload may hold Jinja templates: their rendered values are plain identifiers (registry-checked
    tenant ids, batch ids), so the JSON stays valid once Airflow renders it.
    """
    return ["-m", ENTRYPOINT_MODULE, callable_path, "--payload", json.dumps(dict(payload), sort_keys=True)]


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
    argv = entrypoint_command(callable_path, full_payload)
    common = {"task_id": task_id, "retries": retries, **operator_kwargs}

    if settings.execution_target == "kubernetes":
        from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

        return KubernetesPodOperator(
            name=f"airlock-{task_id}".replace("_", "-")[:63],
            cmds=["python"],
            arguments=argv,
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
                    "command": ["python", *argv],
                    "environment": [{"name": k, "value": v} for k, v in sorted(env.items())],
                    "cpu": config.ecs_cpu_units,
                    "memory": config.ecs_memory_mib,
                }
            ],
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
        python=config.local_python, argv=argv, env=env, pythonpath=config.local_pythonpath, **common
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
    """Container entrypoint: import `module:function` and call it with the payload as keyword args."""
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
    function = getattr(importlib.import_module(module_name), function_name)
    result = function(**payload)
    if result is not None:
        print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "IsolationConfig",
    "claim_template",
    "ecs_kwargs",
    "entrypoint_command",
    "heavy_task",
    "load_isolation_config",
    "main",
    "pod_kwargs",
    "run_payload",
]
