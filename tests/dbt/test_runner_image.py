"""The runner image (Dockerfile.runner) agrees with the code that starts it; its Python layout works.

There is no Docker engine here, so the image is not built: its file is checked against the operators
(entrypoint, paths, pins) and its layout is reproduced (the airlock package alone next to dbt's venv).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from airlock.isolation import ENTRYPOINT
from airlock.settings import load_settings
from airlock.transform.config import load_dbt_runtime

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile.runner"
DBT_PYTHON = REPO / ".venv-dbt" / "bin" / "python"


def instructions() -> list[str]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text(encoding="utf-8"))
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_the_image_entrypoint_and_paths_are_what_the_operators_use() -> None:
    lines = instructions()
    entrypoint = next(line for line in lines if line.startswith("ENTRYPOINT"))
    assert yaml.safe_load(entrypoint.removeprefix("ENTRYPOINT").strip()) == list(ENTRYPOINT)
    runtime = load_dbt_runtime(load_settings({"AIRLOCK_HOME": str(REPO)}), {})
    env = " ".join(line for line in lines if line.startswith("ENV"))
    assert f"AIRLOCK_DBT_PROJECT_DIR={runtime.container_project_dir}" in env
    assert f"AIRLOCK_DBT_PROFILES_DIR={runtime.container_profiles_dir}" in env
    assert "PYTHONUNBUFFERED=1" in env, "dbt's lines must reach the pod log / CloudWatch as they happen"
    assert any(line == "USER 1000" for line in lines), "the ECS task definition runs uid 1000, read-only root"


def test_the_image_takes_dbts_pins_from_requirements_dbt_and_copies_what_exists() -> None:
    lines = instructions()
    assert not [line for line in lines if re.search(r"[a-z-]+==\d", line)], "pins live in requirements-dbt.txt"
    assert any("requirements-dbt.txt" in line for line in lines)
    for line in lines:
        if line.startswith("COPY"):
            source = line.split()[1]
            if not source.startswith("$"):
                assert (REPO / source).exists(), f"{line}: {source} does not exist"


def test_the_packages_layout_runs_the_entrypoint_with_dbts_venv_and_nothing_else(tmp_path: Path) -> None:
    """As in the image: /opt/airlock/lib/airlock beside dbt's venv. No Airflow, no kit dependency."""
    lib = tmp_path / "lib"
    shutil.copytree(REPO / "include" / "airlock", lib / "airlock", ignore=shutil.ignore_patterns("__pycache__"))
    env = {"PYTHONPATH": str(lib), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    probe = (
        "import airlock.isolation, airlock.transform.runner, sys; "
        "print(sorted(m for m in sys.modules if m.startswith('airflow')))"
    )
    done = subprocess.run([str(DBT_PYTHON), "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", "the runner imports nothing from Airflow"
    done = subprocess.run(
        [str(DBT_PYTHON), "-m", "airlock.isolation", "--help"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0 and "module:function" in done.stdout


def test_the_deploy_workflow_builds_and_pushes_the_runner_image() -> None:
    deploy = yaml.safe_load((REPO / ".github" / "workflows" / "deploy.yml").read_text(encoding="utf-8"))
    job = deploy["jobs"]["runner-image"]
    build = next(s for s in job["steps"] if s.get("uses", "").startswith("docker/build-push-action"))
    assert build["with"]["file"] == "Dockerfile.runner" and build["with"]["push"] is True
    assert "${{ github.sha }}" in str(job["steps"]) or "GITHUB_SHA" in str(job["steps"]), "tagged by commit"
    assert "runner-image" in str(deploy["jobs"]["mwaa"]["needs"]) and "runner-image" in deploy["jobs"]["astro"]["needs"]


@pytest.mark.skipif(not (REPO / ".venv-tools" / "bin" / "hadolint").is_file(), reason="`make tools` installs hadolint")
def test_hadolint_is_clean() -> None:
    done = subprocess.run(
        [str(REPO / ".venv-tools" / "bin" / "hadolint"), "--failure-threshold", "warning", str(DOCKERFILE)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
