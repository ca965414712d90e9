"""Re-process and backfill committed batches: decide what re-runs and why, then ask Airflow for it.

A plan is made from the raw markers and the deployment's manifest alone, so `--dry-run` shows exactly
what will happen. Starting it writes a re-processing request beside each batch (`_REPROCESS.json`, which
lets the run past the duplicate-run guard: docs/contracts.md) and then asks Airflow to re-run the batch's
partition (lifecycle/airflow.py). Each re-run is a new attempt of the batch, recorded beside the first.

What re-runs:
- a batch whose last attempt is still running never does (it is shown, and left alone);
- `--changed`: only batches whose last attempt ran with another code version than the one deployed now,
  with the nodes that changed (node fingerprints, lifecycle/versions.py);
- otherwise every selected batch, except those whose content and code equal those of their last,
  successful attempt: re-running them changes nothing (`--force` runs them anyway).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from airlock.devstack.airflow_api import AirflowApi
from airlock.landing import BatchRef
from airlock.lifecycle.airflow import Started, rerun_partition
from airlock.lifecycle.batches import BatchFilter, CommittedBatch, committed_batches
from airlock.lifecycle.versions import CodeVersion, changed_nodes, code_version, content_hash, read_code
from airlock.processing import list_attempts, write_request
from airlock.snapshot import read_manifest
from airlock.storage import Storage
from airlock.tenants import Registry

Action = Literal["re-run", "leave"]
FINAL = ("success", "failed", "skipped")


@dataclass(frozen=True)
class Item:
    """One batch of the plan: what happens to it, and why."""

    batch: CommittedBatch
    action: Action
    why: str
    changed: dict[str, str] = field(default_factory=dict)


@dataclass
class ReprocessPlan:
    items: list[Item]
    codes: dict[str, CodeVersion]
    request: dict[str, Any]

    @property
    def reruns(self) -> list[Item]:
        return [i for i in self.items if i.action == "re-run"]

    def table(self) -> str:
        header = ("TENANT", "DATAFLOW", "BATCH", "STATE", "ATTEMPT", "ACTION", "WHY")
        rows = [
            (
                i.batch.batch.tenant_id,
                i.batch.batch.dataflow,
                i.batch.batch.batch_id,
                i.batch.state,
                str(i.batch.attempt or "-"),
                i.action,
                i.why,
            )
            for i in self.items
        ]
        widths = [max(len(c) for c in col) for col in zip(header, *rows, strict=False)]
        return "\n".join(
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]
        )


def _nodes_changed(raw: Storage, recorded: str | None, now: CodeVersion, cache: dict[str, Any]) -> dict[str, str]:
    if recorded not in cache:
        cache[recorded] = read_code(raw, recorded) if recorded else None
    return changed_nodes(cache[recorded], now.nodes)


def _describe(changed: dict[str, str], limit: int = 3) -> str:
    names = [f"{uid.split('.')[-1]} {how}" for uid, how in changed.items()]
    more = f" (+{len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _judge(item: CommittedBatch, raw: Storage, code: CodeVersion, *, changed: bool, force: bool, cache: dict) -> Item:
    done = item.done
    if item.state == "processing":
        return Item(item, "leave", f"attempt {item.attempt} ({item.run_id}) is running: re-run it once it ends")
    recorded = done.get("code_version")
    nodes = _nodes_changed(raw, recorded, code, cache) if recorded and recorded != code.version else {}
    code_change = (
        f"code {recorded[:12]} -> {code.short}: {_describe(nodes) or 'fingerprints not kept'}" if nodes else ""
    )
    if changed:
        if item.state == "snapshotted":
            return Item(item, "leave", "never processed: its first run is due anyway")
        if recorded == code.version:
            return Item(item, "leave", f"code unchanged since attempt {item.attempt} ({code.short})")
        if not recorded:
            return Item(item, "re-run", "no code version recorded (processed before versioning)")
        return Item(item, "re-run", code_change, nodes)
    if force:
        return Item(item, "re-run", f"forced{'; ' + code_change if code_change else ''}", nodes)
    if item.state == "done" and recorded == code.version:
        manifest = read_manifest(raw, item.batch) or {}
        if done.get("content_hash") == content_hash(manifest):
            return Item(item, "leave", f"unchanged since attempt {item.attempt} (content and code): --force re-runs it")
        return Item(item, "re-run", "content changed (a re-delivered snapshot)")
    if item.state == "snapshotted":
        return Item(item, "re-run", "never processed")
    if item.state == "failed" and not code_change:
        return Item(item, "re-run", f"attempt {item.attempt} failed")
    return Item(item, "re-run", code_change or "no versions recorded", nodes)


def plan_reprocess(
    registry: Registry,
    raw: Storage,
    selection: BatchFilter,
    manifest: Path,
    request: dict[str, Any],
    *,
    changed: bool = False,
    force: bool = False,
) -> ReprocessPlan:
    """What `airlock reprocess` would do, from the markers and the manifest alone (no Airflow call)."""
    batches = committed_batches(registry, raw, selection)
    codes = {flow: code_version(registry.dataflows[flow], manifest) for flow in {b.batch.dataflow for b in batches}}
    cache: dict[str, Any] = {}
    items = [_judge(b, raw, codes[b.batch.dataflow], changed=changed, force=force, cache=cache) for b in batches]
    return ReprocessPlan(items, codes, request)


@dataclass(frozen=True)
class Outcome:
    """How a batch's new attempt ended, as its attempt record says."""

    partition_key: str
    dataflow: str
    attempt: int | None
    status: str
    seconds: float
    reason: str = ""


