"""`airlock demo`: the main job, end to end on the embedded default."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from airlock.settings import project_home

if TYPE_CHECKING:
    from airlock.devstack.postgres import LocalPostgres


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo",
        help="run the end-to-end demo on a local stack (moto S3+SQS, real Airflow), then stop it",
        description="Start moto and Airflow (scheduler, triggerer, DAG processor, API server), onboard the demo "
        "tenants, upload their files in shuffled order (with a duplicate notification, a late file and a bad "
        "file), wait until every batch is processed, print a summary table and stop everything. "
        "The last line starts with 'demo ok:'.",
    )
    parser.add_argument("--state-dir", type=Path, default=None, help="where the stack keeps its state (var/demo)")
    parser.add_argument("--port", type=int, default=8080, help="Airflow API server port (default 8080)")
    parser.add_argument("--seed", type=int, default=20261121, help="shuffle seed of the uploads")
    parser.add_argument(
        "--infra",
        choices=["devstack", "terraform"],
        default="devstack",
        help="who creates the buckets and queues on the local endpoint: the dev stack (fast, default) or "
        "Terraform's infra/terraform/envs/local (the production wiring; adds 2-4 minutes)",
    )
    parser.add_argument(
        "--warehouse",
        choices=["local", "postgres"],
        default="local",
        help="where batches load and dbt builds: one DuckDB file per tenant (default), or a throwaway PostgreSQL "
        "server started from the installed binaries (a role per tenant; credentials via an Airflow connection)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from airlock.demo.runner import run_demo

    state_dir = args.state_dir or project_home() / "var" / "demo"
    if args.warehouse == "local":
        return run_demo(state_dir, port=args.port, seed=args.seed, infra=args.infra)
    from airlock.devstack.postgres import LocalPostgres

    print("[demo] starting a throwaway PostgreSQL server as the warehouse ...")
    with LocalPostgres() as server:
        print(f"[demo] warehouse: PostgreSQL on {server.host}:{server.port}, database {server.database}")
        code = run_demo(state_dir, port=args.port, seed=args.seed, infra=args.infra, extra_env=server.warehouse_env())
        print(_postgres_summary(server))
        return code


def _postgres_summary(server: LocalPostgres) -> str:
    """Where the demo's tables are, and who owns them: each tenant's schemas belong to its own role."""
    owners = server.psql(
        "select string_agg(nspname || ' (' || pg_get_userbyid(nspowner) || ')', ', ' order by nspname) "
        "from pg_namespace where nspname like 'tenant_%'"
    ).strip()
    return f"[demo] PostgreSQL schemas: {owners or 'none'}"
