"""`airlock redeliver`: a new snapshot version of an already snapshotted batch, then its processing."""

from __future__ import annotations

import argparse
import time
from typing import Any

from airlock.commands.reprocess import add_airflow, operator_name, report
from airlock.landing import BatchRef
from airlock.lifecycle.airflow import connect
from airlock.lifecycle.redeliver import plan_redelivery, redeliver
from airlock.lifecycle.reprocess import ask, wait
from airlock.processing import new_request
from airlock.settings import load_settings
from airlock.storage import open_storage
from airlock.tenants import load_registry

DESCRIPTION = """\
A file sent for a batch after its snapshot is quarantined `after_snapshot`: the intake never changes a
snapshot. When the batch must be processed with it, this makes a new snapshot version: the previous
version's files, each re-delivered file (quarantined after_snapshot, or new in landing) replacing the
file of the same name or joining the batch. Every re-delivered file is validated first; one bad file
stops everything. The new version becomes the batch's snapshot (_SNAPSHOT.json; the old one stays), the
re-delivered copies leave quarantine, and the batch is re-processed as a new attempt.
"""

EXAMPLES = """
examples:
  airlock redeliver --tenant acme --dataflow orders --batch 20261120 --dry-run
  airlock redeliver --tenant acme --dataflow orders --batch 20261120 --reason "tenant resent refunds" --wait
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "redeliver",
        help="make a new snapshot version of a snapshotted batch from its late files, and re-process it",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--tenant", required=True, metavar="ID")
    parser.add_argument("--dataflow", required=True, metavar="NAME")
    parser.add_argument("--batch", required=True, metavar="ID")
    parser.add_argument("--reason", default="", help="why (recorded in the new manifest and the attempt)")
    parser.add_argument("--dry-run", action="store_true", help="say what the new version holds; change nothing")
    parser.add_argument("--no-run", action="store_true", help="make the version but do not ask Airflow to run it")
    parser.add_argument("--wait", action="store_true", help="wait for the new attempt and print its outcome")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds --wait waits (default 1800)")
    add_airflow(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    began = time.monotonic()
    settings = load_settings()
    registry = load_registry(settings.tenants_dir, settings.dataflows_dir, strict=False)
    raw = open_storage(settings.raw_url)
    batch = BatchRef(args.tenant, args.dataflow, args.batch)
    plan = plan_redelivery(
        registry, raw, open_storage(settings.landing_url), open_storage(settings.quarantine_url), batch
    )
    print("==> " + "\n".join(plan.describe()))
    if args.dry_run:
        print("==> dry run: nothing changed")
        return 0
    api = None if args.no_run else connect(args.airflow_url)  # before any write: no API, no change
    request = new_request(args.reason, requested_by=operator_name(args.by), kind="redeliver")
    snap = redeliver(plan, raw, request, kms_key_id=settings.tenant_key(batch.tenant_id))
    print(f"==> snapshot version {snap.manifest['version']} committed: {raw.url.rstrip('/')}/{snap.prefix}")
    if api is None:
        print("    not run (--no-run): `airlock reprocess --tenant ... --batch ...` processes it")
        return 0
    with api:
        ask([batch], request, raw, api, registry, print)
    if not args.wait:
        print("    follow it with `airlock status`")
        return 0
    return report(wait([batch], request["request_id"], raw, timeout=args.timeout, progress=print), [batch], began)
