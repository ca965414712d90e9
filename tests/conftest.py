"""Shared fixtures: a registry and a landing zone built in a temp folder for each test."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from airlock.storage import LocalStorage
from airlock.tenants import Registry, load_registry

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def registry_dirs(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the demo registry that a test may edit."""
    tenants, dataflows = tmp_path / "tenants", tmp_path / "dataflows"
    shutil.copytree(REPO / "dags" / "registry" / "tenants", tenants)
    shutil.copytree(REPO / "dags" / "registry" / "dataflows", dataflows)
    return tenants, dataflows


@pytest.fixture
def registry(registry_dirs: tuple[Path, Path]) -> Registry:
    return load_registry(*registry_dirs)


@dataclass
class Zone:
    landing: LocalStorage
    raw: LocalStorage
    quarantine: LocalStorage

    def put(self, key: str, data: bytes | str) -> None:
        self.landing.write_bytes(key, data.encode() if isinstance(data, str) else data)


@pytest.fixture
def zone(tmp_path: Path) -> Zone:
    return Zone(*(LocalStorage(tmp_path / name) for name in ("landing", "raw", "quarantine")))


ORDERS_CSV = "order_id,customer_id,ordered_at,amount\n1,c1,2026-11-20,10.5\n2,c2,2026-11-20,7\n"
CUSTOMERS_CSV = "customer_id,customer_name,country\nc1,Ann,FR\nc2,Bob,DE\n"


# -- running side by side (`make test`: pytest -n 3 --dist loadgroup) ---------------------------------
# Most of an end-to-end module's time is spent waiting on Airflow (measured: the suite's processes use
# about 0.7 of one core on average), so workers side by side cut the wall time (CI's 30 minutes). A work
# unit is one e2e/ui module (each starts its own stack, under a state folder named by its worker's pid,
# on free ports), or one whole folder elsewhere (folders share session fixtures: a PostgreSQL server,
# Terraform's caches).
# Units start longest first, so that the last one to finish is a short one.
SLOWEST_FIRST = (  # measured with --durations (2 workers, load 2-5): day2 ~19 min, faults ~15, batch_flow ~10
    "tests/e2e/test_day2.py",
    "tests/e2e/test_faults.py",
    "tests/e2e/test_batch_flow.py",
    "tests/dbt/",
    "tests/ui/test_status_page.py",
    "tests/e2e/test_event_path.py",
    "tests/infra/",
    "tests/e2e/test_faults_ha.py",
    "tests/packaging/",
    "tests/e2e/test_local_stack.py",
    "tests/warehouse/",
)


def _work_unit(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    if path.startswith(("tests/e2e/", "tests/ui/")):
        return path
    parts = path.split("/")
    return "/".join(parts[:2]) + "/" if len(parts) > 2 else path


def _rank(unit: str) -> int:
    return next((i for i, prefix in enumerate(SLOWEST_FIRST) if unit.startswith(prefix)), len(SLOWEST_FIRST))


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which turns the group marks into work units
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_work_unit(item.nodeid)))
    items.sort(key=lambda item: _rank(_work_unit(item.nodeid)))  # stable: a module's tests keep their order
