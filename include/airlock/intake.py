"""What happens when files land: classify, quarantine, wait for completeness, validate, snapshot.

Both triggers go through here: the router (SQS hints, fast) and the reconcile sweep (lists the
landing zone, catches whatever the hints missed). Because the landing zone is the truth and every
step is idempotent, a lost, repeated or reordered hint changes nothing: the same batch evaluated
twice yields one snapshot and one `emit`.

Three promises shape the code:
- one tenant's trouble is its own: every tenant (and every batch) is evaluated in its own
  `_isolated` block; an exception is logged, counted (`airlock.intake.errors`) and reported, and
  the others go on;
- nothing unseen: every landing object ends snapshotted or quarantined with a reason, whatever
  its prefix (`sweep(unknown_prefixes=True)` covers prefixes of no tenant);
- a sweep costs what is new: a batch's landing files are deleted once its processing run has
  claimed it (the snapshot holds them), so landing holds only what is in flight.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from airlock.completion import ControlFileError, ControlManifest, Verdict, assess, parse_control_manifest, settle_wait
from airlock.errors import AirlockError, StorageError
from airlock.events import ObjectHint
from airlock.landing import (
    Arrival,
    BatchFiles,
    BatchRef,
    Landed,
    Reason,
    Rejection,
    classify,
    group_batches,
    tenant_prefix,
)
from airlock.metrics import metrics
from airlock.quarantine import quarantine
from airlock.snapshot import (
    DONE_MARKER,
    EMITTED_MARKER,
    RUN_MARKER,
    Snapshot,
    is_snapshotted,
    manifest_key,
    marker_key,
    read_claim,
    snapshotted_objects,
    take_snapshot,
)
from airlock.storage import ObjectInfo, Storage, read_json, write_json
from airlock.tenants import DataflowContract, Registry
from airlock.validation import FileFacts, FileProblem, check_file

log = logging.getLogger(__name__)

UNKNOWN = "_unknown"
"""The pseudo-tenant of landing objects under no registered tenant's prefix."""
ALL_DATAFLOWS = "_all"
"""The dataflow tag of a failure that concerns a whole tenant (its listing, its registry file)."""


class IntakeFailed(AirlockError):
    """Tenants failed and nothing was emitted: the run fails, so Airflow shows it and retries."""


def unknown_prefix_sweep_due(now: datetime, every: timedelta, interval: timedelta) -> bool:
    """Whether this sweep also covers prefixes of no tenant: the first sweep of each `every` window.

    Stateless (no marker to keep): with sweeps `interval` apart, about one in every/interval does it.
    """
    if every <= interval:
        return True
    return now.timestamp() % every.total_seconds() < interval.total_seconds()


class EmissionLedger(Protocol):
    """Airflow's answer to "was an event for this batch recorded since `since`?" (None: cannot tell)."""

    def emitted(self, batch: BatchRef, since: datetime) -> bool | None: ...


@dataclass
class Outcome:
    """What evaluating one batch did. `emit` is True exactly once per batch (or on recovery)."""

    batch: BatchRef
    state: str
    """waiting, settling, late, snapshot_in_progress, snapshotted, already_snapshotted, re_emitted, handed_over"""
    detail: str = ""
    emit: bool = False
    snapshot: Snapshot | None = None
    quarantined: list[str] = field(default_factory=list)
    after_snapshot: list[str] = field(default_factory=list)
    """Landing keys of files that arrived after the batch's snapshot (quarantined, alerted)."""
    recheck_at: datetime | None = None


@dataclass(frozen=True)
class TenantFailure:
    """An exception while handling one tenant (or batch): it stopped that tenant only."""

    tenant_id: str
    stage: str
    error: str
    dataflow: str = ALL_DATAFLOWS
    batch_id: str | None = None


@dataclass
class IntakeReport:
    outcomes: list[Outcome] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    failures: list[TenantFailure] = field(default_factory=list)
    disabled: dict[str, int] = field(default_factory=dict)
    """Disabled tenants -> how many of their landing objects wait untouched (sweep) or hints skipped (router)."""
    skipped_hints: list[str] = field(default_factory=list)
    settling: dict[BatchRef, datetime] = field(default_factory=dict)
    """Batches the router saw settling -> when they complete if nothing else arrives (`Intake.settle`'s input)."""

    @property
    def partition_keys(self) -> list[str]:
        return sorted(o.batch.partition_key for o in self.outcomes if o.emit)

    def emitted(self, dataflow: str) -> list[str]:
        return sorted(o.batch.partition_key for o in self.outcomes if o.emit and o.batch.dataflow == dataflow)

    @property
    def after_snapshot(self) -> list[str]:
        return sorted(k for o in self.outcomes for k in o.after_snapshot)


