"""The landing zone: which tenant, dataflow, batch and contract file a key belongs to.

Keys are `<tenant>/<dataflow>/<rest>`, and each tenant's contract reads `batch_id` and `file`
from `<rest>`. A key that fits nowhere becomes a `Rejection` with a reason, which the intake
turns into a quarantined file: nothing is silently skipped.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from airlock.storage import MAX_KEY_BYTES, ObjectInfo, key_problem
from airlock.tenants import BATCH_ID, FileContract, Registry


class Reason(StrEnum):
    """Why a file went to quarantine; the folder name under quarantine/<tenant>/."""

    UNSAFE_KEY = "unsafe_key"
    UNKNOWN_TENANT = "unknown_tenant"
    UNKNOWN_DATAFLOW = "unknown_dataflow"
    UNMATCHED_KEY = "unmatched_key"
    INVALID_BATCH_ID = "invalid_batch_id"
    EMPTY = "empty"
    OVERSIZE = "oversize"
    UNDECODABLE = "undecodable"
    WRONG_FORMAT = "wrong_format"
    WRONG_COLUMNS = "wrong_columns"
    AFTER_SNAPSHOT = "after_snapshot"
    NOT_IN_MANIFEST = "not_in_manifest"
    CHECKSUM_MISMATCH = "checksum_mismatch"
    BAD_CONTROL_FILE = "bad_control_file"


@dataclass(frozen=True, order=True)
class BatchRef:
    tenant_id: str
    dataflow: str
    batch_id: str

    @property
    def partition_key(self) -> str:
        return f"{self.tenant_id}|{self.batch_id}"

    @property
    def raw_prefix(self) -> str:
        return f"{self.tenant_id}/{self.dataflow}/{self.batch_id}/"


@dataclass(frozen=True)
class Landed:
    """A landed object placed in a batch of its tenant's contract."""

    batch: BatchRef
    file: str
    info: ObjectInfo

    @property
    def key(self) -> str:
        return self.info.key


@dataclass(frozen=True)
class Arrival(Landed):
    """A landed file that fits its tenant's contract (by name; contents are checked later)."""

    contract: FileContract


@dataclass(frozen=True)
class ControlFile(Landed):
    """The batch's control file (`_SUCCESS` or a manifest), under the control_file completion rule."""


@dataclass(frozen=True)
class Rejection:
    """A landed file that breaks the contract, and why."""

    info: ObjectInfo
    reason: Reason
    detail: str
    tenant_id: str | None = None
    dataflow: str | None = None
    batch_id: str | None = None

    @property
    def key(self) -> str:
        return self.info.key


MAX_LANDING_KEY_BYTES = MAX_KEY_BYTES - 64
"""Room for the snapshot's `<snapshot_ts>/` and the quarantine's `<tenant>/<reason>/` under S3's limit."""


def _unsafe(key: str) -> str | None:
    if problem := key_problem(key):
        return problem
    if (size := len(key.encode("utf-8"))) > MAX_LANDING_KEY_BYTES:
        return f"the key is {size} bytes; at most {MAX_LANDING_KEY_BYTES} leave room for the snapshot's path"
    if key.startswith("/"):
        return "a leading '/': the key is outside every tenant's prefix"
    if "\\" in key:
        return "backslash in key"
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in key):
        return "control character in key"
    if key.endswith("/"):
        return "a folder marker (the key ends in '/'), not a file"
    if any(part in ("", ".", "..") for part in key.split("/")):
        return "empty, '.' or '..' path segment"
    return None


def _unknown_tenant(info: ObjectInfo, registry: Registry) -> Rejection:
    first, slash, _ = info.key.partition("/")
    if not slash:
        return Rejection(info, Reason.UNKNOWN_TENANT, "at the root, not under a tenant's prefix (<tenant>/...)")
    detail = f"no tenant {first!r} in the registry"
    if (near := first.strip().lower()) in registry.tenants:
        detail += f"; prefixes are exact: did the tenant mean {near!r}?"
    return Rejection(info, Reason.UNKNOWN_TENANT, detail)


def tenant_prefix(key: str) -> str:
    """The first-level prefix a key sits under (`acme/`; '' for a key at the root)."""
    first, slash, _ = key.partition("/")
    return first + slash if slash else ""


