"""What happens when files land: classify, quarantine, wait for completeness, validate, snapshot.

Both triggers go through here: the router (SQS hints, fast) and the reconcile sweep (lists the
landing zone, catches whatever the hints missed). Because the landing zone is the truth and every
step is idempotent, a lost, repeated or reordered hint changes nothing: the same batch evaluated
twice yields one snapshot and one `emit`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from airlock.events import ObjectHint
from airlock.landing import Arrival, BatchFiles, BatchRef, Reason, Rejection, classify, group_batches
from airlock.metrics import metrics
from airlock.quarantine import quarantine
from airlock.snapshot import (
    DONE_MARKER,
    RUN_MARKER,
    Snapshot,
    manifest_key,
    marker_key,
    read_claim,
    take_snapshot,
)
from airlock.storage import ObjectInfo, Storage, read_json
from airlock.tenants import Registry
from airlock.validation import FileFacts, FileProblem, check_file

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What evaluating one batch did. `emit` is True exactly once per batch (or on recovery)."""

    batch: BatchRef
    state: str  # waiting | late | snapshot_in_progress | snapshotted | already_snapshotted | re_emitted
    detail: str = ""
    emit: bool = False
    snapshot: Snapshot | None = None
    quarantined: list[str] = field(default_factory=list)


@dataclass
class IntakeReport:
    outcomes: list[Outcome] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)

    @property
    def partition_keys(self) -> list[str]:
        return sorted(o.batch.partition_key for o in self.outcomes if o.emit)

    def emitted(self, dataflow: str) -> list[str]:
        return sorted(o.batch.partition_key for o in self.outcomes if o.emit and o.batch.dataflow == dataflow)


