"""`airlock warehouse sql`: the SQL an admin runs once to provision the warehouse and each tenant."""

from __future__ import annotations

import argparse
from typing import Any

from airlock.errors import ConfigError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "warehouse",
        help="warehouse provisioning: print the setup and per-tenant grant SQL (roles that own tenant schemas)",
        description="The loader never needs to create roles in production: an admin runs this SQL once (and again "
        "for each new tenant). Postgres: a role per tenant owning its schemas. Snowflake: the storage integration, "
        "stage and file formats, then a role per tenant. Redshift: a user per tenant with its COPY grant. "
        "See docs/warehouses.md.",
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sql = sub.add_parser("sql", help="print the provisioning SQL (nothing is run)")
    sql.add_argument(
        "--kind",
        choices=["local", "postgres", "snowflake", "redshift"],
        default=None,
        help="the warehouse (default: AIRLOCK_WAREHOUSE)",
    )
    sql.add_argument("--tenant", action="append", metavar="ID", help="only this tenant (repeatable; default: all)")
    sql.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a name in the SQL: database, loader (postgres); iam_role_arn, raw_url, warehouse, stage, … (snowflake, "
        "redshift)",
    )
    sql.set_defaults(func=_sql)
    parser.set_defaults(func=lambda _args: parser.print_help() or 2)


def _sql(args: argparse.Namespace) -> int:
    from airlock.settings import load_settings
    from airlock.tenants import load_registry
    from airlock.warehouse import TenantSpace, load_warehouse_config, warehouse_class

    settings = load_settings()
    config = load_warehouse_config(settings)
    kind = args.kind or config.kind
    names: dict[str, str] = {"raw_url": settings.raw_url}
    if config.redshift_iam_role:
        names["iam_role_arn"] = config.redshift_iam_role
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--set {item!r}: write NAME=VALUE")
        names[name] = value
    registry = load_registry(settings.tenants_dir, settings.dataflows_dir)
    wanted = args.tenant or sorted(registry.tenants)
    unknown = [t for t in wanted if t not in registry.tenants]
    if unknown:
        raise ConfigError(f"no tenant {unknown} in {settings.tenants_dir}")
    spaces = [TenantSpace(t, registry.tenants[t].warehouse_schema) for t in wanted]
    print(warehouse_class(kind).provisioning_sql(spaces, names))
    return 0
