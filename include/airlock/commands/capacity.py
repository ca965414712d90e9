"""`airlock capacity`: the triggerer slots this deployment needs at full load, against those configured."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

EPILOG = """\
slots needed = queue watchers (1 shared queue + 1 per dedicated tenant)
             + with model tasks (AIRLOCK_DBT_MODEL_STATUS=tasks): AIRLOCK_PROCESSING_MAX_ACTIVE_RUNS x
               (dbt models of each dataflow); none with the default, one asset event per model
slots configured = [triggerer] capacity (Airflow config) x AIRLOCK_TRIGGERER_REPLICAS

Run it with the deployment's settings (e.g. `airlock infra output --env prod` exported, and the
deployment's AIRFLOW__TRIGGERER__CAPACITY), before a deploy: it exits 1 when the slots do not fit.
See docs/deploy.md, "Sizing the triggerer".
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "capacity",
        help="check that the triggerers have a slot for every queue watcher and dbt model task",
        description="Count the triggerer slots the kit needs at full concurrency and compare them with the "
        "configured triggerer capacity. Exit 1 if they do not fit.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--capacity", type=int, default=None, help="total slots (default: from Airflow's config)")
    parser.add_argument("--json", action="store_true", help="print the budget as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from airlock.settings import load_settings
    from airlock.tenants import load_dataflows
    from airlock.transform.config import load_dbt_runtime
    from airlock.triggers.capacity import budget

    settings = load_settings()
    runtime = load_dbt_runtime(settings)
    result = budget(
        settings,
        load_dataflows(settings.dataflows_dir),
        manifest_path=runtime.project.manifest_path,
        # model tasks live in the triggerer only in build mode with AIRLOCK_DBT_MODEL_STATUS=tasks (ADR 0009)
        watcher_mode=runtime.mode == "build" and runtime.model_status == "tasks",
        capacity=args.capacity,
    )
    if args.json:
        print(json.dumps({**asdict(result), "needed": result.needed, "fits": result.fits}, indent=2))
    else:
        print(result.summary())
    return 0 if result.fits else 1
