"""Provision envs/local on a local AWS endpoint and hand back the AIRLOCK_* environment.

The demo calls `apply_local(endpoint_url)` instead of creating buckets and queues itself, so the
local stack runs on exactly what Terraform builds in production, only pointed at loopback.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
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
        # Most of an apply is the provider waiting (~25 s per SQS attribute against moto):
        # more of those waits overlap with a higher parallelism, at no cost to the endpoint.
        parallelism=30,
        echo=echo,
    )


def _endpoint_is_fresh(endpoint_url: str, env_name: str) -> bool:
    """True if the endpoint has no landing bucket: a new moto server, whatever an old state says.

    A local endpoint forgets everything when restarted; refreshing a stale state against it would
    only discover, resource by resource, that nothing is there.
    """
    url = f"{endpoint_url.rstrip('/')}/airlock-{env_name}-landing"
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=5).close()  # noqa: S310
    except urllib.error.HTTPError as exc:
        return exc.code == 404
    except OSError:
        return False
    return False


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
    state = runner.state_path
    if (
        state is not None
        and state.exists()
        and _endpoint_is_fresh(endpoint_url, str(variables.get("env_name", "local")))
    ):
        echo(f"==> {endpoint_url} holds no airlock stack: starting from an empty state")
        state.unlink()
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
