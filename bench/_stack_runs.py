"""Timing DAG runs under the real scheduler, triggerer, DAG processor and API server (LocalStack), with the
CPU seconds each Airflow component spent: shared by bench/dbt_overhead.py and bench/process_throughput.py.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from airlock.devstack.stack import LocalStack

TERMINAL = ("success", "failed")
COMPONENTS = ("scheduler", "triggerer", "api_server", "dag-processor", "LocalExecutor")
BENCH_AIRFLOW_ENV = {
    "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
    "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "180",
    # Airflow's default (as on Astro and MWAA), not the dev stack's 10 s: re-parsing a 200-model DAG every
    # 10 s took 13 CPU-s of a 51 s run on this 2-core machine.
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
    "DO_NOT_TRACK": "1",
}


def cpu_seconds(stack: LocalStack) -> dict[str, float]:
    """CPU seconds used so far per stack component, finished children included.

    LocalExecutor worker processes live as long as the scheduler and wait for their task processes (and
    those for dbt), so "LocalExecutor" holds the task processes and the dbt build.
    """
    totals = dict.fromkeys(COMPONENTS, 0.0)
    for proc in stack.processes():
        try:
            cmdline = " ".join(proc.cmdline())
            times = proc.cpu_times()
        except psutil.Error:
            continue
        component = next((c for c in COMPONENTS if c in cmdline), None)
        if component is not None:
            totals[component] += times.user + times.system + times.children_user + times.children_system
    return totals


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {c: round(after[c] - before[c], 1) for c in COMPONENTS}


def task_rows(db: Path, run_ids: list[str]) -> list[dict[str, Any]]:
    marks = ",".join("?" for _ in run_ids)
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            f"select run_id, task_id, coalesce(state, 'none'), queued_dttm, start_date, end_date, duration "
            f"from task_instance where run_id in ({marks})",
            run_ids,
        ).fetchall()
    keys = ("run_id", "task_id", "state", "queued", "start", "end", "duration")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def summarize_tasks(rows: list[dict[str, Any]], build_task: str | None = None) -> dict[str, Any]:
    """Task instances per state, how many went through an executor, and the build task's own time."""
    states: dict[str, int] = {}
    for row in rows:
        states[row["state"]] = states.get(row["state"], 0) + 1
    figures: dict[str, Any] = {
        "task_states": states,
        "tasks": len(rows),
        "tasks_on_a_worker": sum(1 for r in rows if r["queued"] is not None),
    }
    builds = [r for r in rows if build_task and r["task_id"] == build_task and r["duration"] is not None]
    if builds:
        figures["build_task_s"] = round(sum(r["duration"] for r in builds) / len(builds), 1)
        last = max((r["end"] for r in rows if r["end"]), default=None)
        ends = [r["end"] for r in builds if r["end"]]
        if last and ends:
            figures["after_build_s"] = round((_ts(last) - _ts(max(ends))).total_seconds(), 1)
    return figures


def _ts(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))


def wait_runs(
    stack: LocalStack, dag_id: str, run_ids: list[str], timeout_s: float, on_poll: Callable[[], None] | None = None
) -> dict[str, dict[str, Any]]:
    """Poll the REST API until every run is terminal or the deadline passes; return the runs last seen."""
    deadline = time.monotonic() + timeout_s
    seen: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        seen = {r["dag_run_id"]: r for r in stack.api.dag_runs(dag_id, limit=1000) if r["dag_run_id"] in run_ids}
        if len(seen) == len(run_ids) and all(r.get("state") in TERMINAL for r in seen.values()):
            break
        if on_poll:
            on_poll()
        time.sleep(0.5)
    return seen


def one_run(stack: LocalStack, dag_id: str, timeout_s: float, build_task: str | None = None) -> dict[str, Any]:
    """Trigger one run through the REST API and time it until it is terminal, with CPU per component."""
    db = stack.state_dir / "airflow" / "airflow.db"
    load_before = os.getloadavg()[0]
    cpu_before = cpu_seconds(stack)
    started = time.perf_counter()
    run_id = stack.api.trigger(dag_id)["dag_run_id"]
    run = wait_runs(stack, dag_id, [run_id], timeout_s).get(run_id, {})
    wall = time.perf_counter() - started
    figures: dict[str, Any] = {
        "cpu_s": cpu_delta(cpu_before, cpu_seconds(stack)),
        "run_id": run_id,
        "run_state": run.get("state"),
        "wall_s": round(wall, 1),
        "run_start_to_end_s": span(run),
        **summarize_tasks(task_rows(db, [run_id]), build_task),
        "succeeded": run.get("state") == "success",
        "load_average_1m_before": round(load_before, 2),
        "load_average_1m_after": round(os.getloadavg()[0], 2),
    }
    if build_task:
        figures["build_timeline"] = build_timeline(stack.state_dir / "airflow" / "logs", dag_id, run_id, build_task)
    if not figures["succeeded"]:
        figures["log_lines"] = log_lines(stack.state_dir / "airflow" / "logs")
    return figures


_RUNNER_SECONDS = re.compile(r"dbt finished with exit code \S+ \(\d+ nodes; seconds: (?P<phases>[^)]*)\)")


def build_timeline(logs: Path, dag_id: str, run_id: str, build_task: str) -> dict[str, Any]:
    """Where the build task's time went, from its own log: before the runner, the runner's phases, after it.

    `to_runner_s`: task start (the log's first line) to the runner's launch; `runner_s`: launch to its summary
    line, split into the phases the runner reports (parse, select, build, count; the rest is the runner's
    interpreter and dbt's import); `after_runner_s`: summary to the log's last line (reports, events, XCom).
    """
    paths = sorted((logs / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={build_task}").glob("attempt=*.log"))
    if not paths:
        return {}
    stamps: list[tuple[datetime, str]] = []
    for line in paths[-1].read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            doc = json.loads(line)
            stamps.append((_ts(str(doc["timestamp"]).replace("Z", "+00:00")), str(doc.get("event") or "")))
        except (ValueError, KeyError, TypeError):
            continue
    launched = next((t for t, event in stamps if event.startswith("Running ")), None)
    finished = next(((t, m) for t, event in stamps if (m := _RUNNER_SECONDS.search(event))), None)
    if not stamps or launched is None or finished is None:
        return {}
    phases = {k: float(v) for k, _, v in (p.strip().partition(" ") for p in finished[1]["phases"].split(","))}
    runner_s = (finished[0] - launched).total_seconds()
    return {
        "to_runner_s": round((launched - stamps[0][0]).total_seconds(), 2),
        "runner_s": round(runner_s, 2),
        "runner_phases_s": {**phases, "start_and_import": round(runner_s - sum(phases.values()), 2)},
        "after_runner_s": round((stamps[-1][0] - finished[0]).total_seconds(), 2),
    }


def span(run: dict[str, Any]) -> float | None:
    if not run.get("start_date") or not run.get("end_date"):
        return None
    start = datetime.fromisoformat(run["start_date"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(run["end_date"].replace("Z", "+00:00"))
    return round((end - start).total_seconds(), 1)


def log_lines(
    root: Path, needles: tuple[str, ...] = ("ERROR", "Error", "Traceback", "Exception"), limit: int = 25
) -> list[str]:
    """The last error-looking lines of every log under `root` (component and task logs)."""
    found: list[str] = []
    if not root.exists():
        return found
    for path in sorted(root.rglob("*.log")) + sorted(root.rglob("*.json")):
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        hits = [line[:300] for line in lines if any(n in line for n in needles)]
        found += [f"{path.relative_to(root)}: {line}" for line in hits[-3:]]
    return found[-limit:]
