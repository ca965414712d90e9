"""Which warehouse this deployment loads into, and its settings: read from AIRLOCK_* once, validated.

AIRLOCK_WAREHOUSE picks the module (local | postgres | snowflake | redshift). Unset, it follows
AIRLOCK_DBT_TARGET when that names a warehouse (the kit's profiles.yml has one target per warehouse, so
`AIRLOCK_DBT_TARGET=postgres` alone is enough), else `local`. A project whose dbt target has another name
(`prod`) sets AIRLOCK_WAREHOUSE explicitly. Nothing here touches the network: it is read at DAG parse.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from airlock.errors import ConfigError
from airlock.settings import Settings
from airlock.tenants import parse_duration

WAREHOUSES: dict[str, str] = {
    "local": "airlock.warehouse.duckdb:DuckDBWarehouse",
    "postgres": "airlock.warehouse.postgres:PostgresWarehouse",
    "snowflake": "airlock.warehouse.snowflake:SnowflakeWarehouse",
    "redshift": "airlock.warehouse.redshift:RedshiftWarehouse",
}
"""Warehouse kind → its module's class. A new warehouse is one module, its tests and one line here."""

DEFAULT_CONN_ID = "airlock_warehouse"


@dataclass(frozen=True)
class WarehouseConfig:
    """The warehouse settings of a deployment (docs/contracts.md, "Warehouse settings")."""

    kind: str
    conn_id: str
    retention: timedelta
    warehouse_dir: Path
    raw_url: str
    snowflake_stage: str = "AIRLOCK.LOADING.AIRLOCK_RAW_STAGE"
    redshift_iam_role: str | None = None


def load_warehouse_config(settings: Settings, environ: Mapping[str, str] | None = None) -> WarehouseConfig:
    """Read the AIRLOCK_WAREHOUSE* settings; raise ConfigError naming the variable and the fix."""
    env = os.environ if environ is None else environ
    target = env.get("AIRLOCK_DBT_TARGET", "local")
    kind = env.get("AIRLOCK_WAREHOUSE") or (target if target in WAREHOUSES else "local")
    if kind not in WAREHOUSES:
        raise ConfigError(f"AIRLOCK_WAREHOUSE={kind!r}: use one of {', '.join(WAREHOUSES)}.")
    try:
        retention = parse_duration(env.get("AIRLOCK_RAW_RETENTION", "7d"))
    except ValueError as exc:
        raise ConfigError(f"AIRLOCK_RAW_RETENTION: {exc}") from None
    if retention < timedelta(hours=1):
        raise ConfigError(
            f"AIRLOCK_RAW_RETENTION={env.get('AIRLOCK_RAW_RETENTION')!r} is shorter than 1h: a load would delete "
            "the rows of a batch another run of the same tenant is still building from. Use 1h or more."
        )
    return WarehouseConfig(
        kind=kind,
        conn_id=env.get("AIRLOCK_WAREHOUSE_CONN_ID") or DEFAULT_CONN_ID,
        retention=retention,
        warehouse_dir=settings.warehouse_dir,
        raw_url=settings.raw_url,
        snowflake_stage=env.get("AIRLOCK_SNOWFLAKE_STAGE") or "AIRLOCK.LOADING.AIRLOCK_RAW_STAGE",
        redshift_iam_role=env.get("AIRLOCK_REDSHIFT_IAM_ROLE") or None,
    )
