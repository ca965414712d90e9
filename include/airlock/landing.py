"""The landing zone: which tenant, dataflow, batch and contract file a key belongs to.

Keys are `<tenant>/<dataflow>/<rest>`, and each tenant's contract reads `batch_id` and `file`
from `<rest>`. A key that fits nowhere becomes a `Rejection` with a reason, which the intake
turns into a quarantined file: nothing is silently skipped.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from airlock.storage import ObjectInfo
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
class Arrival:
    """A landed file that fits its tenant's contract (by name; contents are checked later)."""

    batch: BatchRef
    file: str
    contract: FileContract
    info: ObjectInfo

    @property
    def key(self) -> str:
        return self.info.key


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


def _unsafe(key: str) -> str | None:
    if key.startswith("/"):
        return "absolute key"
    if "\\" in key:
        return "backslash in key"
    if any(unicodedata.category(ch) == "Cc" for ch in key):
        return "control character in key"
    if any(part in ("", ".", "..") for part in key.split("/")):
        return "empty, '.' or '..' path segment"
    return None


def classify(info: ObjectInfo, registry: Registry) -> Arrival | Rejection:
    """Place one landed object in its tenant's contract, or say why it fits nowhere."""
    key = info.key
    if problem := _unsafe(key):
        return Rejection(info, Reason.UNSAFE_KEY, problem)
    parts = key.split("/", 2)
    tenant = registry.tenant(parts[0])
    if tenant is None:
        return Rejection(info, Reason.UNKNOWN_TENANT, f"no tenant {parts[0]!r} in the registry")
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
    batch_id, file = match.group("batch_id"), match.group("file")
    if not BATCH_ID.match(batch_id):
        return Rejection(
            info,
            Reason.INVALID_BATCH_ID,
            f"batch id {batch_id!r} must match {BATCH_ID.pattern}",
            tenant.tenant_id,
            parts[1],
        )
    spec = contract.contract_for(file)
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
    return Arrival(BatchRef(tenant.tenant_id, parts[1], batch_id), file, spec, info)


@dataclass
class BatchFiles:
    """What the landing zone holds for one batch right now."""

    batch: BatchRef
    arrivals: list[Arrival]
    rejections: list[Rejection]

    def missing_tables(self, required: Iterable[str]) -> list[str]:
        present = {a.contract.table for a in self.arrivals}
        return sorted(set(required) - present)

    @property
    def first_arrival(self) -> datetime | None:
        return min((a.info.last_modified for a in self.arrivals), default=None)

    @property
    def last_arrival(self) -> datetime | None:
        return max((a.info.last_modified for a in self.arrivals), default=None)


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
        elif result.batch_id is not None and result.tenant_id and result.dataflow:
            ref = BatchRef(result.tenant_id, result.dataflow, result.batch_id)
            batches.setdefault(ref, BatchFiles(ref, [], [])).rejections.append(result)
        else:
            loose.append(result)
    return batches, loose
