"""Fixtures for the shipping tests: the project root and MWAA packages built from this checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

from airlock.packaging.mwaa import MwaaPackage, build_mwaa_package

PROJECT = Path(__file__).resolve().parents[2]
TOOLS = PROJECT / ".venv-tools" / "bin"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "mwaa_proof: builds a clean venv from the packaged requirements and loads the packaged DAGs "
        "(about 90 s cold, seconds with .airlock/cache); part of `make test`: it is the proof",
    )


def tool(name: str) -> Path:
    """A static checker from .venv-tools, or skip saying how to install it."""
    path = TOOLS / name
    if not path.is_file():
        pytest.skip(f"{name} is not in .venv-tools: run `make tools` (requirements-tools.txt)")
    return path


@pytest.fixture(scope="session")
def project() -> Path:
    return PROJECT


@pytest.fixture(scope="session")
def package(tmp_path_factory: pytest.TempPathFactory) -> MwaaPackage:
    """The package for MWAA 3.3.1 (the issue's example), built once for the layout tests."""
    if not (PROJECT / "dbt_project" / "target" / "manifest.json").is_file():
        pytest.fail("dbt_project/target/manifest.json is missing: run `make manifest` (make test does)")
    return build_mwaa_package(PROJECT, tmp_path_factory.mktemp("pkg") / "mwaa", "3.3.1", make_zip=True)
