"""Run one Terraform stack (init, plan, apply, output, destroy) through python-terraform, with progress.

The runner owns what differs per machine or per caller: the provider mirror (`-plugin-dir`),
an isolated data dir and state file (so tests and engineers sharing a work tree do not trample
each other's `.terraform/`), and the environment the terraform process sees.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from python_terraform import IsFlagged, Terraform

from airlock.errors import AirlockError
from airlock.infra.plugins import find_plugin_dir, missing_providers
from airlock.settings import project_home

ENVS = ("local", "prod")
"""Stacks the `airlock infra` command drives (infra/terraform/envs/<name>)."""


class InfraError(AirlockError):
    """Terraform is missing, or a Terraform command failed; the message says which and how to look."""


def terraform_root(home: Path | None = None) -> Path:
    """infra/terraform of the project."""
    return (home or project_home()) / "infra" / "terraform"


def terraform_binary() -> str:
    """The terraform executable, or InfraError naming how to get one."""
    found = shutil.which(os.environ.get("AIRLOCK_TERRAFORM", "terraform"))
    if not found:
        raise InfraError("terraform not found on PATH. Fix: install Terraform >= 1.7 or set AIRLOCK_TERRAFORM.")
    return found


@contextlib.contextmanager
def _environ(extra: Mapping[str, str]) -> Iterator[None]:
    """Temporarily add variables to os.environ.

    python-terraform 0.10.1 builds the child's environment from os.environ and has no parameter
    for it; this is the narrowest way to give terraform its TF_DATA_DIR without leaking it.
    """
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class TerraformRunner:
    """One stack directory, its state and data dir, and the commands the kit runs on it.

    :param stack_dir: the env or module folder (infra/terraform/envs/local, ...).
    :param state_path: local state file; None keeps the stack's own backend (prod: S3).
    :param data_dir: TF_DATA_DIR (the `.terraform` folder); None uses `<stack>/.terraform`.
    :param variables: `-var` values for plan/apply/destroy.
    :param var_files: `-var-file` files for plan/apply/destroy (prod: prod.tfvars).
    :param parallelism: `-parallelism` for plan/apply/destroy; None keeps Terraform's 10.
    :param plugin_dir: provider mirror; None discovers one (see airlock.infra.plugins).
    :param echo: where progress lines go.
    """

    def __init__(
        self,
        stack_dir: Path,
        *,
        state_path: Path | None = None,
        data_dir: Path | None = None,
        variables: Mapping[str, Any] | None = None,
        var_files: list[Path] | None = None,
        parallelism: int | None = None,
        plugin_dir: Path | None = None,
        echo: Callable[[str], None] = print,
    ) -> None:
        self.stack_dir = Path(stack_dir)
        if not (self.stack_dir / "versions.tf").exists() and not list(self.stack_dir.glob("*.tf")):
            raise InfraError(f"{self.stack_dir}: no Terraform files here.")
        self.state_path = state_path
        self.data_dir = data_dir
        self.variables = dict(variables or {})
        self.var_files = [str(Path(f).resolve()) for f in var_files or []]
        self.parallelism = parallelism
        self.plugin_dir = plugin_dir if plugin_dir is not None else find_plugin_dir()
        self.echo = echo
        self._tf = Terraform(working_dir=str(self.stack_dir), terraform_bin_path=terraform_binary())

    @classmethod
    def for_env(cls, env: str, **kwargs: Any) -> TerraformRunner:
        """The runner of infra/terraform/envs/<env>."""
        if env not in ENVS:
            raise InfraError(f"unknown env {env!r}: use one of {', '.join(ENVS)}.")
        return cls(terraform_root() / "envs" / env, **kwargs)

    # -- plumbing --------------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = {"TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
        # A TF_CLI_CONFIG_FILE naming a file that does not exist only produces a warning on every
        # command; nothing would be read from it, so point it at an empty config instead.
        cli_config = os.environ.get("TF_CLI_CONFIG_FILE")
        if cli_config and not Path(cli_config).exists():
            env["TF_CLI_CONFIG_FILE"] = os.devnull
        if self.data_dir is not None:
            env["TF_DATA_DIR"] = str(self.data_dir)
        return env

    def _run(self, command: str, *args: str, stream: bool = False, **options: Any) -> str:
        label = f"terraform {command} ({self.stack_dir.relative_to(self.stack_dir.parents[2])})"
        if stream:
            self.echo(f"==> {label}")
            sys.stdout.flush()
        started = time.monotonic()
        with _environ(self._env()):
            code, out, err = self._tf.cmd(command, *args, no_color=IsFlagged, capture_output=not stream, **options)
        elapsed = time.monotonic() - started
        if code != 0:
            detail = (err or out or "").strip().splitlines()[-15:] if not stream else ["(see output above)"]
            raise InfraError(f"{label} failed (exit {code}) after {elapsed:.0f}s:\n" + "\n".join(detail))
        if stream:
            self.echo(f"==> {label}: done in {elapsed:.1f}s")
        return out or ""

    def missing_providers(self) -> list[str]:
        """Providers this stack needs that the mirror lacks (validation must then be skipped)."""
        return missing_providers(self.stack_dir, self.plugin_dir)

    # -- commands --------------------------------------------------------------------------------
    def init(self, *, backend: bool = True, backend_config_file: Path | None = None) -> None:
        """`terraform init`, offline from the mirror when there is one.

        :param backend_config_file: partial backend settings (envs/prod: backend.hcl).
        """
        options: dict[str, Any] = {"input": False}
        if self.plugin_dir is not None:
            options["plugin_dir"] = str(self.plugin_dir)
        if not backend:
            options["backend"] = False
        elif self.state_path is not None:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            options["backend_config"] = {"path": str(self.state_path)}
            options["reconfigure"] = IsFlagged
        elif backend_config_file is not None:
            options["backend_config"] = str(Path(backend_config_file).resolve())
        self._run("init", **options)

    def _var_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if self.parallelism:
            options["parallelism"] = self.parallelism
        if self.var_files:
            options["var_file"] = self.var_files
        if self.variables:
            options["var"] = self.variables
        return options

    def validate(self) -> None:
        """`terraform validate` (after `init(backend=False)`)."""
        self._run("validate")

    def plan(self, *, detailed: bool = False) -> bool:
        """`terraform plan`; returns True if changes are pending (uses -detailed-exitcode)."""
        label = "terraform plan"
        self.echo(f"==> {label} ({self.stack_dir.name})")
        with _environ(self._env()):
            code, out, err = self._tf.cmd(
                "plan",
                no_color=IsFlagged,
                input=False,
                detailed_exitcode=IsFlagged,
                capture_output=detailed,
                **self._var_options(),
            )
        if code == 1:
            raise InfraError(f"{label} failed:\n{(err or out or '(see output above)').strip()[-2000:]}")
        if detailed and out:
            self.echo(out.strip().splitlines()[-1])
        return code == 2

    def apply(self) -> None:
        """`terraform apply -auto-approve`, streaming Terraform's own progress lines."""
        self._run("apply", stream=True, input=False, auto_approve=IsFlagged, **self._var_options())

    def destroy(self) -> None:
        """`terraform destroy -auto-approve` (python-terraform's destroy() still passes the removed -force)."""
        self._run("destroy", stream=True, input=False, auto_approve=IsFlagged, **self._var_options())

    def output(self) -> dict[str, Any]:
        """`terraform output -json` as a dict of name -> {value, type, sensitive}."""
        import json

        out = self._run("output", json=IsFlagged)
        try:
            data: dict[str, Any] = json.loads(out or "{}")
        except json.JSONDecodeError as exc:
            raise InfraError(f"terraform output -json is not JSON: {exc}") from None
        return data

    def state_list(self) -> list[str]:
        """Addresses in the state (`terraform state list`)."""
        return [line for line in self._run("state list").splitlines() if line.strip()]

    def test(self) -> str:
        """`terraform test` (mock providers; no endpoint needed); returns its output."""
        return self._run("test")
