"""DAG integrity: every file in dags/ imports, as `astro dev parse` / `astro dev pytest` check it.

The Airflow 3 edition of the Astro CLI's default check, run by `make test` too (pytest's testpaths
include .astro). As on Astro, connections and variables read while parsing are mocked, so the check is
about imports; unlike the default, the network is closed while parsing: a DAG file that calls out at
parse time fails here instead of slowing every DAG-processor loop (parse time is a product feature).
DAGs are loaded the way the DAG processor loads them (BundleDagBag: dags/ on sys.path).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Any

import pytest

PROJECT = Path(__file__).resolve().parents[1]
DAGS = PROJECT / "dags"
EXCEPTIONS = PROJECT / ".astro" / "dag_integrity_exceptions.txt"


def _allowed_failures() -> set[str]:
    """DAG files listed in dag_integrity_exceptions.txt (relative to the project)."""
    if not EXCEPTIONS.exists():
        return set()
    lines = EXCEPTIONS.read_text(encoding="utf-8").splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def _loopback_only(real_connect: Any) -> Any:
    """socket.connect that refuses anything but loopback and Unix sockets."""

    def connect(sock: socket.socket, address: Any) -> Any:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            try:
                loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = host == "localhost"
            if not loopback:
                raise OSError(f"network access while parsing DAGs: connect to {address!r}")
        return real_connect(sock, address)

    return connect


@pytest.fixture(scope="module")
def dagbag() -> Any:
    """The DagBag of dags/, parsed with mocked connections/variables and no network."""
    import airflow  # noqa: F401  (first: Cosmos registers a policy hook on import)
    from airflow import models
    from airflow.dag_processing.dagbag import BundleDagBag
    from airflow.sdk import BaseHook, Connection, Variable

    def get_connection(cls: Any, conn_id: str) -> Connection:
        return Connection(conn_id=conn_id, conn_type="generic")

    def get_variable(cls: Any, key: str, default: Any = None, deserialize_json: bool = False) -> Any:
        return default if default is not None else f"mock-{key}"

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRLOCK_HOME", os.environ.get("AIRLOCK_HOME", str(PROJECT)))
        mp.setattr(BaseHook, "get_connection", classmethod(get_connection))
        mp.setattr(Variable, "get", classmethod(get_variable))
        mp.setattr(models.Variable, "get", classmethod(get_variable))  # the deprecated path, same answer
        mp.setattr(socket.socket, "connect", _loopback_only(socket.socket.connect))
        yield BundleDagBag(dag_folder=DAGS, bundle_path=DAGS)


def test_dags_folder_has_dags(dagbag: Any) -> None:
    assert dagbag.dags, f"no DAGs found in {DAGS}"


def test_no_import_errors(dagbag: Any) -> None:
    allowed = _allowed_failures()
    errors = {
        path: error
        for path, error in dagbag.import_errors.items()
        if os.path.relpath(Path(DAGS, path), PROJECT) not in allowed
    }
    assert not errors, "DAG import errors:\n" + "\n".join(f"{p}:\n{e}" for p, e in errors.items())
