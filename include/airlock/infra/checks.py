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


def stacks() -> list[Path]:
    """Every module (registry layout: a versions.tf) and every env under infra/terraform."""
    root = terraform_root()
    modules = [p.parent for p in sorted(root.glob("modules/**/versions.tf"))]
    return modules + [p.parent for p in sorted(root.glob("envs/*/versions.tf"))]


def _label(stack: Path) -> str:
    return str(stack.resolve().relative_to(terraform_root().resolve()))


def _runner(stack: Path, echo: Echo) -> TerraformRunner:
    """A runner whose .terraform lives under .airlock/ (git-ignored), one folder per stack."""
    data_dir = project_home() / ".airlock" / "terraform" / "checks" / _label(stack).replace("/", "__")
    return TerraformRunner(stack, data_dir=data_dir, echo=echo)


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


def check_all(stacks: Iterable[Path], echo: Echo = print, *, validate: bool = True, test: bool = True) -> bool:
    """fmt -check (with validate), then per stack one init, `validate`, and `terraform test` if it has tests/.

    One init per stack for both checks: each init hashes the ~700 MB provider binary.
    Returns False if anything failed; skips are printed with their reason and do not fail.
    """
    ok = fmt_check(echo) if validate else True
    echo(f"     provider mirror: {find_plugin_dir() or 'none found (registry)'}")
    for stack in stacks:
        has_tests = test and (stack / "tests").is_dir()
        if not (validate or has_tests):
            continue
        runner = _runner(stack, echo)
        if missing := runner.missing_providers():
            needs = ", ".join(missing)
            what = "validate" if validate else "test"
            echo(f"SKIP {what} {_label(stack)}: needs {needs}, not in the provider mirror (no registry access)")
            continue
        started = time.monotonic()
        try:
            runner.init(backend=False)
            if validate:
                runner.validate()
                echo(f"ok   validate {_label(stack)} ({time.monotonic() - started:.1f}s)")
            if has_tests:
                summary = [line for line in runner.test().splitlines() if line.startswith(("Success!", "Failure!"))]
                echo(f"ok   test {_label(stack)}: {summary[-1] if summary else 'passed'}")
        except InfraError as exc:
            echo(f"FAIL {_label(stack)}: {exc}")
            ok = False
    return ok


def main() -> int:
    """`python -m airlock.infra.checks`: everything `make tf-validate` and `make tf-test` do, in one pass."""
    started = time.monotonic()
    ok = check_all(stacks(), lambda line: print(line, flush=True))
    print(f"==> terraform checks {'passed' if ok else 'FAILED'} in {time.monotonic() - started:.0f}s", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
