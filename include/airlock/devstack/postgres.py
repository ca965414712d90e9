"""A throwaway PostgreSQL server on a free loopback port, from the installed `initdb`/`pg_ctl`.

One implementation for everything local that needs a real Postgres: the warehouse tests and
`airlock demo --warehouse postgres`, and an Airflow metadata database for the HA fault tests and
the event-scale benchmark (the hosted platforms run Airflow on PostgreSQL, not SQLite).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from airlock.devstack.local_aws import free_port
from airlock.errors import AirlockError


class PostgresError(AirlockError):
    """The throwaway server could not start, or a statement failed (the message carries psql's)."""


@dataclass
class LocalPostgres:
    """initdb + pg_ctl in a temp dir; `with LocalPostgres() as pg:` starts it and stops it after.

    initdb refuses to run as root, so as root the server runs as the `postgres` system user (the
    temp dir is not under pytest's basetemp for that reason: it is private to root).
    `password` switches local trust auth for scram-sha-256, for tests that must prove a role
    cannot act as another without its credentials.
    """

    superuser: str = "airlock"
    database: str = "airlock"
    password: str | None = None
    preload_pg_stat_statements: bool = True
    host: str = "127.0.0.1"
    port: int = 0
    base: Path | None = None
    _as_user: list[str] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        assert self.base is not None, "the server is not started"
        return self.base / "data"

    @property
    def log_path(self) -> Path:
        assert self.base is not None, "the server is not started"
        return self.base / "server.log"

    def dsn(self, database: str | None = None, user: str | None = None, password: str | None = None) -> str:
        """A libpq URL (psycopg and psql accept it): the superuser's unless `user` is given."""
        secret = password if user else self.password
        auth = f"{user or self.superuser}:{secret}" if secret else (user or self.superuser)
        return f"postgresql://{auth}@{self.host}:{self.port}/{database or self.database}"

    def warehouse_env(self, database: str | None = None) -> dict[str, str]:
        """Point a stack at this server as its warehouse: the loader's Airflow connection and dbt's target.

        The connection is what a deployment keeps in its secrets backend; locally Airflow reads it from
        AIRFLOW_CONN_AIRLOCK_WAREHOUSE. dbt gets its AIRLOCK_PG_* from it at run time (docs/warehouses.md).
        """
        return {
            "AIRLOCK_WAREHOUSE": "postgres",
            "AIRLOCK_DBT_TARGET": "postgres",
            "AIRFLOW_CONN_AIRLOCK_WAREHOUSE": self.dsn(database),
        }

    def sqlalchemy_url(self, database: str | None = None) -> str:
        """The URL Airflow's AIRFLOW__DATABASE__SQL_ALCHEMY_CONN takes (psycopg 3 driver)."""
        return self.dsn(database).replace("postgresql://", "postgresql+psycopg://", 1)

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> LocalPostgres:
        for tool in ("initdb", "pg_ctl", "psql"):
            if shutil.which(tool) is None and not _pg_bin(tool):
                raise PostgresError(f"{tool} not found: install PostgreSQL's server binaries (Debian: postgresql).")
        self.base = Path(tempfile.mkdtemp(prefix="airlock-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.base, user="postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self.port = self.port or free_port(self.host)
        initdb = [_tool("initdb"), "-D", str(self.data_dir), "-U", self.superuser, "-E", "UTF8"]
        if self.password:
            pwfile = self.base / "pwfile"
            pwfile.write_text(self.password, encoding="utf-8")
            if self._as_user:
                shutil.chown(pwfile, user="postgres")
            initdb += ["--auth=scram-sha-256", f"--pwfile={pwfile}"]
        else:
            initdb += ["--auth=trust"]
        self._run([*self._as_user, *initdb], "initdb", timeout=180)
        options = (
            f"-c listen_addresses={self.host} -p {self.port} -c unix_socket_directories={self.base} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        if self.preload_pg_stat_statements:
            options += " -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track_utility=on"
        self._run([*self._ctl(), "-o", options, "start"], "pg_ctl start", timeout=120)
        self.psql(f'create database "{self.database}"', database="postgres")
        if self.preload_pg_stat_statements:
            self.psql("create extension if not exists pg_stat_statements")
        return self

    def stop(self) -> None:
        """Stop at once (a throwaway server needs no shutdown checkpoint) and remove its files."""
        if self.base is None:
            return
        subprocess.run([*self._ctl(), "-m", "immediate", "stop"], capture_output=True, timeout=90, check=False)
        shutil.rmtree(self.base, ignore_errors=True)
        self.base = None

    def kill(self) -> None:
        """Stop the server the hard way but keep its data: fault tests restart it with `restart()`."""
        subprocess.run([*self._ctl(), "-m", "immediate", "stop"], capture_output=True, timeout=90, check=False)

    def restart(self) -> None:
        options = f"-c listen_addresses={self.host} -p {self.port} -c unix_socket_directories={self.base}"
        if self.preload_pg_stat_statements:
            options += " -c shared_preload_libraries=pg_stat_statements"
        self._run([*self._ctl(), "-o", options, "start"], "pg_ctl start", timeout=120)

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *_exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]) -> None:
        self.stop()

    # -- statements --------------------------------------------------------------------------------
    def psql(self, sql: str, database: str | None = None, user: str | None = None, password: str | None = None) -> str:
        """Run SQL through psql (ON_ERROR_STOP); return its unaligned output. Raises PostgresError."""
        env = {**os.environ}
        secret = password if user else self.password
        if secret:
            env["PGPASSWORD"] = secret
        result = subprocess.run(
            [
                _tool("psql"),
                "-X",
                "-q",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                user or self.superuser,
                "-d",
                database or self.database,
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=env,
        )
        if result.returncode != 0:
            raise PostgresError(f"psql failed: {result.stderr.strip()}")
        return result.stdout

    # -- internals ---------------------------------------------------------------------------------
    def _ctl(self) -> list[str]:
        return [*self._as_user, _tool("pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_path), "-w", "-t", "90"]

    def _run(self, cmd: list[str], what: str, timeout: float) -> None:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            log = self.log_path.read_text(errors="replace")[-2000:] if self.base and self.log_path.exists() else ""
            raise PostgresError(f"{what} failed ({result.returncode}): {result.stderr.strip()}\n{log}".strip())


def _pg_bin(tool: str) -> str | None:
    """Debian keeps initdb/pg_ctl in /usr/lib/postgresql/<major>/bin, off PATH: find the newest."""
    root = Path("/usr/lib/postgresql")
    if not root.is_dir():
        return None
    for major in sorted(root.iterdir(), key=lambda p: p.name, reverse=True):
        candidate = major / "bin" / tool
        if candidate.exists():
            return str(candidate)
    return None


def _tool(tool: str) -> str:
    return shutil.which(tool) or _pg_bin(tool) or tool
