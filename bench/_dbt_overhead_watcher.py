"""bench/dbt_overhead.py, WATCHER part: one run of the bench DAG under the real scheduler (LocalStack).

WATCHER deadlocks under `airflow dags test` (FIELD-NOTES: a deferrable consumer runs before the producer),
so it is measured with the scheduler, triggerer, dag-processor and API server running, as deployed: one run
triggered through the REST API, timed from the trigger until the run is terminal.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import psutil

from airlock.devstack.local_aws import free_port
from airlock.devstack.stack import LocalStack

DAG_ID = "bench_dbt_overhead"
TERMINAL = ("success", "failed")


def _task_states(db: Path, run_id: str) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "select coalesce(state, 'none'), count(*) from task_instance where run_id = ? group by state", (run_id,)
        ).fetchall()
    return dict(rows)


def _producer(db: Path, run_id: str) -> dict[str, Any]:
    """The producer's own time (the one `dbt build`) and how long the consumers ran on after it."""
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "select task_id, state, duration, start_date, end_date from task_instance "
            "where run_id = ? and task_id like '%producer%'",
            (run_id,),
        ).fetchone()
        last = conn.execute("select max(end_date) from task_instance where run_id = ?", (run_id,)).fetchone()[0]
    if row is None:
        return {}
    figures: dict[str, Any] = {
        "task_id": row[0],
        "state": row[1],
        "duration_s": round(row[2], 1) if row[2] is not None else None,
    }
    if row[4] and last:
        from datetime import datetime

        figures["consumers_after_producer_s"] = round(
            (datetime.fromisoformat(str(last)) - datetime.fromisoformat(str(row[4]))).total_seconds(), 1
        )
    return figures


def _problem_tasks(db: Path, run_id: str, limit: int = 8) -> list[dict[str, Any]]:
    """Task instances that did not succeed: the producer first, then the rest."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "select task_id, coalesce(state, 'none'), try_number from task_instance "
            "where run_id = ? and coalesce(state, 'none') != 'success' "
            "order by (task_id like '%producer%') desc, task_id limit ?",
            (run_id, limit),
        ).fetchall()
    return [{"task_id": t, "state": s, "try_number": n} for t, s, n in rows]


def _log_lines(
    root: Path, needles: tuple[str, ...] = ("ERROR", "Error", "Traceback", "Exception", "deadlock"), limit: int = 25
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


def measure(
    work: Path,
    project: Path,
    dags: Path,
    dbt_executable: str,
    timeout_s: float,
    *,
    name: str = "watcher",
    runs: int = 2,
) -> dict[str, Any]:
    """Start a LocalStack on `dags`, trigger `runs` runs of the bench DAG one after the other; return the figures.

    The first run is the cold one (its triggerer and API server serve their first requests); the next ones
    are what a running deployment sees.
    """
    state = work / f"stack-{name}"
    warehouse = work / f"warehouse-{name}"
    warehouse.mkdir(parents=True, exist_ok=True)
    repo = Path(__file__).resolve().parents[1]
    extra = {
        "AIRLOCK_DBT_MODE": "watcher",
        "AIRLOCK_DBT_PROJECT_DIR": str(project),
        "AIRLOCK_DBT_EXECUTABLE": dbt_executable,
        "AIRLOCK_WAREHOUSE_DIR": str(warehouse),
        "AIRLOCK_TENANTS_DIR": str(repo / "dags" / "registry" / "tenants"),
        "AIRLOCK_DATAFLOWS_DIR": str(repo / "dags" / "registry" / "dataflows"),
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "180",
        # Airflow's default (as on Astro and MWAA), not the dev stack's 10 s: re-parsing the 200-model DAG
        # every 10 s took 13 CPU-s of a 51 s run on this 2-core machine.
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
        "AIRFLOW__COSMOS__CACHE_DIR": str(work / f"cosmos-{name}"),
        "DO_NOT_TRACK": "1",
    }
    figures: dict[str, Any] = {"complete": False}
    messages: list[str] = []
    started_stack = time.perf_counter()
    try:
        with LocalStack(
            state,
            ["bench"],
            port=free_port(),
            landing="folder",
            dags_folder=dags,
            extra_env=extra,
            wait_dags=[DAG_ID],
            log=messages.append,
        ) as stack:
            figures["stack_start_s"] = round(time.perf_counter() - started_stack, 1)
            db = state / "airflow" / "airflow.db"
            for _ in range(runs):
                run_figures = _one_run(stack, db, timeout_s, state)
                figures["runs"] = [*figures.get("runs", []), run_figures]
                if not run_figures["succeeded"]:
                    break
            first = figures["runs"][0]
            figures.update({k: first[k] for k in ("run_state", "wall_s", "complete", "succeeded")})
            if len(figures["runs"]) > 1 and figures["runs"][-1]["succeeded"]:
                figures["warm_wall_s"] = figures["runs"][-1]["wall_s"]
    except Exception as exc:  # the stack did not start, or the API failed: report why, with the logs
        figures["error"] = f"{type(exc).__name__}: {str(exc)[:1500]}"
        figures["log_lines"] = _log_lines(state / "logs")
        figures["stack_messages"] = messages[-10:]
    return figures


COMPONENTS = ("scheduler", "triggerer", "api_server", "dag-processor", "LocalExecutor")


def _cpu_seconds(stack: LocalStack) -> dict[str, float]:
    """CPU seconds used so far per stack component, finished children included.

    LocalExecutor worker processes live as long as the scheduler and wait for their task processes (and
    those for dbt), so "LocalExecutor" holds the task processes and the producer's `dbt build`.
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


