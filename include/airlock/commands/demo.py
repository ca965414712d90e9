"""`airlock demo`: the main job, end to end on the embedded default."""

from __future__ import annotations

import argparse
from pathlib import Path

from airlock.settings import project_home


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
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from airlock.demo.runner import run_demo

    state_dir = args.state_dir or project_home() / "var" / "demo"
    return run_demo(state_dir, port=args.port, seed=args.seed, infra=args.infra)
