"""`airlock tenant offboard|erase`: a tenant leaves (stop, drain, export, drop), or is erased on request."""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from airlock.commands.reprocess import add_airflow, operator_name
from airlock.errors import ConfigError
from airlock.lifecycle import erase as erasure
from airlock.lifecycle import offboard as leaving
from airlock.lifecycle.airflow import connect
from airlock.lifecycle.batches import BatchFilter, committed_batches
from airlock.settings import Settings, load_settings
from airlock.storage import LocalStorage, S3Storage, open_storage
from airlock.tenants import OFFBOARDED, TENANT_SUFFIX, Registry, load_registry
from airlock.warehouse import load_warehouse_config, open_warehouse
from airlock.warehouse.base import TenantSpace, Warehouse

OFFBOARD = """\
Offboard a tenant: 1. stop its intake at once (its landing files wait, nothing new is snapshotted);
2. drain: wait for its queued and running processing runs; 3. export every table of its warehouse
schemas (CSV + _EXPORT.json with rows and sha256), then drop the schemas and its role (--keep-data
skips both); 4. move its registry file to dags/registry/offboarded/ and print the Terraform change
(its queue, roles and notification go; its KMS key stays, with prevent_destroy, until an erasure).
Each step can be run again: after a failure, run the command again.
"""

ERASE = """\
Erase an offboarded tenant on request (crypto-shredding): check that every snapshot object is encrypted
with the tenant's own KMS key, drop its warehouse schemas (if still there), delete its landing and
quarantine objects, then disable its key and schedule its deletion: from then on S3 cannot decrypt any of
its snapshots, under any Object Lock. Writes an audit record (what, when, by whom) to the raw root's
_airlock/audit/erasure/ and prints it. Nothing is erased if a check fails.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("tenant", help="day-2 tenant lifecycle: offboard, erase")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    off = actions.add_parser(
        "offboard",
        help="stop intake, drain runs, export then drop the warehouse schemas, retire the registry file",
        description=OFFBOARD,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    off.add_argument("tenant_id", metavar="TENANT")
    off.add_argument("--keep-data", action="store_true", help="keep the warehouse schemas (no export, no drop)")
    off.add_argument(
        "--export-to", default=None, metavar="URL", help="folder or s3://bucket/prefix (default: var/exports)"
    )
    off.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for the runs to drain")
    off.add_argument("--dry-run", action="store_true", help="say what would happen; change nothing")
    add_airflow(off)
    off.set_defaults(func=run_offboard)

    gone = actions.add_parser(
        "erase",
        help="crypto-shred an offboarded tenant: its key disabled and scheduled for deletion, an audit record",
        description=ERASE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    gone.add_argument("tenant_id", metavar="TENANT")
    gone.add_argument("--confirm", required=True, metavar="TENANT", help="the tenant id again: erasure is final")
    gone.add_argument("--pending-days", type=int, default=7, help="KMS deletion window, 7-30 days (default 7)")
    gone.add_argument("--reason", default="", help="the request (ticket, letter): recorded in the audit record")
    gone.add_argument("--by", default=None, help="who erases (default: user@host; the AWS caller is recorded too)")
    gone.set_defaults(func=run_erase)


def _space(settings: Settings, registry: Registry, tenant_id: str) -> TenantSpace:
    """The tenant's warehouse space, from its registry file (active or offboarded)."""
    tenant = registry.tenant(tenant_id)
    if tenant is not None:
        return TenantSpace(tenant_id, tenant.warehouse_schema)
    retired = settings.tenants_dir.parent / OFFBOARDED / f"{tenant_id}{TENANT_SUFFIX}"
    if not retired.exists():
        raise ConfigError(f"no tenant {tenant_id} in {settings.tenants_dir} or {retired.parent}")
    return TenantSpace(tenant_id, str(yaml.safe_load(retired.read_text(encoding="utf-8"))["warehouse_schema"]))


