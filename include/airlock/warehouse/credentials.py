"""Warehouse credentials: Airflow connections, resolved through the deployment's secrets backend.

One connection per warehouse (`airlock_warehouse`, setting AIRLOCK_WAREHOUSE_CONN_ID) and, optionally, one
per tenant (`airlock_warehouse_<tenant>`), which wins when it exists: a tenant whose connection logs in
as its own role cannot act as any other tenant, whatever SQL it runs. Airflow resolves connections
through its secrets backends in order (AWS Secrets Manager on MWAA under `airlock/<env>/connections/`,
Astro's environment secrets, AIRFLOW_CONN_* locally), so nothing secret is in the repo, the image, a
command line or XCom.

dbt reads the same credentials as environment variables (AIRLOCK_PG_*, AIRLOCK_SNOWFLAKE_*,
AIRLOCK_REDSHIFT_*: docs/contracts.md); `dbt_env` maps a connection onto them, and
`inject_dbt_credentials` (a Cosmos interceptor) sets them on a dbt task just before dbt starts, at run
time, so they are never part of the rendered template fields.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airlock.warehouse.base import CredentialsError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WarehouseCredentials:
    """The fields of an Airflow connection the warehouse modules use (secrets stay in this object)."""

    conn_id: str
    host: str | None = None
    port: int | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    database: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_connection(cls, conn: Any) -> WarehouseCredentials:
        return cls(
            conn_id=conn.conn_id,
            host=conn.host or None,
            port=int(conn.port) if conn.port else None,
            login=conn.login or None,
            password=conn.password or None,
            database=conn.schema or None,
            extra=dict(conn.extra_dejson or {}),
        )


def connection_ids(conn_id: str, tenant_id: str) -> list[str]:
    """The connections tried for a tenant, in order: its own, then the warehouse's."""
    return [f"{conn_id}_{tenant_id}", conn_id]


def resolve(conn_id: str, tenant_id: str) -> WarehouseCredentials:
    """The tenant's connection if one exists, else the warehouse's; a clear error if neither does."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    tried = connection_ids(conn_id, tenant_id)
    for candidate in tried:
        try:
            conn = BaseHook.get_connection(candidate)
        except AirflowNotFoundException:
            continue
        log.info("warehouse credentials for %s: connection %s", tenant_id, candidate)
        return WarehouseCredentials.from_connection(conn)
    raise CredentialsError(
        f"no Airflow connection {' or '.join(tried)}: create {conn_id} (or {tried[0]} for this tenant alone) in "
        "the secrets backend (MWAA: Secrets Manager secret airlock/<env>/connections/<conn_id>; Astro: an "
        "environment secret AIRFLOW_CONN_<CONN_ID>; locally: AIRFLOW_CONN_<CONN_ID>). See docs/warehouses.md."
    )


def dbt_env(kind: str, creds: WarehouseCredentials) -> dict[str, str]:
    """The environment dbt's profiles.yml reads for `kind`, from a resolved connection."""
    from airlock.warehouse import warehouse_class

    return {name: value for name, value in warehouse_class(kind).dbt_env(creds).items() if value not in (None, "")}


def inject_dbt_credentials(context: Mapping[str, Any], operator: Any) -> None:
    """Cosmos interceptor: give a dbt task that runs on this worker its tenant's warehouse credentials.

    Runs after `assert_run_identity` (the vars are the run's own). Tasks in a container (ECS, Kubernetes)
    are skipped: their credentials come from the task definition's / pod's secrets, never from container
    overrides, which the ECS and Kubernetes APIs show to anyone who can describe the task.
    """
    from cosmos.operators.local import DbtLocalBaseOperator

    from airlock.settings import load_settings
    from airlock.warehouse.config import load_warehouse_config

    config = load_warehouse_config(load_settings())
    if config.kind == "local" or not isinstance(operator, DbtLocalBaseOperator):
        return
    tenant_id = str((operator.vars or {}).get("tenant_id"))
    env = dbt_env(config.kind, resolve(config.conn_id, tenant_id))
    operator.env = {**(operator.env or {}), **env}