def start(
    plan: ReprocessPlan, raw: Storage, api: AirflowApi, registry: Registry, progress: Callable[[str], None]
) -> list[Started]:
    """Ask for each re-run: its request beside the batch, then its partition re-run in Airflow."""
    batches = [i.batch.batch for i in plan.reruns]
    return ask(batches, plan.request, raw, api, registry, progress)


def ask(
    batches: list[BatchRef],
    request: dict[str, Any],
    raw: Storage,
    api: AirflowApi,
    registry: Registry,
    progress: Callable[[str], None],
) -> list[Started]:
    """Write the request beside each batch, then re-run its partition in Airflow (one call per batch)."""
    started = []
    note = f"airlock {request.get('kind', 'reprocess')} {request['request_id']} by {request['requested_by']}"
    for n, batch in enumerate(batches, 1):
        write_request(raw, batch, request)
        how = rerun_partition(api, registry.dataflows[batch.dataflow].dag_id, batch.partition_key, note)
        started.append(how)
        progress(f"[{n}/{len(batches)}] {batch.partition_key} ({batch.dataflow}): {how.describe()}")
    return started


def wait(
    batches: list[BatchRef],
    request_id: str,
    raw: Storage,
    *,
    timeout: float,
    progress: Callable[[str], None],
    poll: float = 2.0,
) -> list[Outcome]:
    """Wait until each batch has an attempt for the request that ended; read from the markers alone."""
    began = time.monotonic()
    pending = {(b.dataflow, b.partition_key): b for b in batches}
    outcomes: list[Outcome] = []
    while pending:
        for key, batch in list(pending.items()):
            mine = [a for a in list_attempts(raw, batch) if a.get("request_id") == request_id]
            if mine and mine[-1].get("status") in FINAL:
                last = mine[-1]
                outcome = Outcome(
                    batch.partition_key,
                    batch.dataflow,
                    last.get("attempt"),
                    str(last.get("status")),
                    round(time.monotonic() - began, 1),
                    str(last.get("reason") or ""),
                )
                outcomes.append(outcome)
                del pending[key]
                ended = f"attempt {outcome.attempt} {outcome.status} at {outcome.seconds}s"
                progress(f"    {batch.partition_key} ({batch.dataflow}): {ended}")
        if pending and time.monotonic() - began > timeout:
            still = ", ".join(sorted(b.partition_key for b in pending.values()))
            progress(f"==> gave up after {timeout:.0f}s; still running: {still} (see `airlock status`)")
            break
        if pending:
            time.sleep(poll)
    return outcomes
