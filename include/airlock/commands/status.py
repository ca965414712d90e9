"""`airlock status`: the last batch of every tenant x dataflow and its state, as a table or JSON.

Data goes to stdout and nothing else does: libraries that log to stdout (Airflow's logging, set up
when the S3 client is made through its connection) write to stderr while the data is collected,
so `airlock status --json | jq` always reads valid JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import IO, Any

from airlock.observability.status import (
    STATES,
    default_airflow_url,
    registry_from_settings,
    render_table,
    status_from_settings,
    summary,
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status",
        help="last batch per tenant x dataflow: waiting, late, quarantined, snapshotted, processing, done, failed",
        description="Read the landing, raw and quarantine markers (one listing each) and print, for every "
        "tenant x dataflow, its newest batch, its state, its age and the link to its processing run; also any "
        "quarantined, failed or late batch among the newest five, so a newer batch never hides one. "
        "Data on stdout, logs on stderr.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--tenant", action="append", metavar="ID", help="only this tenant (repeatable)")
    parser.add_argument("--state", action="append", choices=STATES, help="only rows in this state (repeatable)")
    parser.add_argument("--history", type=int, default=1, metavar="N", help="newest N batches per dataflow")
    parser.add_argument(
        "--airflow-url",
        default=None,
        help="base URL for run links (default: AIRLOCK_AIRFLOW_URL, else AIRFLOW__API__BASE_URL; without one, "
        "runs are shown by id: `airlock dev` writes the URL into var/devstack/env.sh)",
    )
    parser.set_defaults(func=run)


@contextlib.contextmanager
def data_stdout() -> Iterator[IO[str]]:
    """Yield the real stdout for data; meanwhile fd 1 and sys.stdout point at stderr, for logs."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no fd 1 (an embedding without one): only the Python-level redirect
        with contextlib.redirect_stdout(sys.stderr):
            yield sys.__stdout__ or sys.stderr
        return
    data = os.fdopen(os.dup(saved), "w", encoding="utf-8")
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield data
    finally:
        data.flush()
        data.close()
        sys.stderr.flush()
        os.dup2(saved, 1)
        os.close(saved)


def run(args: argparse.Namespace) -> int:
    with data_stdout() as out:
        registry = registry_from_settings()
        for tenant_id, error in sorted(registry.disabled.items()):  # on stderr: the data stays parseable
            first = error.strip().splitlines()[0] if error.strip() else "invalid file"
            print(f"airlock status: tenant {tenant_id} is disabled by its file: {first}", file=sys.stderr)
        rows = status_from_settings(
            registry,
            tenants=args.tenant,
            history=args.history,
            airflow_url=args.airflow_url or default_airflow_url(),
        )
        if args.state:
            rows = [r for r in rows if r.state in args.state]
        if args.json:
            out.write(json.dumps([r.to_dict() for r in rows], indent=2) + "\n")
            return 0
        out.write(render_table(rows) + "\n")
        counts = ", ".join(f"{n} {state}" for state, n in summary(rows).items())
        out.write(f"\n{len(rows)} row(s): {counts or 'nothing registered'}\n")
    return 0
