"""`airlock monitors plan|apply|export`: Datadog monitors as code, keyed by the managed_by:airlock tag."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from airlock.observability.monitors import (
    DatadogMonitors,
    apply,
    desired_monitors,
    format_plan,
    freshness_monitors,
    plan,
)
from airlock.settings import load_settings
from airlock.tenants import load_registry, parse_duration


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "monitors",
        help="validate, plan and apply the Datadog monitors (static JSON + one freshness monitor per tenant)",
        description="Static monitors live in observability/monitors/*.json; freshness monitors are generated "
        "from each tenant's contract deadline. plan is offline unless --diff; apply needs DD_API_KEY, "
        "DD_APP_KEY and DD_SITE or DD_HOST.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--env", default=None, help="value of ${env} in the monitors (default: AIRLOCK_ENV)")
    common.add_argument("--cadence", default="1d", help="how often tenants deliver, for freshness (default 1d)")
    common.add_argument("--dir", type=Path, default=None, help="static monitors folder")
    p_plan = actions.add_parser("plan", parents=[common], help="validate every monitor; offline by default")
    p_plan.add_argument("--diff", action="store_true", help="compare with the monitors in Datadog (online)")
    p_plan.add_argument("--prune", action="store_true", help="show managed monitors that would be deleted")
    p_plan.set_defaults(func=run_plan)
    p_apply = actions.add_parser("apply", parents=[common], help="create/update the monitors in Datadog")
    p_apply.add_argument("--prune", action="store_true", help="delete managed monitors no longer defined")
    p_apply.set_defaults(func=run_apply)
    p_export = actions.add_parser(
        "export", parents=[common], help="write the generated per-tenant monitors as JSON files (for Terraform)"
    )
    p_export.add_argument("--out", type=Path, required=True, help="folder for <key>.json files")
    p_export.set_defaults(func=run_export)


def _desired(args: argparse.Namespace) -> tuple[Any, list[Any]]:
    settings = load_settings()
    registry = load_registry(settings.tenants_dir, settings.dataflows_dir)
    monitors = desired_monitors(settings.home, registry, args.env or settings.env, parse_duration(args.cadence),
                                args.dir)  # fmt: skip
    return registry, monitors


def run_plan(args: argparse.Namespace) -> int:
    _registry, desired = _desired(args)
    existing = None
    if args.diff:
        api = DatadogMonitors.from_env()
        try:
            existing = api.list_managed()
        finally:
            api.close()
    print(f"{len(desired)} monitor(s) valid ({'compared with Datadog' if args.diff else 'offline'}):")
    print(format_plan(plan(desired, existing, prune=args.prune)))
    return 0


def run_apply(args: argparse.Namespace) -> int:
    _registry, desired = _desired(args)
    api = DatadogMonitors.from_env()
    try:
        changes = plan(desired, api.list_managed(), prune=args.prune)
        print(format_plan(changes))
        counts = apply(changes, api)
    finally:
        api.close()
    print("applied: " + ", ".join(f"{n} {a}" for a, n in counts.items()))
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Write the generated monitors unrendered (`${env}` kept), like the static files."""
    settings = load_settings()
    registry = load_registry(settings.tenants_dir, settings.dataflows_dir)
    _desired(args)  # validate everything first
    args.out.mkdir(parents=True, exist_ok=True)
    generated = freshness_monitors(registry, parse_duration(args.cadence))
    for defn in generated:
        (args.out / f"{defn.key}.json").write_text(json.dumps(defn.body, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(generated)} generated monitor(s) to {args.out}")
    return 0
