"""Terraform for airlock, driven from Python: find the provider mirror, run the stacks, turn outputs into settings.

`apply_local(endpoint_url)` is the one call the demo needs to use a Terraform-provisioned local
AWS endpoint instead of its own setup; `outputs_to_env` is the one mapping from Terraform outputs
to the AIRLOCK_* environment, so infrastructure and DAG configuration cannot drift apart.
"""

from airlock.infra.local import apply_local, destroy_local, local_runner
from airlock.infra.outputs import aws_connection_json, outputs_to_env
from airlock.infra.plugins import find_plugin_dir, missing_providers
from airlock.infra.runner import ENVS, TerraformRunner, terraform_root

__all__ = [
    "ENVS",
    "TerraformRunner",
    "apply_local",
    "aws_connection_json",
    "destroy_local",
    "find_plugin_dir",
    "local_runner",
    "missing_providers",
    "outputs_to_env",
    "terraform_root",
]
