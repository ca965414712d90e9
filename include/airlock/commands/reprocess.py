"""`airlock reprocess`: re-run processing for committed batches, on Airflow's partition-aware clear."""

from __future__ import annotations

import argparse
import time
from typing import Any

from airlock.landing import BatchRef
from airlock.lifecycle.airflow import connect
from airlock.lifecycle.batches import BatchFilter
from airlock.lifecycle.reprocess import Outcome, plan_reprocess, start, wait
from airlock.lifecycle.versions import deployed_manifest
from airlock.processing import new_request
from airlock.settings import load_settings
from airlock.storage import open_storage
from airlock.tenants import load_registry

DESCRIPTION = """\
Select committed batches, say what will happen to each (--dry-run stops there), then ask Airflow
to re-run their partitions: its partition-aware clear (POST /api/v2/dags/<dag>/clearDagRuns with the
batch's partition key, the REST twin of `airflow dags clear <dag> --partition-key <key>`), or a new
run with that key where Airflow has none. Each re-run is a new attempt recorded beside the first
(<batch>/_runs/NNNN.json); `airlock status` shows the latest. A batch whose content and code equal
those of its last successful attempt is left alone (--force runs it); a running one always is.
"""

EXAMPLES = """
examples:
  airlock reprocess --tenant acme --batch 20261120 --dry-run    # one batch: what would happen
  airlock reprocess --tenant acme --dataflow orders --from 20261101 --to 20261130
  airlock reprocess --dataflow orders --wait                    # backfill: every tenant of a dataflow
  airlock reprocess --dataflow orders --changed                 # only where the dataflow's dbt nodes changed
  airlock reprocess --tenant acme --batch 20261120 --force      # even if content and code are unchanged
"""


def add_selection(parser: argparse.ArgumentParser) -> None:
    """The batch selection `reprocess` takes (each option repeatable; none of a kind means all of it)."""
    parser.add_argument("--tenant", action="append", default=[], metavar="ID", help="a tenant (repeatable)")
    parser.add_argument("--dataflow", action="append", default=[], metavar="NAME", help="a dataflow (repeatable)")
    parser.add_argument("--batch", action="append", default=[], metavar="ID", help="a batch id (repeatable)")
    parser.add_argument("--from", dest="first", metavar="ID", help="first batch id of a range (inclusive)")
    parser.add_argument("--to", dest="last", metavar="ID", help="last batch id of a range (inclusive)")


def selection(args: argparse.Namespace) -> BatchFilter:
    return BatchFilter(tuple(args.tenant), tuple(args.dataflow), tuple(args.batch), args.first, args.last)


def add_airflow(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--airflow-url", default=None, help="Airflow's base URL (default: AIRLOCK_AIRFLOW_URL)")
    parser.add_argument("--by", default=None, help="who asks (recorded with each attempt; default: user@host)")


def operator_name(given: str | None) -> str:
    import getpass
    import socket

    return given or f"{getpass.getuser()}@{socket.gethostname()}"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "reprocess",
        help="re-run processing for committed batches (one batch, a range, a tenant, a dataflow's tenants)",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_selection(parser)
    parser.add_argument("--all", action="store_true", help="every committed batch (needed without a selection)")
    parser.add_argument(
        "--changed", action="store_true", help="only batches whose last attempt ran other code than is deployed"
    )
    parser.add_argument("--force", action="store_true", help="re-run even if content and code are unchanged")
    parser.add_argument("--reason", default="", help="why (recorded with each attempt)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and change nothing")
    parser.add_argument("--wait", action="store_true", help="wait for the new attempts and print their outcome")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds --wait waits (default 1800)")
    add_airflow(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from airlock.errors import ConfigError

    began = time.monotonic()
    chosen = selection(args)
    if chosen.empty and not args.all:
        raise ConfigError("name what to re-process (--tenant, --dataflow, --batch, --from/--to) or pass --all")
    settings = load_settings()
    registry = load_registry(settings.tenants_dir, settings.dataflows_dir, strict=False)
    raw = open_storage(settings.raw_url)
    request = new_request(args.reason, requested_by=operator_name(args.by), force=args.force)
    plan = plan_reprocess(
        registry, raw, chosen, deployed_manifest(settings), request, changed=args.changed, force=args.force
    )
    print(f"==> {len(plan.items)} committed batch(es) selected, {len(plan.reruns)} to re-run")
    for flow, code in sorted(plan.codes.items()):
        print(f"    {flow}: code version {code.short} ({len(code.nodes)} dbt nodes, airlock {code.airlock_version})")
    if plan.items:
        print(plan.table())
    if args.dry_run or not plan.reruns:
        how = "POST /api/v2/dags/<dag>/clearDagRuns {partition_key} per batch (a new run where Airflow has none)"
        print("==> dry run: nothing changed" if args.dry_run else "==> nothing to re-run")
        if args.dry_run and plan.reruns:
            print(f"    without --dry-run: write _REPROCESS.json ({request['request_id']}) per batch, then {how}")
        return 0
    with connect(args.airflow_url) as api:
        start(plan, raw, api, registry, print)
    print(
        f"==> {len(plan.reruns)} re-run(s) asked in {time.monotonic() - began:.1f}s (request {request['request_id']})"
    )
    if not args.wait:
        print("    follow them with `airlock status` (the attempt number shows in STATE)")
        return 0
    batches = [i.batch.batch for i in plan.reruns]
    return report(wait(batches, request["request_id"], raw, timeout=args.timeout, progress=print), batches, began)


def report(outcomes: list[Outcome], batches: list[BatchRef], began: float) -> int:
    """The closing line of a --wait, and the exit code: 0 only if every attempt ended and none failed."""
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    print(f"==> done in {time.monotonic() - began:.1f}s: {summary or 'nothing finished'}")
    return 0 if len(outcomes) == len(batches) and "failed" not in counts else 1
