"""What the status page reads from Airflow's own metadata database, inside the api-server.

Two facts storage cannot tell: whether each asset watcher's trigger is running in a live triggerer
(watcher health per queue), and which task of a failed processing run failed (the link to its log).
Both are one query each, bounded by what the page shows. Outside the api-server (the CLI, unit
tests) the callers pass their own functions instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

QUEUE_KWARGS = ("sqs_queue", "queue_url", "queue")
"""Trigger kwargs that name the polled queue (MessageQueueTrigger's SQS form, a shared-stream trigger)."""


def _queue_of(kwargs: dict[str, Any]) -> str | None:
    for key in QUEUE_KWARGS:
        if isinstance(value := kwargs.get(key), str) and value:
            return value
    return None


QUEUE_TTL_SECONDS = 30.0
_queue_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_queue_lock = threading.Lock()


def _queue_depth(sqs: Any, url: str) -> dict[str, Any]:
    """The queue's backlog, or why it cannot be read (a missing queue: the watcher fails every poll)."""
    try:
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
    except Exception as exc:  # botocore's ClientError and connection errors alike: report, never break the page
        code = getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__
        return {"error": "queue missing" if "NonExistentQueue" in code or "DoesNotExist" in code else code}
    return {
        "waiting": int(attributes.get("ApproximateNumberOfMessages", 0)),
        "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
    }


def queue_depths(urls: Iterable[str], sqs: Any = None) -> dict[str, dict[str, Any]]:
    """Backlog per SQS queue URL, 16 at a time, each kept QUEUE_TTL_SECONDS (the page refreshes every 30 s)."""
    now = time.monotonic()
    with _queue_lock:
        fresh = {u: v for u, (at, v) in _queue_cache.items() if now - at < QUEUE_TTL_SECONDS}
    wanted = sorted(set(urls) - set(fresh))
    if wanted:
        if sqs is None:
            from airlock.aws import client

            sqs = client("sqs")
        with ThreadPoolExecutor(16) as pool:
            got = dict(zip(wanted, pool.map(lambda u: _queue_depth(sqs, u), wanted), strict=True))
        with _queue_lock:
            _queue_cache.update({u: (now, v) for u, v in got.items()})
        fresh.update(got)
    return fresh


def watcher_health(now: datetime | None = None, sqs: Any = None) -> list[dict[str, Any]]:
    """Every asset watcher: its asset, queue, trigger, and whether a live triggerer runs it.

    state: "polling" (assigned to a triggerer whose heartbeat is fresh), "triggerer down" (assigned
    to one whose heartbeat is stale), "not running" (no triggerer has taken it: none is up, or all
    are at capacity), "queue missing" (its SQS queue does not exist: the trigger fails at every poll).
    SQS queues also report their backlog ("3 waiting"): messages piling up on a watched queue mean
    the watcher is not consuming them.
    """
    from airflow.configuration import conf
    from airflow.jobs.job import Job
    from airflow.models.asset import AssetModel, AssetWatcherModel
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session
    from sqlalchemy import select

    now = now or datetime.now(UTC)
    threshold = conf.getfloat("triggerer", "triggerer_health_check_threshold", fallback=30.0)
    found = []
    with create_session() as session:
        query = (
            select(AssetWatcherModel.name, AssetModel.name, Trigger, Job.latest_heartbeat, Job.state, Job.hostname)
            .join(AssetModel, AssetModel.id == AssetWatcherModel.asset_id)
            .join(Trigger, Trigger.id == AssetWatcherModel.trigger_id)
            .outerjoin(Job, Job.id == Trigger.triggerer_id)
            .order_by(AssetModel.name, AssetWatcherModel.name)
        )
        for name, asset, trigger, heartbeat, job_state, hostname in session.execute(query):
            try:
                kwargs = trigger.kwargs
            except Exception:  # a kwargs blob this api-server cannot decrypt: still show the watcher
                kwargs = {}
            age = (now - heartbeat).total_seconds() if heartbeat else None
            if trigger.triggerer_id is None:
                state, detail = "not running", "no triggerer has taken its trigger (is one running, with capacity?)"
            elif age is None or age > threshold or job_state not in (None, "running"):
                state, detail = (
                    "triggerer down",
                    f"triggerer {trigger.triggerer_id} on {hostname}: last heartbeat "
                    + (f"{age:.0f}s ago" if age is not None else "never"),
                )
            else:
                state, detail = "polling", f"triggerer {trigger.triggerer_id} on {hostname}, heartbeat {age:.0f}s ago"
            found.append(
                {
                    "name": name,
                    "asset": asset,
                    "queue": _queue_of(kwargs),
                    "trigger": trigger.classpath.rsplit(".", 1)[-1],
                    "trigger_id": trigger.id,
                    "since": trigger.created_date.isoformat() if trigger.created_date else None,
                    "state": state,
                    "detail": detail,
                }
            )
    depths = queue_depths([w["queue"] for w in found if (w["queue"] or "").startswith(("http://", "https://"))], sqs)
    for watcher in found:
        depth = depths.get(watcher["queue"] or "")
        if depth is None:
            continue
        watcher["backlog"] = depth
        if "error" in depth:
            watcher["state"], watcher["detail"] = depth["error"], f"{depth['error']}; {watcher['detail']}"
        else:
            watcher["detail"] += f"; {depth['waiting']} waiting, {depth['in_flight']} in flight"
    return found


def task_url(base: str, dag_id: str, run_id: str, task_id: str, map_index: int = -1, try_number: int = 0) -> str:
    """The Airflow 3 UI page of one task instance (its log is the first tab)."""
    path = f"{base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}/tasks/{quote(task_id, safe='')}"
    if map_index >= 0:
        path += f"/mapped/{map_index}"
    return path + (f"?try_number={try_number}" if try_number else "")


def failed_tasks(runs: Iterable[tuple[str, str]], base: str = "") -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The failed task instances of each (dag_id, run_id), with the link to each one's log."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import and_, or_, select

    wanted = sorted(set(runs))
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    if not wanted:
        return found
    with create_session() as session:
        for start in range(0, len(wanted), 200):  # bounded IN lists, whatever the page shows
            chunk = wanted[start : start + 200]
            query = select(
                TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, TaskInstance.map_index,
                TaskInstance.try_number,
            ).where(
                TaskInstance.state == TaskInstanceState.FAILED,
                or_(*(and_(TaskInstance.dag_id == d, TaskInstance.run_id == r) for d, r in chunk)),
            )  # fmt: skip
            for dag_id, run_id, task_id, map_index, try_number in session.execute(query):
                found.setdefault((dag_id, run_id), []).append(
                    {
                        "task_id": task_id,
                        "try_number": try_number,
                        "url": task_url(base, dag_id, run_id, task_id, map_index, try_number),
                    }
                )
    for tasks in found.values():
        tasks.sort(key=lambda t: t["task_id"])
    return found
