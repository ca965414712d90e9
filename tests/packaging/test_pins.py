"""airlock.packaging.pins: the versions every artifact derives from requirements*.txt."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airlock.cli import main
from airlock.errors import ConfigError
from airlock.packaging.pins import airflow_pin, pin_of, pins, requirement_lines


def test_pins_follow_includes_and_normalise_names(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("Apache_Airflow-Providers.Amazon[aiobotocore]==9.39.0  # why\n")
    (tmp_path / "requirements-dev.txt").write_text("-r requirements.txt\napache-airflow==3.3.2\npytest>=9\n")
    found = pins(tmp_path / "requirements-dev.txt")
    assert found == {"apache-airflow-providers-amazon": "9.39.0", "apache-airflow": "3.3.2"}
    assert airflow_pin(tmp_path) == "3.3.2"
    assert requirement_lines(tmp_path / "requirements-dev.txt") == ["apache-airflow==3.3.2", "pytest>=9"]


def test_a_missing_pin_names_the_file_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "requirements-dev.txt").write_text("pytest==9.0.3\n")
    with pytest.raises(ConfigError, match=re.escape("requirements-dev.txt: no `apache-airflow==<version>` pin")):
        pin_of(tmp_path / "requirements-dev.txt", "apache-airflow")
    with pytest.raises(ConfigError, match="not found"):
        pin_of(tmp_path / "nope.txt", "apache-airflow")


def test_the_repo_pins_airflow_once(project: Path) -> None:
    assert airflow_pin(project).startswith("3.")
    assert "apache-airflow" not in pins(project / "requirements.txt"), (
        "requirements.txt is installed on top of Astro's and MWAA's own Airflow: pin Airflow in "
        "requirements-dev.txt only"
    )


@pytest.mark.parametrize("command", ["package", "deploy"])
def test_help_lists_the_mwaa_target(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "mwaa", "--help"])
    assert exit_info.value.code == 0
    assert "MWAA" in capsys.readouterr().out
    assert main([command]) == 2, f"`airlock {command}` without a target prints help and exits 2"
