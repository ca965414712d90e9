"""Re-deliver a batch that was already snapshotted: an explicit new snapshot version, never a silent one.

A file a tenant sends for a batch after its snapshot is quarantined `after_snapshot` (the intake never
adds to a snapshot). When the operator decides the batch must be processed again with it, `airlock
redeliver` makes a new snapshot version: the previous version's files, with each re-delivered file
replacing the one of the same name (or joining the batch). Every re-delivered file is validated against
the contract first; one bad file stops the whole re-delivery, naming it. The re-delivered copies then
leave the quarantine (and landing): the new version holds them, byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from airlock.errors import AirlockError
from airlock.landing import Arrival, BatchRef, Reason, classify
from airlock.quarantine import REASON_SUFFIX
from airlock.snapshot import (
    Snapshot,
    VersionFile,
    is_snapshotted,
    read_claim,
    read_manifest,
    snapshotted_objects,
    take_version,
)
from airlock.storage import ObjectInfo, Storage
from airlock.tenants import Registry
from airlock.validation import FileFacts, check_file


class RedeliveryError(AirlockError):
    """The batch cannot be re-delivered as asked (not snapshotted, nothing new, a bad file)."""


@dataclass(frozen=True)
class Delivered:
    """A file sent for the batch after its snapshot, where it is now, and what validation saw."""

    arrival: Arrival
    store: Storage
    key: str
    where: str
    facts: FileFacts


@dataclass(frozen=True)
class RedeliveryPlan:
    batch: BatchRef
    previous: dict[str, Any]
    delivered: list[Delivered]

    @property
    def replaced(self) -> list[str]:
        names = {f["file"] for f in self.previous["files"]}
        return sorted(d.arrival.file for d in self.delivered if d.arrival.file in names)

    @property
    def added(self) -> list[str]:
        names = {f["file"] for f in self.previous["files"]}
        return sorted(d.arrival.file for d in self.delivered if d.arrival.file not in names)

    @property
    def kept(self) -> list[str]:
        new = {d.arrival.file for d in self.delivered}
        return sorted(f["file"] for f in self.previous["files"] if f["file"] not in new)

    def describe(self) -> list[str]:
        version = int(self.previous.get("version", 1))
        lines = [
            f"{self.batch.partition_key} ({self.batch.dataflow}): snapshot {self.previous['snapshot_ts']} "
            f"(version {version}) -> version {version + 1}"
        ]
        for d in sorted(self.delivered, key=lambda d: d.arrival.file):
            verb = "replaces" if d.arrival.file in self.replaced else "adds"
            lines.append(f"    {verb} {d.arrival.file}: {d.facts.rows} rows, sha256 {d.facts.sha256[:12]} ({d.where})")
        lines += [f"    keeps {name}" for name in self.kept]
        return lines


def _arrival(info: ObjectInfo, original_key: str, batch: BatchRef, registry: Registry) -> Arrival | None:
    placed = classify(ObjectInfo(original_key, info.size, info.last_modified, info.etag), registry)
    return placed if isinstance(placed, Arrival) and placed.batch == batch else None


def find_delivered(
    registry: Registry, batch: BatchRef, landing: Storage, quarantine: Storage, manifest: dict[str, Any]
) -> list[Delivered]:
    """The batch's files sent after its snapshot: quarantined `after_snapshot`, or still in landing."""
    found: dict[str, tuple[ObjectInfo, Arrival, Storage, str]] = {}
    held = f"{batch.tenant_id}/{Reason.AFTER_SNAPSHOT.value}/"
    for info in quarantine.list(f"{held}{batch.tenant_id}/{batch.dataflow}/"):
        if not info.key.endswith(REASON_SUFFIX) and (arrival := _arrival(info, info.key[len(held) :], batch, registry)):
            found[arrival.file] = (info, arrival, quarantine, "quarantined after_snapshot")
    entries = snapshotted_objects(manifest)
    for info in landing.list(f"{batch.tenant_id}/{batch.dataflow}/"):
        arrival = _arrival(info, info.key, batch, registry)
        if arrival is None or is_snapshotted(info, entries.get(info.key)):
            continue
        if arrival.file not in found or info.last_modified > found[arrival.file][0].last_modified:
            found[arrival.file] = (info, arrival, landing, "in landing")
    delivered, bad = [], []
    for _file, (info, arrival, store, where) in sorted(found.items()):
        columns = registry.columns(batch.tenant_id, batch.dataflow, arrival.contract.table)
        with store.open_read(info.key) as stream:
            result = check_file(stream, arrival.contract, columns)
        if isinstance(result, FileFacts):
            delivered.append(Delivered(arrival, store, info.key, where, result))
        else:
            bad.append(f"{arrival.file} ({where}): {result.reason.value}: {result.detail}")
    if bad:
        raise RedeliveryError(
            f"{batch.partition_key}: {len(bad)} re-delivered file(s) break the contract, nothing was changed:\n  "
            + "\n  ".join(bad)
            + "\nFix: have the tenant send corrected files, then run airlock redeliver again."
        )
    return delivered


