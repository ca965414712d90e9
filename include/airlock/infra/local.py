"""Provision envs/local on a local AWS endpoint and hand back the AIRLOCK_* environment.

The demo calls `apply_local(endpoint_url)` instead of creating buckets and queues itself, so the
local stack runs on exactly what Terraform builds in production, only pointed at loopback.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from airlock.infra.outputs import outputs_to_env
from airlock.infra.runner import TerraformRunner
from airlock.settings import project_home


def _work_dir(endpoint_url: str) -> Path:
    """State and .terraform per endpoint under .airlock/ (git-ignored), apart from anyone else's."""
    digest = hashlib.sha256(endpoint_url.encode()).hexdigest()[:10]
    return project_home() / ".airlock" / "terraform" / f"local-{digest}"


def local_runner(
    endpoint_url: str,
    *,
    work_dir: Path | None = None,
    echo: Callable[[str], None] = print,
    **variables: object,
) -> TerraformRunner:
    """The runner `apply_local` uses (same state and data dir), for plan/output/destroy afterwards."""
    work = work_dir or _work_dir(endpoint_url)
    return TerraformRunner.for_env(
        "local",
        state_path=work / "terraform.tfstate",
        data_dir=work / ".terraform",
        variables={"endpoint_url": endpoint_url, **variables},
        echo=echo,
    )


def apply_local(
    endpoint_url: str,
    *,
    work_dir: Path | None = None,
    echo: Callable[[str], None] = print,
    **variables: object,
) -> dict[str, str]:
    """Apply envs/local against `endpoint_url`; return the AIRLOCK_* env (with AIRFLOW_CONN_AWS_DEFAULT).

    :param endpoint_url: the local AWS endpoint, e.g. http://127.0.0.1:5000 (moto server).
    :param work_dir: where state and .terraform go; default .airlock/terraform/local-<hash of URL>.
    :param variables: extra envs/local variables (enable_ecs=False, tenants_dir=..., ...).
    """
    runner = local_runner(endpoint_url, work_dir=work_dir, echo=echo, **variables)
    runner.init()
    runner.apply()
    return outputs_to_env(runner.output(), endpoint_url=endpoint_url)


def destroy_local(
    endpoint_url: str,
    *,
    work_dir: Path | None = None,
    echo: Callable[[str], None] = print,
    **variables: object,
) -> None:
    """Destroy what `apply_local` built on `endpoint_url` (same work_dir and variables)."""
    runner = local_runner(endpoint_url, work_dir=work_dir, echo=echo, **variables)
    runner.init()
    runner.destroy()