class Intake:
    def __init__(
        self,
        registry: Registry,
        landing: Storage,
        raw: Storage,
        quarantine_store: Storage,
        *,
        snapshot_grace: timedelta = timedelta(minutes=5),
        emit_ttl: timedelta = timedelta(minutes=30),
        settle_wait: timedelta = timedelta(0),
        now: datetime | None = None,
        owner: str | None = None,
        ledger: EmissionLedger | None = None,
        sleep: Callable[[float], None] = time.sleep,
        tenant_key: Callable[[str], str | None] | None = None,
        stopped: frozenset[str] = frozenset(),
    ) -> None:
        """`owner` names the task run doing the work (`<dag_id>/<run_id>`): see `_after_claim`.

        `ledger` asks Airflow whether a batch's event was recorded (one batch, one run); without
        it, `_EMITTED.json` younger than `emit_ttl` stands for "maybe". `settle_wait` is how long
        the router may wait in-task for a settling batch rather than leave it to the next sweep.
        """
        self.registry = registry
        self.landing, self.raw, self.quarantine_store = landing, raw, quarantine_store
        self.snapshot_grace = snapshot_grace
        self.emit_ttl = emit_ttl
        self.settle_wait = settle_wait
        self._now = now
        self.owner = owner
        self.ledger = ledger
        self._sleep = sleep
        # The tenant's own KMS key for its snapshot files (None: the raw bucket's default key).
        self.tenant_key = tenant_key or (lambda _tenant: None)
        # Tenants being offboarded (airlock tenant offboard): like disabled ones, their files wait untouched.
        self.stopped = stopped

    def now(self) -> datetime:
        return self._now or datetime.now(UTC)

    # -- entry points -------------------------------------------------------------------------
    def handle_hints(self, hints: Iterable[ObjectHint]) -> IntakeReport:
        """Router path: look only at the batches the hints point to (the landing zone decides)."""
        report = IntakeReport()
        by_tenant: dict[str, list[str]] = {}
        for hint in dict.fromkeys(hints):
            key = self._hint_key(hint, report)
            if key is not None:
                tenant = tenant_prefix(key)[:-1]
                by_tenant.setdefault(tenant if tenant in self.registry.tenants else UNKNOWN, []).append(key)
        for tenant_id, keys in sorted(by_tenant.items()):
            with self._isolated(report, tenant_id, "router"):
                wanted = self._heads(tenant_id, keys, report)
                for ref in sorted(wanted):
                    outcome = self._evaluate_one(ref, report, recover=False)
                    if outcome is not None and outcome.recheck_at is not None:
                        report.settling[ref] = outcome.recheck_at
        if report.settling and not report.partition_keys:
            self.settle(report.settling, report)
        return report

    def settle(self, settling: dict[BatchRef, datetime], report: IntakeReport | None = None) -> IntakeReport:
        """Wait for batches whose settle window ends within `settle_wait`, then evaluate them again.

        The router waits only when it has nothing else to emit: outlet events leave a task when it
        ends, so a wait would hold back every batch of the run that was complete at once. A settling
        batch left behind, or one whose window is longer, is completed by the next sweep. Waiting
        here for short windows saves up to one sweep interval of latency for a run's only batch.
        """
        report = report if report is not None else IntakeReport()
        deadline = time.monotonic() + self.settle_wait.total_seconds()
        while settling:
            now = self.now()
            waits = {
                ref: s for ref, at in settling.items()
                if (s := settle_wait(at, now, self.settle_wait)) is not None
            }  # fmt: skip
            if not waits:
                break
            pause = min(waits.values()) + 0.05
            if time.monotonic() + pause > deadline:
                break
            log.info("waiting %.1fs for %d settling batch(es)", pause, len(waits))
            self._sleep(pause)
            if self._now is not None:  # a test clock: move it along
                self._now += timedelta(seconds=pause)
            settling = {}
            for ref in sorted(waits):
                with self._isolated(report, ref.tenant_id, "router", ref):
                    outcome = self._evaluate_one(ref, report, recover=False)
                    if outcome is not None and outcome.recheck_at is not None:
                        settling[ref] = outcome.recheck_at
        report.settling = settling
        return report

    def sweep(self, tenant_ids: Iterable[str] | None = None, *, unknown_prefixes: bool = False) -> IntakeReport:
        """Reconcile path: evaluate every batch of every (or the given) tenant, and recover lost emissions.

        With `unknown_prefixes`, also quarantine whatever sits under no registered tenant's prefix
        (`nobody/`, `Acme/`, `/acme/`, a root-level object): the slower part of the sweep.
        """
        report = IntakeReport()
        wanted = sorted(self.registry.tenants) if tenant_ids is None else sorted(tenant_ids)
        for tenant_id in wanted:
            if tenant_id in self.registry.disabled or tenant_id in self.stopped:
                continue
            if tenant_id not in self.registry.tenants:
                log.warning("sweep: no tenant %r in the registry; skipped", tenant_id)
                continue
            with self._isolated(report, tenant_id, "sweep"):
                self._evaluate_listing(self.landing.list(f"{tenant_id}/"), report, recover=True)
        self._note_disabled(report)
        if unknown_prefixes:
            self._sweep_unknown(report)
        return report

    # -- hints --------------------------------------------------------------------------------
    def _hint_key(self, hint: ObjectHint, report: IntakeReport) -> str | None:
        key = self.landing.locate(hint.bucket, hint.key)
        if key is None:
            log.warning("ignoring a hint for %r in bucket %r: outside the landing zone %s", hint.key, hint.bucket,
                        self.landing.url)  # fmt: skip
            report.skipped_hints.append(hint.key)
            return None
        if problem := self.landing.unaddressable(key):
            # e.g. an empty or absolute key against a folder landing zone: no such file can exist there
            log.warning("ignoring a hint for %r: %s (the sweep sees every real object)", key, problem)
            report.skipped_hints.append(key)
            return None
        tenant = tenant_prefix(key)[:-1]
        if tenant in self.stopped or tenant in self.registry.offboarded:
            log.info("hint for %r: tenant %s is offboarding or offboarded; intake is stopped", key, tenant)
            return None
        if tenant in self.registry.disabled:
            log.warning("hint for %r: tenant %s is disabled (invalid tenant file); the file waits", key, tenant)
            report.disabled[tenant] = report.disabled.get(tenant, 0) + 1
            return None
        return key

    def _heads(self, tenant_id: str, keys: list[str], report: IntakeReport) -> set[BatchRef]:
        """Look each hinted key up; quarantine what fits no batch; return the batches to evaluate."""
        wanted: set[BatchRef] = set()
        for key in keys:
            info = self.landing.head(key)
            if info is None:
                log.info("hint for %r: not in the landing zone (already handled, or never landed)", key)
                continue
            result = classify(info, self.registry)
            if isinstance(result, Landed):
                ref = result.batch
            elif result.tenant_id and result.dataflow and result.batch_id:
                ref = BatchRef(result.tenant_id, result.dataflow, result.batch_id)
            else:
                report.quarantined.append(quarantine(result, self.landing, self.quarantine_store))
                continue
            wanted.add(ref)
            metrics.for_tenant(ref.tenant_id, ref.dataflow).file_arrived()
        return wanted

    def _batch_listing(self, ref: BatchRef) -> Iterator[ObjectInfo]:
        """The landing objects that may belong to one batch: its own folder when the key pattern starts with it."""
        contract = self.registry.tenants[ref.tenant_id].dataflows[ref.dataflow]
        base = f"{ref.tenant_id}/{ref.dataflow}/"
        if contract.key_pattern.startswith("^(?P<batch_id>"):
            return self.landing.list(f"{base}{ref.batch_id}")
        return self.landing.list(base)

    def _evaluate_one(self, ref: BatchRef, report: IntakeReport, *, recover: bool) -> Outcome | None:
        batches, loose = group_batches(self._batch_listing(ref), self.registry)
        for rejection in loose:
            if rejection.tenant_id == ref.tenant_id:
                report.quarantined.append(quarantine(rejection, self.landing, self.quarantine_store))
        files = batches.get(ref)
        if files is None:
            return None
        return self._evaluate_isolated(files, report, recover=recover)

    # -- sweeps -------------------------------------------------------------------------------
    def _note_disabled(self, report: IntakeReport) -> None:
        """Say, every sweep, which tenants are disabled and how many of their files wait (nothing is touched)."""
        for tenant_id, error in sorted(self.registry.disabled.items()):
            metrics.for_tenant(tenant_id, ALL_DATAFLOWS).intake_failed("registry")
            with self._isolated(report, tenant_id, "disabled"):
                report.disabled[tenant_id] = sum(1 for _ in self.landing.list(f"{tenant_id}/"))
                log.error(
                    "tenant %s is disabled (invalid tenant file); %d landing file(s) wait untouched until it is "
                    "fixed:\n%s",
                    tenant_id,
                    report.disabled[tenant_id],
                    error,
                )

    def _sweep_unknown(self, report: IntakeReport) -> None:
        """Quarantine everything under a prefix no tenant owns: `_unknown/<reason>/<flattened key>`."""
        with self._isolated(report, UNKNOWN, "unknown_prefixes"):
            prefixes, root_objects = self.landing.top_level()
            owned = set(self.registry.tenants) | set(self.registry.disabled) | self.registry.offboarded
            strays: Iterable[ObjectInfo] = root_objects
            for prefix in prefixes:
                if prefix[:-1] not in owned:
                    with self._isolated(report, UNKNOWN, "unknown_prefixes"):
                        self._quarantine_listing(self.landing.list(prefix), report)
            self._quarantine_listing(strays, report)

    def _quarantine_listing(self, listing: Iterable[ObjectInfo], report: IntakeReport) -> None:
        for info in listing:
            result = classify(info, self.registry)
            if isinstance(result, Rejection):
                report.quarantined.append(quarantine(result, self.landing, self.quarantine_store))

    # -- internals ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _isolated(
        self, report: IntakeReport, tenant_id: str, stage: str, batch: BatchRef | None = None
    ) -> Iterator[None]:
        """Contain an exception to one tenant (or batch): log it, count it, report it, go on."""
        try:
            yield
        except Exception as exc:
            dataflow = batch.dataflow if batch else ALL_DATAFLOWS
            failure = TenantFailure(tenant_id, stage, f"{type(exc).__name__}: {exc}", dataflow,
                                    batch.batch_id if batch else None)  # fmt: skip
            report.failures.append(failure)
            where = f"batch {batch.partition_key} ({batch.dataflow})" if batch else f"tenant {tenant_id}"
            log.exception("%s failed during %s; the other tenants go on", where, stage)
            metrics.for_tenant(tenant_id, dataflow).intake_failed(stage)

    def _evaluate_listing(self, listing: Iterable[ObjectInfo], report: IntakeReport, *, recover: bool) -> None:
        batches, loose = group_batches(listing, self.registry)
        for rejection in loose:
            report.quarantined.append(quarantine(rejection, self.landing, self.quarantine_store))
        for ref in sorted(batches):
            self._evaluate_isolated(batches[ref], report, recover=recover)

    def _evaluate_isolated(self, files: BatchFiles, report: IntakeReport, *, recover: bool) -> Outcome | None:
        with self._isolated(report, files.batch.tenant_id, "evaluate", files.batch):
            outcome = self.evaluate(files, recover=recover)
            report.outcomes.append(outcome)
            report.quarantined.extend(outcome.quarantined)
            return outcome
        return None

    def _quarantine_all(self, rejections: Iterable[Rejection], outcome: Outcome) -> None:
        for rejection in rejections:
            outcome.quarantined.append(quarantine(rejection, self.landing, self.quarantine_store))

    def _contract(self, batch: BatchRef) -> DataflowContract:
        return self.registry.tenants[batch.tenant_id].dataflows[batch.dataflow]

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
        files = BatchFiles(batch, files.arrivals, [], files.controls)
        contract = self._contract(batch)
        control, files = self._read_control(files, contract, outcome)
        verdict = assess(files, contract, self.now(), control=control)
        if not verdict.complete:
            return self._waiting(files, verdict, outcome)
        if verdict.listed is not None:  # a control manifest: the batch is exactly the files it lists
            unlisted = [a for a in files.arrivals if a.file not in verdict.listed]
            self._quarantine_all([self._reject(a, Reason.NOT_IN_MANIFEST, "not listed in the control manifest")
                                  for a in unlisted], outcome)  # fmt: skip
            files = files.without(a.key for a in unlisted)
        facts, files = self._validate(files, outcome, verdict.listed)
        verdict = assess(files, contract, self.now(), control=control)
        if not verdict.complete:
            return self._waiting(files, verdict, outcome)
        snap = take_snapshot(files, facts, self.landing, self.raw, now=self.now(), owner=self.owner,
                             completion=verdict.detail, kms_key_id=self.tenant_key(batch.tenant_id))  # fmt: skip
        outcome.snapshot = snap
        if snap.created:
            outcome.state, outcome.detail = "snapshotted", verdict.detail
            self._mark_emitted(outcome)
            metrics.for_tenant(batch.tenant_id, batch.dataflow).batch_completed(snap.manifest["total_bytes"])
            log.info(
                "batch %s complete (%s): snapshot %s (%d files, %d rows)",
                batch.partition_key,
                verdict.detail,
                snap.prefix,
                len(snap.manifest["files"]),
                snap.manifest["total_rows"],
            )
        else:
            outcome.state = "already_snapshotted"
        return outcome

    @staticmethod
    def _reject(item: Landed, reason: Reason, detail: str) -> Rejection:
        batch = item.batch
        return Rejection(item.info, reason, detail, batch.tenant_id, batch.dataflow, batch.batch_id)

    def _read_control(
        self, files: BatchFiles, contract: DataflowContract, outcome: Outcome
    ) -> tuple[ControlManifest | None, BatchFiles]:
        """Under `control_file` with `manifest: true`, read and parse the control file; quarantine a bad one."""
        if not (contract.completion.manifest and files.controls):
            return None, files
        control = files.controls[0]
        try:
            manifest = parse_control_manifest(self.landing.read_bytes(control.key))
        except ControlFileError as exc:
            self._quarantine_all([self._reject(control, Reason.BAD_CONTROL_FILE, str(exc))], outcome)
            return None, files.without([control.key])
        return manifest, files

    def _mark_emitted(self, outcome: Outcome) -> None:
        """Emit, and note it in `_EMITTED.json`: where Airflow cannot be asked, the note means "emitted lately"."""
        outcome.emit = True
        note = {"partition_key": outcome.batch.partition_key, "emitted_at": self.now().isoformat(), "by": self.owner}
        try:
            write_json(self.raw, marker_key(outcome.batch, EMITTED_MARKER), note)
        except StorageError as exc:  # the emission matters more than its note
            log.warning("batch %s: could not write %s: %s", outcome.batch.partition_key, EMITTED_MARKER, exc)

    def _after_claim(self, files: BatchFiles, claim: dict, *, recover: bool) -> Outcome | None:
        """A batch already claimed: quarantine late files, hand over, or maybe recover a lost emission.

        An emission is lost when the task that committed the snapshot dies before Airflow records
        its outlet events. Two ways back: a retry of that same task run (its owner name is in the
        claim and the manifest) resumes or re-emits at once; anyone else waits for the grace period.
        Either re-emits only if no processing run has started and Airflow recorded no event for the
        batch (the ledger; without one, no emission noted within `emit_ttl`): a backlog of queued
        runs never multiplies them.
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
        entries = snapshotted_objects(manifest)
        items: list[Landed] = [*files.arrivals, *files.controls]
        late = [i for i in items if not is_snapshotted(i.info, entries.get(i.key))]
        handled = [i for i in items if is_snapshotted(i.info, entries.get(i.key))]
        self._quarantine_all(files.rejections, outcome)
        self._after_snapshot(late, manifest, outcome)
        if self._processing_started(batch):
            self._hand_over(handled, outcome)
            return outcome
        retry = ours and manifest.get("committed_by") == self.owner
        if (retry or (recover and age > self.snapshot_grace)) and self._may_emit_again(batch, manifest, retry):
            outcome.state = "re_emitted"
            outcome.detail = (
                "committed by an earlier try of this run: emitting again"
                if retry
                else f"snapshotted {age} ago and never picked up: emitting again"
            )
            self._mark_emitted(outcome)
            log.warning("batch %s: %s", batch.partition_key, outcome.detail)
        return outcome

    def _after_snapshot(self, late: list[Landed], manifest: dict, outcome: Outcome) -> None:
        """Files of a batch that landed after its snapshot: quarantined, alerted, shown by `airlock status`."""
        batch = outcome.batch
        detail = (
            f"arrived after batch {batch.batch_id} was snapshotted at {manifest['snapshot_ts']} "
            f"({manifest.get('completion') or 'complete'}); the batch was processed without it. "
            "Re-delivery is an operator's decision."
        )
        self._quarantine_all([self._reject(item, Reason.AFTER_SNAPSHOT, detail) for item in late], outcome)
        outcome.after_snapshot = [item.key for item in late]
        if late:
            log.error("batch %s is incomplete-delivered: %s %s", batch.partition_key, outcome.after_snapshot, detail)

    def _hand_over(self, handled: list[Landed], outcome: Outcome) -> None:
        """Processing has claimed the batch: its landing files live on in the snapshot, so they leave landing.

        Only the very versions the manifest recorded are deleted (conditional on their ETag): a
        file re-uploaded meanwhile stays and is judged as a late file.
        """
        outcome.state = "handed_over"
        removed = sum(1 for item in handled if self.landing.delete(item.key, if_etag=item.info.etag))
        outcome.detail = f"processing started; {removed} landing file(s) handed over to the snapshot"
        log.info("batch %s: %s", outcome.batch.partition_key, outcome.detail)

    def _may_emit_again(self, batch: BatchRef, manifest: dict, retry: bool) -> bool:
        """No event for the batch in Airflow; or, where Airflow cannot be asked, no emission noted lately.

        A retry of the committing run re-emits unless Airflow says the event exists: its earlier
        try failed, and a failed task's outlet events are never recorded.
        """
        since = datetime.fromisoformat(manifest["created_at"]) - timedelta(minutes=1)
        if self.ledger is not None:
            recorded = self.ledger.emitted(batch, since)
            if recorded is not None:
                if recorded:
                    log.info("batch %s: Airflow recorded its event; its run exists or is queued", batch.partition_key)
                return not recorded
        if retry:
            return True
        note = read_json(self.raw, marker_key(batch, EMITTED_MARKER))
        if note is None:
            return True
        try:
            emitted_at = datetime.fromisoformat(str(note.get("emitted_at")))
        except ValueError:
            return True
        return self.now() - emitted_at > self.emit_ttl

    def _processing_started(self, batch: BatchRef) -> bool:
        return any(self.raw.exists(marker_key(batch, m)) for m in (RUN_MARKER, DONE_MARKER))

    def _validate(
        self, files: BatchFiles, outcome: Outcome, checksums: dict[str, str | None] | None
    ) -> tuple[dict[str, FileFacts], BatchFiles]:
        """Check every file's contents (and, with a control manifest, its sha256); quarantine the bad ones."""
        facts: dict[str, FileFacts] = {}
        bad: list[Rejection] = []
        batch = files.batch
        for arrival in files.arrivals:
            result = self._check(arrival)
            expected = (checksums or {}).get(arrival.file)
            if isinstance(result, FileFacts) and expected and expected != result.sha256:
                result = FileProblem(
                    Reason.CHECKSUM_MISMATCH, f"sha256 {result.sha256} differs from the control manifest's {expected}"
                )
            if isinstance(result, FileProblem):
                bad.append(self._reject(arrival, result.reason, result.detail))
            else:
                facts[arrival.key] = result
        for control in files.controls:
            data = self.landing.read_bytes(control.key)
            facts[control.key] = FileFacts(size=len(data), sha256=hashlib.sha256(data).hexdigest(), rows=0)
        self._quarantine_all(bad, outcome)
        log.debug("batch %s: %d file(s) valid, %d quarantined", batch.partition_key, len(facts), len(bad))
        return facts, files.without(r.key for r in bad)

    def _check(self, arrival: Arrival) -> FileFacts | FileProblem:
        batch = arrival.batch
        columns = self.registry.columns(batch.tenant_id, batch.dataflow, arrival.contract.table)
        limit = int(arrival.contract.max_bytes)
        if arrival.info.size > limit:
            return FileProblem(Reason.OVERSIZE, f"{arrival.info.size} bytes > max_bytes {limit}")
        if arrival.info.size == 0:
            return FileProblem(Reason.EMPTY, "the file has zero bytes")
        with self.landing.open_read(arrival.key) as stream:
            return check_file(stream, arrival.contract, columns)

    def _waiting(self, files: BatchFiles, verdict: Verdict, outcome: Outcome) -> Outcome:
        contract = self._contract(files.batch)
        first = min((o.last_modified for o in files.objects), default=None)
        outcome.detail = verdict.detail
        outcome.recheck_at = verdict.recheck_at
        if verdict.recheck_at is not None:
            outcome.state = "settling"
        if first is not None and self.now() - first > contract.deadline:
            outcome.state = "late"
            outcome.detail = (
                f"late: {verdict.detail}, {self.now() - first} after the first file (deadline {contract.deadline})"
            )
            log.warning("batch %s is %s", files.batch.partition_key, outcome.detail)
        return outcome
