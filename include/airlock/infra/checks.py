"""Static checks over infra/terraform: fmt, validate and `terraform test` on every module and env.

A stack whose providers are not in the mirror (astronomer/astro, DataDog/datadog cannot be
downloaded here) is skipped with the reason printed; its AWS-only parts live in child modules
that are validated on their own.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from airlock.infra.plugins import find_plugin_dir
from airlock.infra.runner import InfraError, TerraformRunner, terraform_binary, terraform_root
from airlock.settings import project_home

Echo = Callable[[str], None]


def _data_dir(stack: Path) -> Path:
    rel = stack.resolve().relative_to(terraform_root().resolve())
    return project_home() / ".airlock" / "terraform" / "checks" / str(rel).replace("/", "__")


def _runner(stack: Path, echo: Echo) -> TerraformRunner:
    return TerraformRunner(stack, data_dir=_data_dir(stack), echo=echo)


def fmt_check(echo: Echo) -> bool:
    """`terraform fmt -check -recursive` over infra/terraform; prints the files that differ."""
    result = subprocess.run(
        [terraform_binary(), "fmt", "-check", "-recursive", "-diff", str(terraform_root())],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        echo(f"FAIL terraform fmt -check:\n{result.stdout}{result.stderr}")
        return False
    echo("ok   terraform fmt -check (infra/terraform)")
    return True


def _label(stack: Path) -> str:
    return str(stack.resolve().relative_to(terraform_root().resolve()))


def validate_all(stacks: Iterable[Path], echo: Echo = print) -> bool:
    """fmt -check, then init -backend=false + validate on each stack. False if anything failed."""
    ok = fmt_check(echo)
    plugin_dir = find_plugin_dir()
    echo(f"     provider mirror: {plugin_dir or 'none found (registry)'}")
    for stack in stacks:
        runner = _runner(stack, echo)
        if missing := runner.missing_providers():
            needs = ", ".join(missing)
            echo(f"SKIP validate {_label(stack)}: needs {needs}, not in the provider mirror (no registry access)")
            continue
        started = time.monotonic()
        try:
            runner.init(backend=False)
            runner.validate()
        except InfraError as exc:
            echo(f"FAIL validate {_label(stack)}: {exc}")
            ok = False
            continue
        echo(f"ok   validate {_label(stack)} ({time.monotonic() - started:.1f}s)")
    return ok


def test_all(stacks: Iterable[Path], echo: Echo = print) -> bool:
    """`terraform test` in each stack (they use mock providers: no endpoint, no credentials)."""
    ok = True
    for stack in stacks:
        runner = _runner(stack, echo)
        if missing := runner.missing_providers():
            echo(f"SKIP test {_label(stack)}: needs {', '.join(missing)}, not in the provider mirror")
            continue
        try:
            runner.init(backend=False)
            out = runner.test()
        except InfraError as exc:
            echo(f"FAIL test {_label(stack)}: {exc}")
            ok = False
            continue
        summary = [line for line in out.splitlines() if line.startswith(("Success!", "Failure!"))]
        echo(f"ok   test {_label(stack)}: {summary[-1] if summary else 'passed'}")
    return ok
