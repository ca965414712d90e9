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
