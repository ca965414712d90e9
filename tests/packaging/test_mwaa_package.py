"""`airlock package mwaa`: the S3 layout MWAA expects, derived from this checkout and its pins."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from airlock.cli import main
from airlock.packaging.mwaa import (
    MwaaPackage,
    build_mwaa_package,
    dbt_runtime_requirements,
    merged_constraints,
)
from airlock.packaging.pins import requirement_lines

CONSTRAINT_331 = "https://raw.githubusercontent.com/apache/airflow/constraints-3.3.1/constraints-3.12.txt"


def _tiny_project(root: Path, *, plugins: bool = False, manifest: bool = True) -> Path:
    """A minimal project: one DAG, a package, the three requirements files, a dbt project."""
    (root / "dags" / "registry" / "tenants").mkdir(parents=True)
    (root / "dags" / "hello.py").write_text("from airflow.sdk import DAG\n")
    (root / "dags" / "registry" / "tenants" / "acme.yaml").write_text("id: acme\n")
    (root / "include" / "airlock").mkdir(parents=True)
    (root / "include" / "airlock" / "__init__.py").write_text("")
    (root / "requirements.txt").write_text("# pins\napache-airflow-providers-amazon==9.39.0\nduckdb==1.5.5\n")
    (root / "requirements-dbt.txt").write_text("dbt-core==1.11.16\nsqlfluff==4.4.0\n")
    (root / "dbt_project" / "target").mkdir(parents=True)
    (root / "dbt_project" / "dbt_project.yml").write_text("name: t\n")
    (root / "dbt_project" / "target" / "run_results.json").write_text("{}")
    if manifest:
        (root / "dbt_project" / "target" / "manifest.json").write_text("{}")
    (root / "plugins").mkdir()
    if plugins:
        (root / "plugins" / "docs_link.py").write_text("# a plugin\n")
    return root


def test_layout_puts_everything_the_dags_import_inside_dags(package: MwaaPackage, project: Path) -> None:
    dags = package.root / "dags"
    assert sorted(p.name for p in dags.glob("*.py")) == sorted(p.name for p in (project / "dags").glob("*.py"))
    assert (dags / "airlock" / "__init__.py").is_file(), "MWAA syncs only dags/: the package lives there"
    shipped = sorted(p.name for p in (dags / "registry" / "tenants").glob("*.yaml"))
    assert shipped == sorted(p.name for p in (project / "dags" / "registry" / "tenants").glob("*.yaml"))
    for folder in (p for p in (project / "include").iterdir() if p.is_dir() and p.name != "airlock"):
        if not folder.name.startswith(("_", ".")):
            assert (dags / "include" / folder.name).is_dir(), f"include/{folder.name} must ship in dags/include"
    assert [p.name for p in (dags / "dbt_project" / "target").iterdir()] == ["manifest.json"]
    assert sorted(p.name for p in package.root.iterdir()) == sorted(
        ["BUILD.json", "dags", "requirements.txt", "startup.sh"] + (["plugins.zip"] if package.plugins_zip else [])
    )
    leaked = [p for p in package.root.rglob("*") if p.name == "__pycache__" or p.suffix in (".duckdb", ".pyc")]
    assert not leaked, f"local state in the package: {leaked[:5]}"


def test_airflowignore_keeps_support_folders_out_of_dag_discovery(package: MwaaPackage) -> None:
    lines = (package.root / "dags" / ".airflowignore").read_text().splitlines()
    assert {"registry/", "airlock/", "include/", "dbt_project/"} <= set(lines)


def test_startup_points_the_settings_at_the_shipped_registry(package: MwaaPackage, tmp_path: Path) -> None:
    """dags/ is AIRLOCK_HOME on MWAA, so the registry is <home>/registry, not <home>/dags/registry."""
    env = {"PATH": "/usr/bin:/bin", "AIRFLOW_HOME": str(tmp_path), "MWAA_AIRFLOW_COMPONENT": "webserver"}
    done = subprocess.run(
        ["sh", "-c", f'. {package.root / "startup.sh"}; echo "$AIRLOCK_TENANTS_DIR|$AIRLOCK_DATAFLOWS_DIR"'],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    tenants, dataflows = done.stdout.strip().splitlines()[-1].split("|")
    assert tenants == f"{tmp_path}/dags/registry/tenants" and dataflows == f"{tmp_path}/dags/registry/dataflows"
    for folder in (tenants, dataflows):  # the same folders, relative to the package's dags/
        assert (package.root / "dags" / Path(folder).relative_to(tmp_path / "dags")).is_dir()


def test_requirements_carry_the_constraint_and_the_pins_from_requirements_txt(
    package: MwaaPackage, project: Path
) -> None:
    lines = [ln for ln in (package.root / "requirements.txt").read_text().splitlines() if not ln.startswith("#")]
    assert lines[0] == f'--constraint "{CONSTRAINT_331}"'
    assert lines[1:] == requirement_lines(project / "requirements.txt"), "pins must come from requirements.txt"
    assert package.constraint == CONSTRAINT_331 and package.python_version == "3.12"


def test_startup_script_installs_dbt_from_requirements_dbt(package: MwaaPackage, project: Path) -> None:
    script = (package.root / "startup.sh").read_text()
    for line in dbt_runtime_requirements(project):
        assert f"\n{line}\n" in script
    assert "sqlfluff" not in script, "lint tools are not installed on workers"
    code = [ln.strip() for ln in script.splitlines() if not ln.lstrip().startswith("#")]
    assert not [ln for ln in code if ln.startswith(("exit", "set -e"))], "MWAA may source it: no exit/set -e"
    done = subprocess.run(["sh", "-n", str(package.root / "startup.sh")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    if shutil.which("shellcheck"):
        done = subprocess.run(
            ["shellcheck", "-s", "sh", str(package.root / "startup.sh")], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout


def test_startup_script_can_be_sourced_and_exports_the_settings(tmp_path: Path) -> None:
    """MWAA may source it: it must not exit the shell, and its exports must survive."""
    project = _tiny_project(tmp_path / "p")
    pkg = build_mwaa_package(project, tmp_path / "out", "3.3.1", settings={"AIRLOCK_ENV": "prod it's"})
    env = {
        "PATH": "/usr/bin:/bin",
        "AIRFLOW_HOME": str(tmp_path / "home"),
        "MWAA_AIRFLOW_COMPONENT": "webserver",
        "AIRFLOW__AIRLOCK__LANDING_URL": "s3://airlock-prod-landing",  # Terraform's `airlock.landing_url`
    }
    done = subprocess.run(
        ["sh", "-c", f'. {pkg.root / "startup.sh"}; echo "alive $AIRLOCK_HOME|$AIRLOCK_ENV|$AIRLOCK_LANDING_URL"'],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(f"alive {tmp_path / 'home'}/dags|prod it's|s3://airlock-prod-landing")
    assert not (tmp_path / "home" / "dbt_venv").exists(), "the webserver needs no dbt virtualenv"


def test_plugins_zip_only_when_plugins_has_files(tmp_path: Path) -> None:
    without = build_mwaa_package(_tiny_project(tmp_path / "a"), tmp_path / "out-a", "3.3.1")
    assert not without.plugins_zip and not (without.root / "plugins.zip").exists()
    with_plugins = build_mwaa_package(_tiny_project(tmp_path / "b", plugins=True), tmp_path / "out-b", "3.3.1")
    assert with_plugins.plugins_zip and (with_plugins.root / "plugins.zip").is_file()


def test_zip_is_deterministic(tmp_path: Path) -> None:
    """Same input, same bytes: an unchanged plugins.zip keeps its S3 version (no environment update)."""
    project = _tiny_project(tmp_path / "p", plugins=True)
    first = build_mwaa_package(project, tmp_path / "one", "3.3.1", make_zip=True)
    second = build_mwaa_package(project, tmp_path / "two", "3.3.1", make_zip=True)
    assert (first.root / "plugins.zip").read_bytes() == (second.root / "plugins.zip").read_bytes()
    assert first.zip_path and second.zip_path
    assert first.zip_path.read_bytes() == second.zip_path.read_bytes()


def test_a_local_constraints_file_ships_inside_dags_with_our_pins_winning(tmp_path: Path) -> None:
    project = _tiny_project(tmp_path / "p")
    official = tmp_path / "constraints-3.12.txt"
    official.write_text("# official\napache-airflow-providers-amazon==9.30.0\nboto3==1.40.0\n")
    pkg = build_mwaa_package(project, tmp_path / "out", "3.3.1", constraints_file=official)
    shipped = (pkg.root / "dags" / "constraints-3.12-airlock.txt").read_text().splitlines()
    assert "apache-airflow-providers-amazon==9.39.0" in shipped and "boto3==1.40.0" in shipped
    assert "duckdb==1.5.5" in shipped
    first = (pkg.root / "requirements.txt").read_text().splitlines()[2]
    assert first == '--constraint "/usr/local/airflow/dags/constraints-3.12-airlock.txt"'


def test_merged_constraints_keeps_comments_and_extras() -> None:
    merged = merged_constraints("# c\nFoo_Bar==1.0\nbaz==2\n", {"foo-bar": "1.5", "new": "3"})
    assert merged.splitlines() == ["# c", "Foo_Bar==1.5", "baz==2", "new==3"]


def test_cli_builds_with_progress_and_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = _tiny_project(tmp_path / "p")
    out = tmp_path / "out"
    assert main(["package", "mwaa", "--airflow-version", "3.3.1", "--project", str(project), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "==> packaging" in printed and "DAG files: hello.py" in printed and CONSTRAINT_331 in printed
    bad = [
        (["--airflow-version", "3.3"], "use the MWAA version"),
        (["--airflow-version", "3.3.1", "--set", "FOO=1"], "only AIRLOCK_*"),
        (["--airflow-version", "3.3.1", "--set", "AIRLOCK_ENV"], "AIRLOCK_NAME=value"),
    ]
    for args, message in bad:
        assert main(["package", "mwaa", "--project", str(project), "--out", str(out), *args]) == 2
        assert message in capsys.readouterr().err
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert (
        main(
            [
                "package",
                "mwaa",
                "--airflow-version",
                "3.3.1",
                "--project",
                str(project),
                "--out",
                str(tmp_path / "mine"),
            ]
        )
        == 2
    )
    assert (tmp_path / "mine" / "notes.txt").exists(), "never empty a folder that is not a package"


def test_cli_names_the_fix_when_the_manifest_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = _tiny_project(tmp_path / "p", manifest=False)
    assert main(["package", "mwaa", "--airflow-version", "3.3.1", "--project", str(project)]) == 2
    assert "make manifest" in capsys.readouterr().err


def test_build_figures(package: MwaaPackage) -> None:
    assert package.files > 10 and package.size_bytes > 0 and package.zip_bytes
    assert package.build_seconds < 10, f"packaging took {package.build_seconds} s"