def _warehouse(settings: Settings) -> Warehouse:
    warehouse = open_warehouse(load_warehouse_config(settings))
    if not hasattr(warehouse, "drop_tenant"):
        raise ConfigError(
            f"the {warehouse.kind} warehouse module cannot export or drop a tenant yet: drop its schemas and role by "
            "hand, then run the command again with --keep-data"
        )
    return warehouse


def _step(n: int, text: str, began: float) -> None:
    print(f"[{n}/4] {text} ({time.monotonic() - began:.1f}s)")


def run_offboard(args: argparse.Namespace) -> int:
    began = time.monotonic()
    settings = load_settings()
    registry = load_registry(settings.tenants_dir, settings.dataflows_dir, strict=False)
    tenant_id, by = args.tenant_id, operator_name(args.by)
    space = _space(settings, registry, tenant_id)
    raw = open_storage(settings.raw_url)
    active = registry.tenant(tenant_id) is not None
    warehouse = None if args.keep_data else _warehouse(settings)
    if args.dry_run:
        batches = committed_batches(registry, raw, BatchFilter(tenants=(tenant_id,))) if active else []
        states: dict[str, int] = {}
        for b in batches:
            states[b.state] = states.get(b.state, 0) + 1
        print(f"==> offboarding {tenant_id} would: stop intake; drain {states or 'no batches'}; ", end="")
        print("keep its schemas" if warehouse is None else f"export and drop {warehouse.tenant_schemas(space)}")
        print("\n".join(leaving.terraform_change(tenant_id, settings.tenants_dir.parent / OFFBOARDED, settings.home)))
        return 0
    with connect(args.airflow_url) as api:
        stop = leaving.stop_intake(raw, tenant_id, by)
        _step(1, f"intake of {tenant_id} stopped (since {stop.get('at')} by {stop.get('by')})", began)
        states = leaving.drain(registry, raw, tenant_id, api, timeout=args.timeout, progress=print) if active else {}
        _step(2, f"drained: no run of {tenant_id} queued or running; batches {states or 'none'}", began)
    if warehouse is None:
        _step(3, "warehouse data kept (--keep-data)", began)
        dropped: list[str] = []
        exported = None
    else:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        default = Path(os.environ.get("AIRLOCK_DATA_DIR") or settings.home / "var") / "exports"
        exported = leaving.export(
            warehouse, space, open_storage(args.export_to or str(default)), f"{tenant_id}/{stamp}/"
        )
        dropped = warehouse.drop_tenant(space)
        left = warehouse.tenant_schemas(space)
        if left:
            raise leaving.OffboardError(f"schemas {left} of {tenant_id} are still there after the drop")
        _step(3, f"exported {len(exported.tables)} table(s), {exported.rows} row(s) to {exported.url}; "
                 f"dropped {dropped or 'nothing (no schema)'}", began)  # fmt: skip
    note = {"at": datetime.now(UTC).isoformat(), "by": by, "data": exported.url if exported else "kept"}
    moved = leaving.retire_registry_file(settings.tenants_dir, tenant_id, note)
    _step(4, f"registry: {moved}", began)
    print("\n".join(leaving.terraform_change(tenant_id, moved, settings.home)))
    print(f"==> {tenant_id} offboarded in {time.monotonic() - began:.1f}s")
    return 0


