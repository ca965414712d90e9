"""Immutable, timestamped snapshots of complete batches, made exactly once.

Layout under the raw root (docs/contracts.md):
    <tenant>/<dataflow>/<batch>/_SNAPSHOT.json           the claim: fixes snapshot_ts
    <tenant>/<dataflow>/<batch>/<snapshot_ts>/<file>      the copies
    <tenant>/<dataflow>/<batch>/<snapshot_ts>/_control/<name>   the tenant's control file, if any
    <tenant>/<dataflow>/<batch>/<snapshot_ts>/_MANIFEST.json   the commit
    <tenant>/<dataflow>/<batch>/_EMITTED.json            the last emission of the batch's event

Idempotency uses conditional writes (S3 `If-None-Match: *`, an atomic link on disk), not a lock:
the claim makes every concurrent snapshotter copy into the same folder, and only the writer
whose create-only write of `_MANIFEST.json` succeeds reports `created=True` — and only that one
emits the processing event. A repeat finds the manifest and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from airlock.errors import AirlockError
from airlock.landing import Arrival, BatchFiles, BatchRef, ControlFile
from airlock.storage import ObjectInfo, Storage, read_json, write_json
from airlock.validation import FileFacts

SNAPSHOT_MARKER = "_SNAPSHOT.json"
MANIFEST = "_MANIFEST.json"
RUN_MARKER = "_RUN.json"
DONE_MARKER = "_DONE.json"
EMITTED_MARKER = "_EMITTED.json"
CONTROL_FOLDER = "_control"


def snapshot_ts(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")


def marker_key(batch: BatchRef, name: str) -> str:
    return f"{batch.raw_prefix}{name}"


def manifest_key(batch: BatchRef, ts: str) -> str:
    return f"{batch.raw_prefix}{ts}/{MANIFEST}"


@dataclass(frozen=True)
class Snapshot:
    batch: BatchRef
    snapshot_ts: str
    manifest: dict[str, Any]
    created: bool

    @property
    def prefix(self) -> str:
        return f"{self.batch.raw_prefix}{self.snapshot_ts}/"


def read_claim(raw: Storage, batch: BatchRef) -> dict[str, Any] | None:
    return read_json(raw, marker_key(batch, SNAPSHOT_MARKER))


def read_manifest(raw: Storage, batch: BatchRef) -> dict[str, Any] | None:
    claim = read_claim(raw, batch)
    return read_json(raw, manifest_key(batch, claim["snapshot_ts"])) if claim else None


def _claim(raw: Storage, batch: BatchRef, now: datetime, owner: str | None) -> dict[str, Any]:
    claim = {
        "tenant_id": batch.tenant_id,
        "dataflow": batch.dataflow,
        "batch_id": batch.batch_id,
        "snapshot_ts": snapshot_ts(now),
        "created_at": now.isoformat(),
        "claimed_by": owner,
    }
    if write_json(raw, marker_key(batch, SNAPSHOT_MARKER), claim, if_absent=True):
        return claim
    existing = read_claim(raw, batch)
    assert existing is not None  # a create-only write failed because the claim exists
    return existing


def _file_entry(arrival: Arrival, facts: FileFacts, prefix: str) -> dict[str, Any]:
    return {
        "file": arrival.file,
        "table": arrival.contract.table,
        "format": arrival.contract.format.value,
        "landing_key": arrival.key,
        "landing_etag": arrival.info.etag,
        "key": f"{prefix}{arrival.file}",
        "size": facts.size,
        "sha256": facts.sha256,
        "rows": facts.rows,
        "last_modified": arrival.info.last_modified.isoformat(),
    }


def _control_entry(control: ControlFile, facts: FileFacts, prefix: str) -> dict[str, Any]:
    return {
        "file": control.file,
        "landing_key": control.key,
        "landing_etag": control.info.etag,
        "key": f"{prefix}{CONTROL_FOLDER}/{control.file}",
        "size": facts.size,
        "sha256": facts.sha256,
        "last_modified": control.info.last_modified.isoformat(),
    }


def is_snapshotted(info: ObjectInfo, entry: dict[str, Any] | None) -> bool:
    """Whether a landing object is the very version a manifest entry recorded (not a re-upload)."""
    if entry is None:
        return False
    if info.etag and entry.get("landing_etag"):
        return bool(info.etag == entry["landing_etag"])
    try:
        recorded = datetime.fromisoformat(str(entry.get("last_modified")))
    except ValueError:
        return False
    return info.size == entry.get("size") and info.last_modified == recorded


def snapshotted_objects(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """landing key -> manifest entry, for the data files and the control files of a snapshot."""
    entries = [*manifest.get("files", []), *manifest.get("control_files", [])]
    return {e["landing_key"]: e for e in entries if isinstance(e, dict) and "landing_key" in e}


def take_snapshot(
    files: BatchFiles,
    facts: dict[str, FileFacts],
    landing: Storage,
    raw: Storage,
    *,
    kms_key_id: str | None = None,
    now: datetime | None = None,
    owner: str | None = None,
    completion: str = "",
) -> Snapshot:
    """Copy a complete, validated batch under the raw root; a repeat is a no-op.

    `owner` (`<dag_id>/<run_id>`) is recorded in the claim and the manifest, so that a retry of
    the task that committed a snapshot knows its earlier try may have died before its event was
    recorded, and emits it again.
    """
    now = now or datetime.now(UTC)
    batch = files.batch
    claim = _claim(raw, batch, now, owner)
    ts = claim["snapshot_ts"]
    existing = read_json(raw, manifest_key(batch, ts))
    if existing is not None:
        return Snapshot(batch, ts, existing, created=False)
    prefix = f"{batch.raw_prefix}{ts}/"
    entries = []
    for arrival in sorted(files.arrivals, key=lambda a: a.key):
        raw.copy_from(landing, arrival.key, f"{prefix}{arrival.file}", kms_key_id=kms_key_id)
        entries.append(_file_entry(arrival, facts[arrival.key], prefix))
    controls = []
    for control in sorted(files.controls, key=lambda c: c.key):
        raw.copy_from(landing, control.key, f"{prefix}{CONTROL_FOLDER}/{control.file}", kms_key_id=kms_key_id)
        controls.append(_control_entry(control, facts[control.key], prefix))
    manifest = {
        "tenant_id": batch.tenant_id,
        "dataflow": batch.dataflow,
        "batch_id": batch.batch_id,
        "snapshot_ts": ts,
        "created_at": now.isoformat(),
        "committed_by": owner,
        "first_arrival": files.first_arrival.isoformat() if files.first_arrival else None,
        "last_arrival": files.last_arrival.isoformat() if files.last_arrival else None,
        "completion": completion,
        "files": entries,
        "control_files": controls,
        "total_bytes": sum(e["size"] for e in entries),
        "total_rows": sum(e["rows"] for e in entries),
    }
    if write_json(raw, manifest_key(batch, ts), manifest, if_absent=True):
        return Snapshot(batch, ts, manifest, created=True)
    winner = read_json(raw, manifest_key(batch, ts))
    return Snapshot(batch, ts, winner or manifest, created=False)


# -- re-delivery: a new version of a snapshotted batch ----------------------------------------------
@dataclass(frozen=True)
class VersionFile:
    """One file of a new snapshot version: its manifest entry (all but `key`) and where its bytes are now."""

    entry: dict[str, Any]
    source: Storage
    source_key: str


def take_version(
    raw: Storage,
    batch: BatchRef,
    files: list[VersionFile],
    controls: list[VersionFile],
    *,
    redelivery: dict[str, Any],
    kms_key_id: str | None = None,
    now: datetime | None = None,
) -> Snapshot:
    """Commit a new snapshot version of an already snapshotted batch, then make it the batch's snapshot.

    Only an operator's explicit re-delivery calls this (`airlock redeliver`): the intake never re-snapshots
    a batch. The version is complete on its own (unchanged files are copied into it too), its manifest is
    written create-only, and only then does `_SNAPSHOT.json` point at it, so a crash halfway leaves the
    previous version in force. The earlier versions stay where they are (and under the bucket's lock).
    """
    claim = read_claim(raw, batch)
    previous = read_manifest(raw, batch)
    if claim is None or previous is None:
        raise AirlockError(f"{batch.partition_key}: no committed snapshot to supersede")
    now = now or datetime.now(UTC)
    ts = max(snapshot_ts(now), _next_ts(claim["snapshot_ts"]))
    prefix = f"{batch.raw_prefix}{ts}/"
    entries = []
    for item in sorted(files, key=lambda f: f.entry["file"]):
        raw.copy_from(item.source, item.source_key, f"{prefix}{item.entry['file']}", kms_key_id=kms_key_id)
        entries.append({**item.entry, "key": f"{prefix}{item.entry['file']}"})
    control_entries = []
    for item in controls:
        key = f"{prefix}{CONTROL_FOLDER}/{item.entry['file']}"
        raw.copy_from(item.source, item.source_key, key, kms_key_id=kms_key_id)
        control_entries.append({**item.entry, "key": key})
    version = int(previous.get("version", 1)) + 1
    manifest = {
        **{k: previous.get(k) for k in ("tenant_id", "dataflow", "batch_id", "first_arrival", "completion")},
        "snapshot_ts": ts,
        "created_at": now.isoformat(),
        "committed_by": redelivery.get("requested_by"),
        "last_arrival": max((e["last_modified"] for e in entries), default=previous.get("last_arrival")),
        "files": entries,
        "control_files": control_entries,
        "total_bytes": sum(e["size"] for e in entries),
        "total_rows": sum(e["rows"] for e in entries),
        "version": version,
        "supersedes": claim["snapshot_ts"],
        "redelivery": redelivery,
    }
    if not write_json(raw, manifest_key(batch, ts), manifest, if_absent=True):
        raise AirlockError(f"{batch.partition_key}: snapshot {ts} exists already; run the re-delivery again")
    history = [*claim.get("previous", []), claim["snapshot_ts"]]
    write_json(
        raw,
        marker_key(batch, SNAPSHOT_MARKER),
        {**claim, "snapshot_ts": ts, "created_at": now.isoformat(), "version": version, "previous": history},
    )
    return Snapshot(batch, ts, manifest, created=True)


def _next_ts(ts: str) -> str:
    """The snapshot time just after `ts` (a version made within the same microsecond still sorts after it)."""
    moment = datetime.strptime(ts, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
    return snapshot_ts(moment + timedelta(microseconds=1))
