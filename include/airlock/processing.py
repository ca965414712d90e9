"""The processing side of a batch: trust nothing in the partition key, run each attempt once, record it.

A processing run starts from a partition key `<tenant>|<batch_id>`. Anyone who can post an asset
event can forge one, so the key is checked against the registry and the committed snapshot
before anything is loaded.

Attempts. Each processing of a batch is an attempt, recorded create-only as `_runs/<NNNN>.json` beside
the batch's other markers; `_RUN.json` names the latest attempt started and `_DONE.json` the latest
outcome (what `airlock status` shows). A run becomes a new attempt only when it was asked for:
- the first run of the batch (the router's event);
- a cleared run (Airflow's clear: the same run id with a higher `clear_number`);
- any run while a re-processing request (`_REPROCESS.json`, from `airlock reprocess`/`redeliver`) is pending.
Any other run of an attempted batch (a repeated event, a second asset event for the key) is a duplicate
and does nothing: one batch, one run, unless someone asks for another.

Versioning. Each attempt records the snapshot's content hash and the dataflow's code version
(airlock.lifecycle.versions). When both equal those of the latest attempt that ran, and that attempt
succeeded, the new attempt is recorded as `skipped` and does nothing, unless the request says `force`.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from airlock import __version__
from airlock.errors import AirlockError, PartitionKeyError
from airlock.landing import BatchRef
from airlock.lifecycle.versions import CodeVersion, content_hash
from airlock.snapshot import DONE_MARKER, RUN_MARKER, marker_key, read_claim, read_manifest
from airlock.storage import Storage, read_json, write_json
from airlock.tenants import BATCH_ID, Registry

log = logging.getLogger(__name__)

ATTEMPTS = "_runs/"
REQUEST_MARKER = "_REPROCESS.json"
_ATTEMPT_FILE = re.compile(r"^(\d{4,})\.json$")
FINISHED = ("success", "failed")


class BatchBusyError(AirlockError):
    """Another attempt of the batch is still running: a second one would race it in the warehouse."""


@dataclass(frozen=True)
class RunIdentity:
    """Which Airflow run (and which clearing of it) is asking: one attempt per identity."""

    run_id: str
    dag_id: str
    clear_number: int = 0

    @property
    def attempt_id(self) -> str:
        return f"{self.run_id}#{self.clear_number}"


@dataclass(frozen=True)
class RunPlan:
    """What a processing run works on; its `as_xcom()` feeds the load and dbt tasks."""

    batch: BatchRef
    tenant_schema: str
    snapshot_ts: str
    manifest: dict[str, Any]
    duplicate_of: str | None = None
    attempt: int | None = None
    skipped: str | None = None
    """Why this attempt does nothing (same content and code as an earlier success), or None."""
    versions: dict[str, Any] = field(default_factory=dict)

    def as_xcom(self) -> dict[str, Any]:
        return {
            "tenant_id": self.batch.tenant_id,
            "batch_id": self.batch.batch_id,
            "dataflow": self.batch.dataflow,
            "tenant_schema": self.tenant_schema,
            "snapshot_ts": self.snapshot_ts,
            "duplicate_of": self.duplicate_of,
            "attempt": self.attempt,
        }


def parse_partition_key(key: str | None, dataflow: str, registry: Registry) -> BatchRef:
    """`tenant|batch` → BatchRef, refusing anything the registry does not vouch for."""
    if not key or key.count("|") != 1:
        raise PartitionKeyError(
            f"partition key {key!r} is not '<tenant>|<batch_id>'. Processing runs are "
            "started by the router; to re-run a batch, use `airlock reprocess`."
        )
    tenant_id, batch_id = key.split("|")
    tenant = registry.tenant(tenant_id)
    if tenant is None:
        raise PartitionKeyError(f"partition key {key!r}: no tenant {tenant_id!r} in the registry")
    if dataflow not in tenant.dataflows:
        raise PartitionKeyError(f"partition key {key!r}: tenant {tenant_id} is not subscribed to {dataflow}")
    if not BATCH_ID.match(batch_id):
        raise PartitionKeyError(f"partition key {key!r}: batch id must match {BATCH_ID.pattern}")
    return BatchRef(tenant_id, dataflow, batch_id)


# -- attempt records -----------------------------------------------------------------------------
def attempt_key(batch: BatchRef, number: int) -> str:
    return f"{batch.raw_prefix}{ATTEMPTS}{number:04d}.json"


def list_attempts(raw: Storage, batch: BatchRef) -> list[dict[str, Any]]:
    """The batch's attempts, oldest first. A batch processed before attempts existed has one, from `_RUN.json`."""
    found = []
    for info in raw.list(f"{batch.raw_prefix}{ATTEMPTS}"):
        if _ATTEMPT_FILE.match(info.key.rsplit("/", 1)[-1]) and (doc := read_json(raw, info.key)):
            found.append(doc)
    if found:
        return sorted(found, key=lambda a: int(a.get("attempt", 0)))
    legacy = read_json(raw, marker_key(batch, RUN_MARKER))
    if legacy is None:
        return []
    done = read_json(raw, marker_key(batch, DONE_MARKER)) or {}
    same_run = done.get("run_id") == legacy.get("run_id")
    return [
        {
            "attempt": 1,
            "run_id": legacy.get("run_id"),
            "dag_id": legacy.get("dag_id"),
            "clear_number": 0,
            "started_at": legacy.get("started_at"),
            "status": done.get("status", "running") if same_run else "running",
            "legacy": True,
        }
    ]


