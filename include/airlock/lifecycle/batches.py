"""Which committed batches an operator's selection names, and where each one stands.

Read from the raw root's markers alone (one listing per tenant x dataflow, one `_DONE.json` read per
finished batch), as `airlock status` does: the same answer on every target, with no Airflow needed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from airlock.errors import AirlockError
from airlock.landing import BatchRef
from airlock.snapshot import DONE_MARKER, MANIFEST, RUN_MARKER, SNAPSHOT_MARKER, marker_key
from airlock.storage import Storage, read_json
from airlock.tenants import BATCH_ID, Registry

BatchState = Literal["snapshotted", "processing", "done", "failed"]


class SelectionError(AirlockError):
    """The selection names a tenant, dataflow or batch range that does not exist."""


@dataclass(frozen=True)
class BatchFilter:
    """Tenants, dataflows, batch ids and an inclusive batch-id range; empty means all of that kind.

    Batch ids sort as text (dates such as 20261120, sequence numbers with leading zeros), so a range is
    `first <= batch_id <= last` in that order.
    """

    tenants: tuple[str, ...] = ()
    dataflows: tuple[str, ...] = ()
    batch_ids: tuple[str, ...] = ()
    first: str | None = None
    last: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.tenants or self.dataflows or self.batch_ids or self.first or self.last)

    def pairs(self, registry: Registry) -> list[tuple[str, str]]:
        """The (tenant, dataflow) pairs selected; an unknown name is an error that lists the known ones."""
        unknown = [t for t in self.tenants if t not in registry.tenants]
        if unknown:
            known = ", ".join(sorted(registry.tenants)) or "none"
            raise SelectionError(f"no tenant {', '.join(unknown)} in the registry (known: {known})")
        flows = [d for d in self.dataflows if d not in registry.dataflows]
        if flows:
            raise SelectionError(f"no dataflow {', '.join(flows)} (known: {', '.join(sorted(registry.dataflows))})")
        for value in (*self.batch_ids, self.first, self.last):
            if value is not None and not BATCH_ID.match(value):
                raise SelectionError(f"batch id {value!r} must match {BATCH_ID.pattern}")
        if self.first and self.last and self.first > self.last:
            raise SelectionError(f"--from {self.first} is after --to {self.last}")
        tenants = self.tenants or tuple(sorted(registry.tenants))
        return [
            (tenant, flow)
            for tenant in tenants
            for flow in sorted(registry.tenants[tenant].dataflows)
            if not self.dataflows or flow in self.dataflows
        ]

    def wants(self, batch_id: str) -> bool:
        if self.batch_ids and batch_id not in self.batch_ids:
            return False
        return (self.first is None or batch_id >= self.first) and (self.last is None or batch_id <= self.last)


@dataclass(frozen=True)
class CommittedBatch:
    """A batch with a committed snapshot, and its latest attempt as the markers tell it."""

    batch: BatchRef
    snapshot_ts: str
    state: BatchState
    done: dict[str, Any]
    """`_DONE.json` (the latest finished attempt: status, attempt, content_hash, code_version), or {}."""
    run: dict[str, Any]
    """`_RUN.json` while an attempt runs (the latest started), else {}."""

    @property
    def attempt(self) -> int | None:
        value = (self.run or self.done).get("attempt")
        return value if isinstance(value, int) else None

    @property
    def run_id(self) -> str | None:
        return (self.run or self.done).get("run_id")


def _group(listing: Iterable[Any]) -> dict[str, dict[str, datetime]]:
    """batch id -> marker name -> last modified, from one listing of `<tenant>/<dataflow>/`."""
    found: dict[str, dict[str, datetime]] = {}
    for info in listing:
        parts = info.key.split("/")
        if len(parts) == 4 and parts[3] in (SNAPSHOT_MARKER, RUN_MARKER, DONE_MARKER):
            found.setdefault(parts[2], {})[parts[3]] = info.last_modified
        elif len(parts) == 5 and parts[4] == MANIFEST:
            found.setdefault(parts[2], {})[f"{parts[3]}/{MANIFEST}"] = info.last_modified
    return found


def committed_batches(registry: Registry, raw: Storage, selection: BatchFilter) -> list[CommittedBatch]:
    """Every committed batch the selection names, by tenant, dataflow and batch id."""
    out: list[CommittedBatch] = []
    for tenant, dataflow in selection.pairs(registry):
        markers = _group(raw.list(f"{tenant}/{dataflow}/"))
        for batch_id in sorted(markers):
            seen = markers[batch_id]
            if SNAPSHOT_MARKER not in seen or not selection.wants(batch_id):
                continue
            batch = BatchRef(tenant, dataflow, batch_id)
            claim = read_json(raw, marker_key(batch, SNAPSHOT_MARKER)) or {}
            ts = str(claim.get("snapshot_ts", ""))
            if f"{ts}/{MANIFEST}" not in seen:
                continue  # claimed, never committed: the intake finishes or recovers it
            run_at, done_at = seen.get(RUN_MARKER), seen.get(DONE_MARKER)
            done = (read_json(raw, marker_key(batch, DONE_MARKER)) or {}) if done_at else {}
            running = run_at is not None and (done_at is None or run_at > done_at)
            run = (read_json(raw, marker_key(batch, RUN_MARKER)) or {}) if running else {}
            if running:
                state: BatchState = "processing"
            elif done:
                state = "done" if done.get("status") == "success" else "failed"
            else:
                state = "snapshotted"
            out.append(CommittedBatch(batch, ts, state, done, run))
    return out