class Intake:
    def __init__(
        self,
        registry: Registry,
        landing: Storage,
        raw: Storage,
        quarantine_store: Storage,
        *,
        snapshot_grace: timedelta = timedelta(minutes=5),
        now: datetime | None = None,
        owner: str | None = None,
    ) -> None:
        """`owner` names the task run doing the work (`<dag_id>/<run_id>`): see `_after_claim`."""
        self.registry = registry
        self.landing, self.raw, self.quarantine_store = landing, raw, quarantine_store
        self.snapshot_grace = snapshot_grace
        self._now = now
        self.owner = owner

    def now(self) -> datetime:
        return self._now or datetime.now(UTC)

    # -- entry points -------------------------------------------------------------------------
    def handle_hints(self, hints: Iterable[ObjectHint], bucket: str | None = None) -> IntakeReport:
        """Router path: look only at the batches the hints point to (the landing zone decides)."""
        report = IntakeReport()
        wanted: set[BatchRef] = set()
        for hint in dict.fromkeys(hints):
            if bucket is not None and hint.bucket != bucket:
                log.warning("ignoring a notification for bucket %r: the landing bucket is %r", hint.bucket, bucket)
                continue
            info = self.landing.head(hint.key) if "\x00" not in hint.key else None
            if info is None:
                log.info("hint for %r: not in the landing zone (already handled, or never landed)", hint.key)
                continue
            result = classify(info, self.registry)
            if isinstance(result, Arrival):
                ref = result.batch
            elif result.tenant_id and result.dataflow and result.batch_id:
                ref = BatchRef(result.tenant_id, result.dataflow, result.batch_id)
            else:
                report.quarantined.append(quarantine(result, self.landing, self.quarantine_store))
                continue
            wanted.add(ref)
            metrics.for_tenant(ref.tenant_id, ref.dataflow).file_arrived()
        for tenant, dataflow in sorted({(r.tenant_id, r.dataflow) for r in wanted}):
            self._evaluate_listing(self.landing.list(f"{tenant}/{dataflow}/"), report, only=wanted, recover=False)
        return report

    def sweep(self, tenant_ids: Iterable[str] | None = None) -> IntakeReport:
        """Reconcile path: evaluate every batch in the landing zone, and recover lost emissions."""
        report = IntakeReport()
        for tenant in tenant_ids if tenant_ids is not None else [""]:
            self._evaluate_listing(self.landing.list(f"{tenant}/" if tenant else ""), report, recover=True)
        return report

    # -- internals ----------------------------------------------------------------------------
    def _evaluate_listing(
        self,
        listing: Iterable[ObjectInfo],
        report: IntakeReport,
        *,
        recover: bool,
        only: set[BatchRef] | None = None,
    ) -> None:
        batches, loose = group_batches(listing, self.registry)
        for rejection in loose:
            report.quarantined.append(quarantine(rejection, self.landing, self.quarantine_store))
        for ref in sorted(batches):
            if only is not None and ref not in only:
                continue
            outcome = self.evaluate(batches[ref], recover=recover)
            report.outcomes.append(outcome)
            report.quarantined.extend(outcome.quarantined)

    def _quarantine_all(self, rejections: Iterable[Rejection], outcome: Outcome) -> None:
        for rejection in rejections:
            outcome.quarantined.append(quarantine(rejection, self.landing, self.quarantine_store))

    def evaluate(self, files: BatchFiles, *, recover: bool = False) -> Outcome:
        """Take one batch as far as it can go right now."""
        batch = files.batch
        claim = read_claim(self.raw, batch)
        if claim is not None:
            done = self._after_claim(files, claim, recover=recover)
            if done is not None:
                return done
        outcome = Outcome(batch, "waiting")
        self._quarantine_all(files.rejections, outcome)
        contract = self.registry.tenants[batch.tenant_id].dataflows[batch.dataflow]
        if missing := files.missing_tables(contract.required_tables):
            return self._waiting(files, missing, outcome)
        facts, good = self._validate(files, outcome)
        files = BatchFiles(batch, good, [])
        if missing := files.missing_tables(contract.required_tables):
            return self._waiting(files, missing, outcome)
        snap = take_snapshot(files, facts, self.landing, self.raw, now=self.now(), owner=self.owner)
        outcome.snapshot = snap
        if snap.created:
            outcome.state, outcome.emit = "snapshotted", True
            metrics.for_tenant(batch.tenant_id, batch.dataflow).batch_completed(snap.manifest["total_bytes"])
            log.info(
                "batch %s complete: snapshot %s (%d files, %d rows)",
                batch.partition_key,
                snap.prefix,
                len(snap.manifest["files"]),
                snap.manifest["total_rows"],
            )
        else:
            outcome.state = "already_snapshotted"
        return outcome

    def _after_claim(self, files: BatchFiles, claim: dict, *, recover: bool) -> Outcome | None:
        """A batch already claimed: quarantine late extras; maybe recover a lost emission.

        An emission is lost when the task that committed the snapshot dies before Airflow records
        its outlet events. Two ways back: a retry of that same task run (its owner name is in the
        claim and the manifest) resumes or re-emits at once; anyone else waits for the grace period
        and re-emits only if no processing run has started.
        """
        batch = files.batch
        manifest = read_json(self.raw, manifest_key(batch, claim["snapshot_ts"]))
        age = self.now() - datetime.fromisoformat(claim["created_at"])
        ours = self.owner is not None
        if manifest is None:
            if (ours and claim.get("claimed_by") == self.owner) or (recover and age > self.snapshot_grace):
                log.warning(
                    "snapshot of %s was claimed %s ago but never committed: resuming",
                    batch.partition_key,
                    age,
                )
                return None  # evaluate again; take_snapshot reuses the claimed snapshot_ts
            return Outcome(batch, "snapshot_in_progress", f"claimed {age} ago")
        outcome = Outcome(batch, "already_snapshotted")
        snapshotted = {f["landing_key"]: f for f in manifest["files"]}
        created = datetime.fromisoformat(manifest["created_at"])
        late = [
            Rejection(
                a.info,
                Reason.AFTER_SNAPSHOT,
                f"arrived after batch {batch.batch_id} was snapshotted at {manifest['snapshot_ts']}",
                batch.tenant_id,
                batch.dataflow,
                batch.batch_id,
            )
            for a in files.arrivals
            if a.key not in snapshotted or a.info.last_modified > created
        ]
        self._quarantine_all([*files.rejections, *late], outcome)
        retry = ours and manifest.get("committed_by") == self.owner
        if (retry or (recover and age > self.snapshot_grace)) and not self._processing_started(batch):
            outcome.state, outcome.emit = "re_emitted", True
            outcome.detail = (
                "committed by an earlier try of this run: emitting again"
                if retry
                else f"snapshotted {age} ago and never picked up: emitting again"
            )
            log.warning("batch %s: %s", batch.partition_key, outcome.detail)
        return outcome

    def _processing_started(self, batch: BatchRef) -> bool:
        return any(self.raw.exists(marker_key(batch, m)) for m in (RUN_MARKER, DONE_MARKER))

    def _validate(self, files: BatchFiles, outcome: Outcome) -> tuple[dict[str, FileFacts], list[Arrival]]:
        facts: dict[str, FileFacts] = {}
        good: list[Arrival] = []
        batch = files.batch
        for arrival in files.arrivals:
            columns = self.registry.columns(batch.tenant_id, batch.dataflow, arrival.contract.table)
            if arrival.info.size > int(arrival.contract.max_bytes):
                result: FileFacts | FileProblem = FileProblem(
                    Reason.OVERSIZE,
                    f"{arrival.info.size} bytes > max_bytes {int(arrival.contract.max_bytes)}",
                )
            elif arrival.info.size == 0:
                result = FileProblem(Reason.EMPTY, "the file has zero bytes")
            else:
                with self.landing.open_read(arrival.key) as stream:
                    result = check_file(stream, arrival.contract, columns)
            if isinstance(result, FileProblem):
                rejection = Rejection(
                    arrival.info,
                    result.reason,
                    result.detail,
                    batch.tenant_id,
                    batch.dataflow,
                    batch.batch_id,
                )
                self._quarantine_all([rejection], outcome)
            else:
                facts[arrival.key] = result
                good.append(arrival)
        return facts, good

    def _waiting(self, files: BatchFiles, missing: list[str], outcome: Outcome) -> Outcome:
        contract = self.registry.tenants[files.batch.tenant_id].dataflows[files.batch.dataflow]
        first = files.first_arrival or min((r.info.last_modified for r in files.rejections), default=None)
        outcome.detail = f"waiting for {missing}"
        if first is not None and self.now() - first > contract.deadline:
            outcome.state = "late"
            outcome.detail = (
                f"late: {missing} still missing {self.now() - first} after the first file "
                f"(deadline {contract.deadline})"
            )
            log.warning("batch %s is %s", files.batch.partition_key, outcome.detail)
        return outcome
