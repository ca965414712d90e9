"""The Astro project files: the Dockerfile agrees with the pins, copies what exists, and lints clean."""

from __future__ import annotations

import fnmatch
import importlib.util
import re
import socket
import subprocess
from pathlib import Path

import pytest
import yaml

from airlock.packaging.mwaa import DBT_DEV_ONLY
from airlock.packaging.pins import airflow_pin, pins, requirement_lines
from tests.packaging.conftest import tool

RUNTIME = re.compile(r"^FROM\s+\S*/runtime:(\d+)\.(\d+)-(\d+)(?:-python-(\d+\.\d+))?\s*$", re.MULTILINE)


def _instructions(dockerfile: Path) -> list[str]:
    """Dockerfile instructions with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", dockerfile.read_text(encoding="utf-8"))
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _dockerignored(rel: str, patterns: list[str]) -> bool:
    """Docker's rule, simplified: the last matching pattern wins; `!` re-includes."""
    ignored = False
    parts = rel.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern.lstrip("!").strip("/")
        if any(fnmatch.fnmatch(p, pat) or fnmatch.fnmatch(p, pat.replace("**/", "")) for p in prefixes):
            ignored = not negate
    return ignored


def test_runtime_tag_matches_the_airflow_pin(project: Path) -> None:
    match = RUNTIME.search((project / "Dockerfile").read_text(encoding="utf-8"))
    assert match, "Dockerfile must start FROM the Astro Runtime image: .../runtime:<X.Y>-<patch>"
    pinned = airflow_pin(project).split(".")
    assert match.group(1, 2) == (pinned[0], pinned[1]), (
        f"Runtime {match.group(1)}.{match.group(2)} ships Airflow {match.group(1)}.{match.group(2)}.x but "
        f"requirements-dev.txt pins apache-airflow=={'.'.join(pinned)}: bump both (docs/upgrading.md)"
    )


def test_every_copied_path_exists_and_reaches_the_build_context(project: Path) -> None:
    patterns = [
        line.strip()
        for line in (project / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copies = [i for i in _instructions(project / "Dockerfile") if i.split()[0].upper() in ("COPY", "ADD")]
    assert copies, "the Dockerfile copies nothing"
    for instruction in copies:
        args = [a for a in instruction.split()[1:] if not a.startswith("--")]
        for source in args[:-1]:
            assert (project / source).exists(), f"{instruction!r}: {source} does not exist"
            assert not _dockerignored(source, patterns), f"{instruction!r}: .dockerignore excludes {source}"


def test_dockerignore_keeps_out_local_state_and_secrets(project: Path) -> None:
    patterns = [
        line.strip()
        for line in (project / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in (
        ".venv",
        ".venv-dbt",
        ".venv-tools",
        "logs",
        "var/warehouse/acme.duckdb",
        "acme.duckdb",
        ".env",
        "dbt_project/target",
        "infra/terraform/envs/prod/terraform.tfstate",
        ".airlock",
    ):
        assert _dockerignored(path, patterns), f".dockerignore lets {path} into the image"
    for path in (
        "dags/airlock_router.py",
        "include/airlock/__init__.py",
        "dbt_project/dbt_project.yml",
        "requirements.txt",
        "packages.txt",
    ):
        assert not _dockerignored(path, patterns), f".dockerignore keeps {path} out of the image"


def test_dockerfile_installs_dbt_from_the_pins_file(project: Path) -> None:
    """No version in the Dockerfile but the Runtime tag: dbt's pins come from requirements-dbt.txt."""
    text = "\n".join(_instructions(project / "Dockerfile"))
    assert "requirements-dbt.txt" in text
    for name in pins(project / "requirements-dbt.txt"):
        assert not re.search(rf"{re.escape(name)}==", text), f"{name} is pinned in the Dockerfile too"
    for name in DBT_DEV_ONLY:  # the same lint tools startup.sh leaves out
        assert f"grep -v '^{name}'" in text, f"the image's dbt venv must skip {name} like startup.sh does"
    assert requirement_lines(project / "packages.txt") == [], "packages.txt: add OS packages only when needed"


def test_hadolint_is_clean(project: Path) -> None:
    done = subprocess.run(
        [str(tool("hadolint")), "--failure-threshold", "warning", "Dockerfile"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_astro_settings_files_parse(project: Path) -> None:
    settings = yaml.safe_load((project / "airflow_settings.yaml").read_text(encoding="utf-8"))
    conns = {c["conn_id"]: c for c in settings["airflow"]["connections"]}
    assert "aws_default" in conns, "the kit's default AWS connection (AIRLOCK_AWS_CONN_ID) must exist locally"
    config = yaml.safe_load((project / ".astro" / "config.yaml").read_text(encoding="utf-8"))
    assert config["project"]["name"] == "airlock"


def test_integrity_check_refuses_non_loopback_connections(project: Path) -> None:
    """The .astro check's socket guard: loopback passes through, anything else raises (no packet sent)."""
    spec = importlib.util.spec_from_file_location("astro_integrity", project / ".astro/test_dag_integrity_default.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    calls: list[object] = []
    connect = module._loopback_only(lambda sock, address: calls.append(address))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        connect(sock, ("127.0.0.1", 9))
        with pytest.raises(OSError, match="network access while parsing DAGs"):
            connect(sock, ("192.0.2.1", 443))  # TEST-NET-1: refused by the guard before any packet
    assert calls == [("127.0.0.1", 9)]


def test_the_registry_ships_with_a_dag_only_deploy(project: Path) -> None:
    """`astro deploy --dags` uploads dags/ only: the registry the DAGs read must live there, unwalked."""
    # The walk the DAG processor does (airflow.utils.file.find_dag_file_paths), .airflowignore applied.
    from airflow._shared.module_loading.file_discovery import find_path_from_directory

    from airlock.settings import load_settings

    settings = load_settings({"AIRLOCK_HOME": str(project)})
    dags = project / "dags"
    for folder in (settings.tenants_dir, settings.dataflows_dir):
        assert folder.is_relative_to(dags), f"{folder} is outside dags/: a new tenant would need an image deploy"
        assert any(folder.glob("*.yaml")), f"{folder} holds no registry file"
    walked = [Path(p) for p in find_path_from_directory(dags, ".airflowignore", "glob")]
    assert walked, "the DAG processor finds no file at all"
    assert not [p for p in walked if p.is_relative_to(dags / "registry")], (
        "dags/.airflowignore must keep the DAG processor out of dags/registry"
    )
    assert (dags / "airlock_router.py") in walked
