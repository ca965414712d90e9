"""What earlier tries of a run's build achieved, kept next to the batch so a retry resumes from the failure.

Airflow clears a task's XCom when it starts a new try, so the results live in the raw storage beside the
batch's other markers: `<tenant>/<dataflow>/<batch>/_DBT_STATE.json`. They count only for the same claim
(`claimed_at` of the claim task's XCom): clearing a whole run re-claims it and builds from scratch, while a
retry or a cleared build task resumes. The snapshot a run loads is immutable, so a node built by an
earlier try of the same claim is still right.
"""

from __future__ import annotations

from typing import Any

from airlock.landing import BatchRef
from airlock.snapshot import marker_key
from airlock.storage import Storage, read_json, write_json
from airlock.transform.results import NodeResult

STATE_MARKER = "_DBT_STATE.json"


def _key(run: dict[str, Any]) -> str:
    return marker_key(BatchRef(run["tenant_id"], run["dataflow"], run["batch_id"]), STATE_MARKER)


def load_done(raw: Storage, run: dict[str, Any]) -> dict[str, NodeResult]:
    """Results of earlier tries of this claim (empty for a first try or a new claim)."""
    doc = read_json(raw, _key(run)) or {}
    if not run.get("claimed_at") or doc.get("claimed_at") != run.get("claimed_at"):
        return {}
    return {uid: NodeResult.from_dict(result) for uid, result in (doc.get("results") or {}).items()}


def save_done(raw: Storage, run: dict[str, Any], results: dict[str, NodeResult], try_number: int) -> None:
    """Record every node's latest result for this claim (overwrites: the latest try knows the most)."""
    doc = {
        "claimed_at": run.get("claimed_at"),
        "try_number": try_number,
        "results": {uid: result.as_dict() for uid, result in sorted(results.items())},
    }
    write_json(raw, _key(run), doc)