def classify(info: ObjectInfo, registry: Registry) -> Arrival | ControlFile | Rejection:
    """Place one landed object in its tenant's contract, or say why it fits nowhere.

    A key is a tenant's only if it starts exactly with `<tenant_id>/`: `Acme/...`, ` acme/...` and
    `/acme/...` are no tenant's and are quarantined, never mapped to one. Callers never pass keys of
    a disabled tenant (`Registry.disabled`): those wait in landing, untouched.
    """
    key = info.key
    if problem := _unsafe(key):
        return Rejection(info, Reason.UNSAFE_KEY, problem)
    parts = key.split("/", 2)
    tenant = registry.tenant(parts[0]) if len(parts) > 1 else None
    if tenant is None:
        return _unknown_tenant(info, registry)
    if len(parts) < 3:
        return Rejection(info, Reason.UNMATCHED_KEY, "expected <tenant>/<dataflow>/<batch>/<file>", parts[0])
    contract = tenant.dataflows.get(parts[1])
    if contract is None:
        return Rejection(
            info,
            Reason.UNKNOWN_DATAFLOW,
            f"tenant {tenant.tenant_id} has no dataflow {parts[1]!r}",
            tenant.tenant_id,
        )
    match = contract.key_regex.match(parts[2])
    if match is None:
        return Rejection(
            info,
            Reason.UNMATCHED_KEY,
            f"{parts[2]!r} does not match {contract.key_pattern!r}",
            tenant.tenant_id,
            parts[1],
        )
    batch_id, file = match.group("batch_id") or "", match.group("file") or ""
    if not BATCH_ID.match(batch_id):
        return Rejection(
            info,
            Reason.INVALID_BATCH_ID,
            f"batch id {batch_id!r} must match {BATCH_ID.pattern}",
            tenant.tenant_id,
            parts[1],
        )
    batch = BatchRef(tenant.tenant_id, parts[1], batch_id)
    if contract.is_control_file(file):
        return ControlFile(batch, file, info)
    spec = contract.contract_for(file) if file and "/" not in file else None
    if spec is None:
        patterns = [f.pattern for f in contract.files]
        return Rejection(
            info,
            Reason.UNMATCHED_KEY,
            f"file {file!r} matches none of {patterns}",
            tenant.tenant_id,
            parts[1],
            batch_id,
        )
    return Arrival(batch, file, info, spec)


@dataclass
class BatchFiles:
    """What the landing zone holds for one batch right now."""

    batch: BatchRef
    arrivals: list[Arrival]
    rejections: list[Rejection]
    controls: list[ControlFile] = field(default_factory=list)

    def missing_tables(self, required: Iterable[str]) -> list[str]:
        present = {a.contract.table for a in self.arrivals}
        return sorted(set(required) - present)

    def counts(self) -> dict[str, int]:
        """Files present per table."""
        found: dict[str, int] = {}
        for arrival in self.arrivals:
            found[arrival.contract.table] = found.get(arrival.contract.table, 0) + 1
        return found

    @property
    def objects(self) -> list[ObjectInfo]:
        """Everything of this batch in landing: files, control files, and files that break the contract."""
        return [x.info for x in (*self.arrivals, *self.controls, *self.rejections)]

    @property
    def first_arrival(self) -> datetime | None:
        return min((a.info.last_modified for a in self.arrivals), default=None)

    @property
    def last_arrival(self) -> datetime | None:
        return max((a.info.last_modified for a in self.arrivals), default=None)

    @property
    def last_activity(self) -> datetime | None:
        """The newest object of the batch, whatever it is: any upload restarts a settle window."""
        return max((o.last_modified for o in self.objects), default=None)

    def without(self, keys: Iterable[str]) -> BatchFiles:
        gone = set(keys)
        return BatchFiles(
            self.batch,
            [a for a in self.arrivals if a.key not in gone],
            [r for r in self.rejections if r.key not in gone],
            [c for c in self.controls if c.key not in gone],
        )


def group_batches(
    objects: Iterable[ObjectInfo], registry: Registry
) -> tuple[dict[BatchRef, BatchFiles], list[Rejection]]:
    """Classify a listing: per-batch files, plus rejections that belong to no batch."""
    batches: dict[BatchRef, BatchFiles] = {}
    loose: list[Rejection] = []
    for info in objects:
        result = classify(info, registry)
        if isinstance(result, Arrival):
            batches.setdefault(result.batch, BatchFiles(result.batch, [], [])).arrivals.append(result)
        elif isinstance(result, ControlFile):
            batches.setdefault(result.batch, BatchFiles(result.batch, [], [])).controls.append(result)
        elif result.batch_id is not None and result.tenant_id and result.dataflow:
            ref = BatchRef(result.tenant_id, result.dataflow, result.batch_id)
            batches.setdefault(ref, BatchFiles(ref, [], [])).rejections.append(result)
        else:
            loose.append(result)
    return batches, loose
