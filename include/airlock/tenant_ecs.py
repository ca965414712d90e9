"""Cosmos's ECS dbt operator, run under the tenant's own processing role.

A heavy dbt model on MWAA runs as an ECS task from the kit's task definition, which has no task role
(modules/ecs): each run must assume the role of the tenant it is for (modules/tenant grants that role
only its own prefix, key and warehouse credentials), as `airlock.isolation.heavy_task` does for heavy
Python steps. Cosmos rebuilds `overrides` in `build_command` just before the task starts, so the role is
added there, from the run's rendered vars (which `assert_run_identity` has already checked against the
run's partition key).
"""

from __future__ import annotations

from typing import Any

import airflow  # noqa: F401 - must precede cosmos imports: cosmos registers a policy hook (FIELD-NOTES)
from cosmos.operators.aws_ecs import DbtBuildAwsEcsOperator

from airlock.errors import ConfigError

COSMOS_CLASS = "cosmos.operators.aws_ecs.DbtBuildAwsEcsOperator"
"""The operator Cosmos picks for a model under ExecutionMode.AWS_ECS and TestBehavior.BUILD."""


class TenantRoleDbtBuildAwsEcsOperator(DbtBuildAwsEcsOperator):
    """`dbt build` of one model in an ECS task that assumes `task_role_arn_template` with `{tenant}` filled in."""

    def __init__(self, *, task_role_arn_template: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task_role_arn_template = task_role_arn_template  # `{tenant}` in it: load_isolation_config checks

    def build_command(self, context: Any, cmd_flags: list[str] | None = None) -> None:
        super().build_command(context, cmd_flags)
        tenant = str((self.vars or {}).get("tenant_id") or "")
        if not tenant or "{" in tenant:
            raise ConfigError(f"{self.task_id}: no rendered tenant_id in the dbt vars; refusing to pick an ECS role.")
        self.overrides["taskRoleArn"] = self.task_role_arn_template.replace("{tenant}", tenant)


KIT_CLASS = f"{__name__}.{TenantRoleDbtBuildAwsEcsOperator.__name__}"
"""What the kit's node converter puts in place of COSMOS_CLASS for `heavy` models on aws_ecs."""
