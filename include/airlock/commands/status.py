"""`airlock status`: the last batch of every tenant x dataflow and its state, as a table or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from airlock.observability.status import STATES, default_airflow_url, render_table, status_from_settings, summary


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status",
        help="last batch per tenant x dataflow: waiting, late, quarantined, snapshotted, processing, done, failed",
        description="Read the landing, raw and quarantine markers (one listing each) and print, for every "
        "tenant x dataflow, its newest batch, its state, its age and the link to its processing run.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--tenant", action="append", metavar="ID", help="only this tenant (repeatable)")
    parser.add_argument("--state", action="append", choices=STATES, help="only rows in this state (repeatable)")
    parser.add_argument("--history", type=int, default=1, metavar="N", help="newest N batches per dataflow")
    parser.add_argument(
        "--airflow-url",
        default=None,
        help="base URL for run links (default: AIRLOCK_AIRFLOW_URL, AIRFLOW__API__BASE_URL or localhost:8080)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    rows = status_from_settings(
        tenants=args.tenant, history=args.history, airflow_url=args.airflow_url or default_airflow_url()
    )
    if args.state:
        rows = [r for r in rows if r.state in args.state]
    if args.json:
        json.dump([r.to_dict() for r in rows], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(render_table(rows))
    counts = ", ".join(f"{n} {state}" for state, n in summary(rows).items())
    print(f"\n{len(rows)} row(s): {counts or 'nothing registered'}")
    return 0