def plan_redelivery(
    registry: Registry, raw: Storage, landing: Storage, quarantine: Storage, batch: BatchRef
) -> RedeliveryPlan:
    if batch.tenant_id not in registry.tenants or batch.dataflow not in registry.tenants[batch.tenant_id].dataflows:
        raise RedeliveryError(f"{batch.partition_key}: tenant {batch.tenant_id} has no dataflow {batch.dataflow}")
    manifest = read_manifest(raw, batch)
    if read_claim(raw, batch) is None or manifest is None:
        raise RedeliveryError(
            f"{batch.partition_key} ({batch.dataflow}) was never snapshotted: its files are still the intake's "
            "to complete (airlock status shows what it waits for); there is nothing to re-deliver."
        )
    delivered = find_delivered(registry, batch, landing, quarantine, manifest)
    if not delivered:
        raise RedeliveryError(
            f"{batch.partition_key} ({batch.dataflow}): no file was sent after snapshot {manifest['snapshot_ts']} "
            f"(none quarantined under {batch.tenant_id}/after_snapshot/, none new in landing). To process the same "
            "snapshot again, use airlock reprocess."
        )
    return RedeliveryPlan(batch, manifest, delivered)


def _entry(d: Delivered) -> dict[str, Any]:
    return {
        "file": d.arrival.file,
        "table": d.arrival.contract.table,
        "format": d.arrival.contract.format.value,
        "landing_key": d.arrival.key,
        "landing_etag": d.arrival.info.etag,
        "size": d.facts.size,
        "sha256": d.facts.sha256,
        "rows": d.facts.rows,
        "last_modified": d.arrival.info.last_modified.isoformat(),
    }


def redeliver(
    plan: RedeliveryPlan,
    raw: Storage,
    request: dict[str, Any],
    *,
    kms_key_id: str | None = None,
    now: datetime | None = None,
) -> Snapshot:
    """Commit the new version, then take the re-delivered copies out of quarantine and landing."""
    new = {d.arrival.file: d for d in plan.delivered}
    files = [VersionFile(_entry(d), d.store, d.key) for d in plan.delivered]
    files += [VersionFile(e, raw, e["key"]) for e in plan.previous["files"] if e["file"] not in new]
    controls = [VersionFile(e, raw, e["key"]) for e in plan.previous.get("control_files", [])]
    detail = {**request, "files": sorted(new), "at": (now or datetime.now(UTC)).isoformat()}
    snap = take_version(raw, plan.batch, files, controls, redelivery=detail, kms_key_id=kms_key_id, now=now)
    for d in plan.delivered:
        d.store.delete(d.key, if_etag=d.arrival.info.etag)
        if d.where.startswith("quarantined"):
            d.store.delete(f"{d.key}{REASON_SUFFIX}")
    return snap
