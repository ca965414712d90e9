"""The throwaway PostgreSQL server: starts on loopback, enforces passwords when asked, stops cleanly."""

from __future__ import annotations

import pytest

from airlock.devstack.postgres import LocalPostgres, PostgresError

pytestmark = pytest.mark.postgres


def test_password_auth_refuses_a_wrong_password_and_stop_removes_the_files() -> None:
    with LocalPostgres(password="s3cret", preload_pg_stat_statements=False) as pg:
        base = pg.base
        assert pg.psql("select current_user").strip() == "airlock"
        pg.psql("create role tenant_a login password 'a-pass'")
        assert pg.psql("select current_user", user="tenant_a", password="a-pass").strip() == "tenant_a"
        with pytest.raises(PostgresError, match="password authentication failed"):
            pg.psql("select 1", user="tenant_a", password="wrong")
        assert pg.sqlalchemy_url().startswith("postgresql+psycopg://airlock:s3cret@127.0.0.1:")
    assert base is not None and not base.exists()
