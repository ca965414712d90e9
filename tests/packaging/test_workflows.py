"""The CI/CD workflows and .ci/run: linted, and calling only make targets that exist."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.packaging.conftest import tool

WORKFLOWS = ("ci.yml", "deploy.yml")


def test_actionlint_is_clean(project: Path) -> None:
    files = [str(project / ".github" / "workflows" / name) for name in WORKFLOWS]
    done = subprocess.run([str(tool("actionlint")), "-no-color", *files], cwd=project, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def _make_targets(script: str) -> set[str]:
    """Targets of the `make ...` command lines in a shell script (comments ignored)."""
    targets = set()
    for line in script.splitlines():
        if match := re.match(r"^\s*(?:exec\s+)?make\s+([a-z][\w\s-]*)$", line.split("#")[0].rstrip()):
            targets.update(t for t in match.group(1).split() if "=" not in t)
    return targets


def test_workflows_call_existing_make_targets(project: Path) -> None:
    targets = _make_targets((project / ".ci" / "run").read_text(encoding="utf-8"))
    for name in WORKFLOWS:
        workflow = yaml.safe_load((project / ".github/workflows" / name).read_text(encoding="utf-8"))
        for job in workflow["jobs"].values():
            for step in job.get("steps", []):
                targets |= _make_targets(step.get("run", ""))
    assert {"venv", "test", "manifest", "lint-docker", "lint-workflows"} <= targets
    database = subprocess.run(["make", "-pRrq", "-f", "Makefile"], cwd=project, capture_output=True, text=True).stdout
    defined = set(re.findall(r"^([a-zA-Z][\w-]*):", database, re.MULTILINE))
    missing = sorted(t for t in targets if t not in defined)
    assert not missing, f"workflows or .ci/run call undefined make targets: {missing}"


def test_deploy_targets_are_chosen_by_repo_variables(project: Path) -> None:
    deploy = yaml.safe_load((project / ".github/workflows/deploy.yml").read_text(encoding="utf-8"))
    jobs = deploy["jobs"]
    assert "vars.DEPLOY_TARGETS" in jobs["astro"]["if"] and "vars.DEPLOY_TARGETS" in jobs["mwaa"]["if"]
    steps = {s.get("uses", "").split("@")[0] for s in jobs["astro"]["steps"]}
    assert "astronomer/deploy-action" in steps, "Astro deploys go through the official action"


def test_ci_run_is_strict_and_ends_with_the_test_command(project: Path) -> None:
    script = (project / ".ci" / "run").read_text(encoding="utf-8")
    assert "set -euo pipefail" in script
    assert script.rstrip().splitlines()[-1] == "exec make test", "pytest's summary must be the last output"
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck not installed (apt-get install shellcheck; .ci/run does)")
    done = subprocess.run(["shellcheck", ".ci/run"], cwd=project, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