def _one_run(stack: LocalStack, db: Path, timeout_s: float, state: Path) -> dict[str, Any]:
    """Trigger one run through the REST API and time it until it is terminal."""
    load_before = os.getloadavg()[0]
    cpu_before = _cpu_seconds(stack)
    t0 = time.perf_counter()
    run_id = stack.api.trigger(DAG_ID)["dag_run_id"]
    run: dict[str, Any] = {}
    while time.perf_counter() - t0 < timeout_s:
        run = next((r for r in stack.api.dag_runs(DAG_ID) if r["dag_run_id"] == run_id), {})
        if run.get("state") in TERMINAL:
            break
        time.sleep(0.5)
    wall = time.perf_counter() - t0
    cpu_after = _cpu_seconds(stack)
    states = _task_states(db, run_id)
    figures: dict[str, Any] = {
        "cpu_s": {c: round(cpu_after[c] - cpu_before[c], 1) for c in COMPONENTS},
        "run_id": run_id,
        "run_state": run.get("state"),
        "wall_s": round(wall, 1),
        "run_start_to_end_s": _span(run),
        "task_states": states,
        "tasks": sum(states.values()),
        "tasks_on_a_worker": _queued(db, run_id),
        "producer": _producer(db, run_id),
        "complete": run.get("state") in TERMINAL,
        "succeeded": run.get("state") == "success",
        "load_average_1m_before": round(load_before, 2),
        "load_average_1m_after": round(os.getloadavg()[0], 2),
    }
    if not figures["complete"]:
        figures["timed_out_after_s"] = timeout_s
    if not figures["succeeded"]:
        figures["problem_tasks"] = _problem_tasks(db, run_id)
        figures["log_lines"] = _log_lines(state / "logs") + _log_lines(state / "airflow" / "logs")
    return figures


def _queued(db: Path, run_id: str) -> int:
    """Task instances that went through an executor (the rest started and ended in the triggerer)."""
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "select count(*) from task_instance where run_id = ? and queued_dttm is not null", (run_id,)
        ).fetchone()[0]


def _span(run: dict[str, Any]) -> float | None:
    from datetime import datetime

    if not run.get("start_date") or not run.get("end_date"):
        return None
    start = datetime.fromisoformat(run["start_date"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(run["end_date"].replace("Z", "+00:00"))
    return round((end - start).total_seconds(), 1)