def read_request(raw: Storage, batch: BatchRef) -> dict[str, Any] | None:
    return read_json(raw, marker_key(batch, REQUEST_MARKER))


def new_request(reason: str, *, requested_by: str, force: bool = False, kind: str = "reprocess") -> dict[str, Any]:
    """A re-processing request: written to each batch it covers, taken up by the batch's next attempt."""
    now = datetime.now(UTC)
    return {
        "request_id": f"{kind}-{now.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}",
        "kind": kind,
        "requested_at": now.isoformat(),
        "requested_by": requested_by,
        "reason": reason,
        "force": force,
    }


def write_request(raw: Storage, batch: BatchRef, request: dict[str, Any]) -> None:
    """Ask for one more attempt of the batch (`request_id`, `requested_by`, `reason`, `force`)."""
    write_json(raw, marker_key(batch, REQUEST_MARKER), request)


def pending_request(request: dict[str, Any] | None, attempts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The request no attempt has taken up yet, if any."""
    if request is None or any(a.get("request_id") == request.get("request_id") for a in attempts):
        return None
    return request


Verdict = Literal["resume", "new", "duplicate", "busy", "skip"]


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    attempt: dict[str, Any] | None = None
    """resume/skip of a recorded attempt: that record; duplicate/busy: the attempt that owns the batch."""
    reason: str = ""


def decide(
    attempts: list[dict[str, Any]],
    who: RunIdentity,
    request: dict[str, Any] | None,
    content: str,
    code: str | None,
) -> Decision:
    """What a run does with a batch, from its recorded attempts alone (pure: the rules in one place)."""
    own = [a for a in attempts if a.get("run_id") == who.run_id]
    mine = next((a for a in reversed(own) if int(a.get("clear_number", 0)) == who.clear_number), None)
    if mine is not None and not mine.get("legacy"):
        return Decision("skip" if mine.get("status") == "skipped" else "resume", mine, mine.get("reason", ""))
    if mine is not None:  # a task retry of a run that started before attempts were recorded
        return Decision("resume", mine)
    latest = attempts[-1] if attempts else None
    asked = pending_request(request, attempts)
    # A cleared run that owns an attempt asks for another; a cleared duplicate (it never owned one) does not.
    cleared = bool(own) and who.clear_number > max(int(a.get("clear_number", 0)) for a in own)
    if latest is not None and not (cleared or asked):
        return Decision("duplicate", latest, f"batch already handled by run {latest.get('run_id')}")
    if latest is not None and latest.get("status") == "running" and latest.get("run_id") != who.run_id:
        return Decision(
            "busy",
            latest,
            f"attempt {latest.get('attempt')} (run {latest.get('run_id')}) is still running; this attempt waits "
            "for it (the task retries). If that run is dead, mark it failed in Airflow.",
        )
    ran = [a for a in attempts if a.get("status") != "skipped"]
    previous = ran[-1] if ran else None
    if (
        previous is not None
        and previous.get("status") == "success"
        and code is not None
        and (previous.get("content_hash"), previous.get("code_version")) == (content, code)
        and not (asked or {}).get("force")
    ):
        return Decision(
            "skip",
            previous,
            f"unchanged: content {content[:12]} and code {code[:12]} are those of attempt {previous.get('attempt')} "
            f"(run {previous.get('run_id')}), which succeeded; nothing to do. To run it anyway: "
            "`airlock reprocess --force`.",
        )
    return Decision("new", latest)


def _record(
    batch: BatchRef,
    number: int,
    who: RunIdentity,
    snapshot_ts: str,
    content: str,
    code: CodeVersion | None,
    request: dict[str, Any] | None,
    decision: Decision,
) -> dict[str, Any]:
    return {
        "attempt": number,
        "attempt_id": who.attempt_id,
        "run_id": who.run_id,
        "dag_id": who.dag_id,
        "clear_number": who.clear_number,
        "partition_key": batch.partition_key,
        "snapshot_ts": snapshot_ts,
        "content_hash": content,
        "code_version": code.version if code else None,
        "airlock_version": __version__,
        "request_id": (request or {}).get("request_id"),
        "requested_by": (request or {}).get("requested_by"),
        "reason": decision.reason if decision.verdict == "skip" else (request or {}).get("reason", ""),
        "started_at": datetime.now(UTC).isoformat(),
        "status": "skipped" if decision.verdict == "skip" else "running",
        "same_as_attempt": (decision.attempt or {}).get("attempt") if decision.verdict == "skip" else None,
    }


def plan_run(
    key: str | None,
    dataflow: str,
    registry: Registry,
    raw: Storage,
    run_id: str,
    dag_id: str,
    *,
    clear_number: int = 0,
    code: CodeVersion | None = None,
) -> RunPlan:
    """Verify the key against the committed snapshot and decide this run's attempt (see the module doc)."""
    batch = parse_partition_key(key, dataflow, registry)
    claim = read_claim(raw, batch)
    manifest = read_manifest(raw, batch)
    if claim is None or manifest is None:
        raise PartitionKeyError(
            f"partition key {key!r}: no committed snapshot under {raw.url}{batch.raw_prefix}; "
            "refusing to process a batch that was never snapshotted"
        )
    if (manifest["tenant_id"], manifest["batch_id"]) != (batch.tenant_id, batch.batch_id):
        raise PartitionKeyError(
            f"partition key {key!r}: the manifest belongs to {manifest['tenant_id']}|{manifest['batch_id']}"
        )
    schema = registry.tenants[batch.tenant_id].warehouse_schema
    who = RunIdentity(run_id, dag_id, clear_number)
    content = content_hash(manifest)
    versions = {"content_hash": content, "code_version": code.version if code else None}
    base = RunPlan(batch, schema, claim["snapshot_ts"], manifest, versions=versions)
    for _ in range(5):  # a create-only write lost to a concurrent run: read the attempts again
        attempts = list_attempts(raw, batch)
        request = read_request(raw, batch)
        decision = decide(attempts, who, request, content, code.version if code else None)
        if decision.verdict == "duplicate":
            owner = (decision.attempt or {}).get("run_id")
            log.warning("batch %s is already processed by run %s: this run does nothing", key, owner)
            return replace(base, duplicate_of=owner or "?")
        if decision.verdict == "busy":
            raise BatchBusyError(f"batch {key}: {decision.reason}")
        recorded = decision.attempt or {}
        if decision.verdict in ("resume", "skip") and recorded.get("attempt_id") == who.attempt_id:
            skipped = decision.reason if decision.verdict == "skip" else None
            return replace(base, attempt=int(recorded["attempt"]), skipped=skipped)
        if decision.verdict == "resume":  # legacy: a retry of a run from before attempt records
            return replace(base, attempt=1)
        number = max((int(a.get("attempt", 0)) for a in attempts), default=0) + 1
        asked = pending_request(request, attempts)
        record = _record(batch, number, who, claim["snapshot_ts"], content, code, asked, decision)
        if attempts and attempts[0].get("legacy"):  # keep the pre-attempts run in the history
            first = {k: v for k, v in attempts[0].items() if k != "legacy"}
            write_json(raw, attempt_key(batch, 1), first, if_absent=True)
        if not write_json(raw, attempt_key(batch, number), record, if_absent=True):
            continue
        if decision.verdict == "skip":
            log.warning("batch %s attempt %d skipped: %s", key, number, decision.reason)
            return replace(base, attempt=number, skipped=decision.reason)
        write_json(raw, marker_key(batch, RUN_MARKER), record)
        log.info("batch %s: attempt %d by run %s", key, number, who.attempt_id)
        return replace(base, attempt=number)
    raise BatchBusyError(f"batch {key}: other runs keep claiming it; this run retries")


def record_done(
    raw: Storage,
    batch: BatchRef,
    run_id: str,
    dag_id: str,
    status: str,
    rows_loaded: dict[str, int],
    started_at: str | None = None,
) -> dict[str, Any]:
    """Write the outcome into the run's attempt record and `_DONE.json` (the latest outcome, overwritten)."""
    attempts = [a for a in list_attempts(raw, batch) if a.get("run_id") == run_id and not a.get("legacy")]
    attempt = attempts[-1] if attempts else None
    finished = datetime.now(UTC).isoformat()
    done = {
        "run_id": run_id,
        "dag_id": dag_id,
        "status": status,
        "rows_loaded": rows_loaded,
        "started_at": started_at or (attempt or {}).get("started_at"),
        "finished_at": finished,
    }
    if attempt is not None:
        if attempt.get("status") == "skipped":
            return {**done, "status": "skipped", "attempt": attempt["attempt"]}
        done.update(
            attempt=attempt["attempt"],
            content_hash=attempt.get("content_hash"),
            code_version=attempt.get("code_version"),
            snapshot_ts=attempt.get("snapshot_ts"),
        )
        write_json(raw, attempt_key(batch, int(attempt["attempt"])), {**attempt, **done})
    write_json(raw, marker_key(batch, DONE_MARKER), done)
    return done