def run_erase(args: argparse.Namespace) -> int:
    began = time.monotonic()
    tenant_id = args.tenant_id
    if args.confirm != tenant_id:
        raise ConfigError(f"--confirm {args.confirm!r} is not {tenant_id!r}: erasure is final, name the tenant twice")
    if not 7 <= args.pending_days <= 30:
        raise ConfigError("--pending-days: AWS schedules a key deletion 7 to 30 days ahead")
    settings = load_settings()
    registry = load_registry(settings.tenants_dir, settings.dataflows_dir, strict=False)
    if registry.tenant(tenant_id) is not None or tenant_id in registry.disabled:
        raise ConfigError(f"{tenant_id} is an active tenant: offboard it first (airlock tenant offboard {tenant_id})")
    space = _space(settings, registry, tenant_id)
    raw = open_storage(settings.raw_url)
    record: dict[str, Any] = {
        "what": "tenant erasure (crypto-shredding)",
        "tenant_id": tenant_id,
        "requested_by": operator_name(args.by),
        "reason": args.reason,
        "started_at": datetime.now(UTC).isoformat(),
    }
    key = None
    if isinstance(raw, S3Storage):
        from airlock.aws import client

        key_id = settings.tenant_key(tenant_id)
        if key_id is None:
            raise ConfigError(
                "AIRLOCK_TENANT_KEY_TEMPLATE is not set: the tenant's key is unknown, so its snapshots cannot be "
                "shredded. Set it as deployed (Terraform's kit settings), then run again."
            )
        kms = client("kms")
        key = erasure.key_arn(kms, key_id)
        record["aws_caller"] = erasure.caller(client("sts"))
    found = erasure.inventory(raw, tenant_id, key, client("kms") if key else None)
    if found.unshredded:
        shown = "\n  ".join(f"{k} (key {used or 'the bucket default'})" for k, used in found.unshredded[:10])
        raise erasure.ErasureError(
            f"{len(found.unshredded)} snapshot object(s) of {tenant_id} are not encrypted with its key, so shredding "
            f"the key would not erase them; nothing was erased:\n  {shown}\nRe-write them with the tenant's key (or "
            "delete them with a Governance bypass), then run again."
        )
    print(f"[1/4] {len(found.shredded)} snapshot object(s) ({found.bytes} bytes) under {tenant_id}'s key; "
          f"{found.markers} marker(s) ({time.monotonic() - began:.1f}s)")  # fmt: skip
    warehouse = _warehouse(settings)
    dropped = warehouse.drop_tenant(space)
    print(f"[2/4] warehouse: dropped {dropped or 'nothing (already dropped)'}")
    landing = erasure.delete_prefix(open_storage(settings.landing_url), f"{tenant_id}/")
    quarantined = erasure.delete_prefix(open_storage(settings.quarantine_url), f"{tenant_id}/")
    print(f"[3/4] deleted {landing} landing and {quarantined} quarantine object(s)")
    if key is not None:
        shredded = erasure.shred(client("kms"), key, args.pending_days) if key["KeyState"] != "PendingDeletion" else {
            "key_arn": key["Arn"], "state": key["KeyState"], "deletion_date": str(key.get("DeletionDate"))}  # fmt: skip
        print(f"[4/4] key {shredded['key_arn']}: {shredded['state']}, deleted on {shredded['deletion_date']}")
    else:
        assert isinstance(raw, LocalStorage)
        shredded = {"local_files_deleted": erasure.local_erase(raw, tenant_id)}
        print(f"[4/4] folder raw root (no KMS): deleted {shredded['local_files_deleted']} file(s)")
    record.update(
        finished_at=datetime.now(UTC).isoformat(),
        snapshots={"objects": len(found.shredded), "bytes": found.bytes, "markers": found.markers},
        key=shredded,
        warehouse={"kind": warehouse.kind, "schemas_dropped": dropped},
        deleted={"landing": landing, "quarantine": quarantined},
    )
    audit = erasure.write_audit(raw, tenant_id, record)
    marked = leaving.mark_erased(settings.tenants_dir, tenant_id, record["finished_at"])
    print(json.dumps(record, indent=2, default=str))
    print(f"==> {tenant_id} erased in {time.monotonic() - began:.1f}s; audit record {raw.url.rstrip('/')}/{audit}")
    state_rm = f"terraform state rm 'module.tenant[\"{tenant_id}\"].aws_kms_key.tenant'"
    print(f"    registry: {marked or 'no offboarded file found'} marked erased; commit it and apply Terraform")
    print(f"    (if the plan still lists the key: {state_rm}). Keep the file until AWS has deleted the key.")
    return 0
