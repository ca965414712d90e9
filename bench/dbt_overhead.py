"""What Airflow + Cosmos add on top of dbt: a full run of a >= 200-model project vs plain `dbt build`.

Plain: one `dbt build` of the synthetic project (bench/synthetic_dbt.py) on DuckDB from dbt's own venv.
Airflow WATCHER (the recommended mode; consumers start and end in the triggerer, airlock.watcher_consumers):
runs of a DAG shaped like the processing DAG
(claim >> dbt_task_group, AIRLOCK_DBT_MODE=watcher) under the real scheduler, triggerer, dag-processor and
API server (airlock.devstack.LocalStack, folder landing zone), triggered through the REST API and timed
until the run is terminal (bench/_dbt_overhead_watcher.py). It deadlocks under `dags test` (FIELD-NOTES).
Airflow LOCAL: `airflow dags test` of the same DAG with one DbtBuildLocalOperator per model
(TestBehavior.BUILD), one task at a time. A full run takes ~25+ minutes at 200 models, so it is capped at
AIRLOCK_BENCH_OVERHEAD_TIMEOUT seconds (default 120) and extrapolated from the tasks done;
AIRLOCK_BENCH_LOCAL=0 skips it. AIRLOCK_BENCH_WATCHER_TIMEOUT (default 600) caps the WATCHER run.
WATCHER is run twice in the same stack: the first run is cold (the triggerer and API server serve their
first requests), the second is what a running deployment sees; both are reported, the verdict uses the warm one.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.synthetic_dbt import generate

REPO = Path(__file__).resolve().parents[1]
N_MODELS = int(os.environ.get("AIRLOCK_BENCH_OVERHEAD_MODELS", "200"))
TIMEOUT_S = int(os.environ.get("AIRLOCK_BENCH_OVERHEAD_TIMEOUT", "120"))
WATCHER_TIMEOUT_S = int(os.environ.get("AIRLOCK_BENCH_WATCHER_TIMEOUT", "600"))
TARGET_X = 1.5
VARS = "{tenant_id: bench, tenant_schema: tenant_bench, dataflow: orders, batch_id: b1}"

DAG_FILE = '''"""bench/dbt_overhead.py: claim >> dbt task group, as in the processing DAG (text says airflow)."""
from datetime import datetime

from airflow.sdk import DAG, task

from airlock.settings import load_settings
from airlock.tenants import load_dataflows
from airlock.transform import dbt_task_group

settings = load_settings()
with DAG("bench_dbt_overhead", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):

    @task
    def claim() -> dict:
        return {"tenant_id": "bench", "batch_id": "b1", "dataflow": "orders", "tenant_schema": "tenant_bench"}

    claim() >> dbt_task_group(load_dataflows(settings.dataflows_dir)["orders"], settings)
'''


def _env(project: Path, work: Path, mode: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRLOCK_"))}
    return {
        **env,
        "PYTHONPATH": str(REPO / "include"),
        "AIRLOCK_HOME": str(REPO),
        "AIRLOCK_DBT_PROJECT_DIR": str(project),
        "AIRLOCK_DBT_MODE": mode,
        "AIRLOCK_WAREHOUSE_DIR": str(work / f"warehouse-{mode}"),
        "AIRFLOW_HOME": str(work / f"airflow-{mode}"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(work / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "false",
        "AIRFLOW__COSMOS__CACHE_DIR": str(work / f"cosmos-{mode}"),
        "DO_NOT_TRACK": "1",
    }


def _dbt(project: Path, env: dict[str, str], *args: str) -> float:
    dbt = _dbt_executable()
    started = time.perf_counter()
    subprocess.run(
        [dbt, *args, "--project-dir", str(project), "--profiles-dir", str(project), "--quiet"],
        env=env,
        check=True,
        timeout=1800,
    )
    return time.perf_counter() - started


def _dags_test(env: dict[str, str], log: Path, expected_tasks: int) -> dict[str, Any]:
    """Run `airflow dags test`; past AIRLOCK_BENCH_OVERHEAD_TIMEOUT, stop it and report the rate so far."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    Path(env["AIRLOCK_WAREHOUSE_DIR"]).mkdir(parents=True, exist_ok=True)
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [airflow, "dags", "test", "bench_dbt_overhead"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code: int | None = proc.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: only the run this bench started
            proc.wait()
            code = None
    wall = time.perf_counter() - started
    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as db:
        states = dict(db.execute("select state, count(*) from task_instance group by state").fetchall())
    done = sum(n for state, n in states.items() if state in ("success", "failed", "upstream_failed"))
    figures: dict[str, Any] = {
        "wall_s": round(wall, 1),
        "exit_code": code,
        "task_states": states,
        "tasks": expected_tasks,
        "tasks_done": done,
        "complete": code is not None,
    }
    if code is None and done:
        figures["extrapolated_wall_s"] = round(wall / done * expected_tasks, 1)
    return figures


def _dbt_executable() -> str:
    return os.environ.get("AIRLOCK_DBT_EXECUTABLE") or str(REPO / ".venv-dbt" / "bin" / "dbt")


def run() -> dict[str, Any]:
    """Plain dbt build vs a full Airflow run of the same project (WATCHER under the scheduler; LOCAL capped)."""
    from bench._dbt_overhead_watcher import measure

    work = Path(tempfile.mkdtemp(prefix="airlock-bench-overhead-"))
    try:
        project = generate(work / "dbt_project", N_MODELS)
        (work / "dags").mkdir()
        (work / "dags" / "bench_dbt_overhead.py").write_text(DAG_FILE)
        env = _env(project, work, "local")
        Path(env["AIRLOCK_WAREHOUSE_DIR"]).mkdir(parents=True)
        parse_s = _dbt(project, env, "parse")
        # As Cosmos renders from the manifest, `make manifest` has run; plain dbt gets a warm partial parse too.
        plain_s = _dbt(project, env, "build", "--vars", VARS)
        figures: dict[str, Any] = {
            "models": N_MODELS,
            "dbt_parse_s": round(parse_s, 1),
            "plain_dbt_build_s": round(plain_s, 1),
            "load_average_1m_after_plain": round(os.getloadavg()[0], 2),
        }
        watcher = measure(work, project, work / "dags", _dbt_executable(), WATCHER_TIMEOUT_S)
        figures["airflow_watcher"] = watcher
        if watcher.get("succeeded"):
            figures["airflow_watcher_overhead_x"] = round(watcher["wall_s"] / plain_s, 2)
        if watcher.get("warm_wall_s"):
            figures["airflow_watcher_warm_overhead_x"] = round(watcher["warm_wall_s"] / plain_s, 2)
        if os.environ.get("AIRLOCK_BENCH_LOCAL", "1") != "0":
            local = _dags_test(env, work / "local.log", expected_tasks=N_MODELS + 1)
            figures["airflow_local_build"] = local
            figures["airflow_local_overhead_x"] = round(local.get("extrapolated_wall_s", local["wall_s"]) / plain_s, 1)
            figures["airflow_local_s_per_task"] = round(local["wall_s"] / max(1, local["tasks_done"]), 2)
        else:
            figures["airflow_local_build"] = "skipped (AIRLOCK_BENCH_LOCAL=0)"
        figures["load_average_1m"] = round(os.getloadavg()[0], 2)
        figures.update(_verdict(figures, plain_s))
        return figures
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _verdict(figures: dict[str, Any], plain_s: float) -> dict[str, Any]:
    """Recommend the fastest mode that completed a run; the target is <= 1.5x plain `dbt build`."""
    watcher = figures["airflow_watcher"]
    local = figures.get("airflow_local_build")
    if watcher.get("succeeded"):
        mode, wall = "watcher", watcher.get("warm_wall_s") or watcher["wall_s"]
        how = f"warm run under the scheduler; cold first run {watcher['wall_s']:.0f}s"
    elif isinstance(local, dict):
        mode = "local"
        wall = local.get("extrapolated_wall_s", local["wall_s"])
        how = "extrapolated under dags test" if "extrapolated_wall_s" in local else "under dags test"
    else:
        return {
            "recommended_mode": None,
            "target_met": False,
            "summary": f"{N_MODELS} models: plain dbt build {plain_s:.1f}s; no Airflow mode completed "
            f"(watcher: {watcher.get('run_state') or watcher.get('error', 'not complete')})",
        }
    ratio = wall / plain_s
    why = (
        ""
        if watcher.get("succeeded")
        else (f"; watcher did not succeed ({watcher.get('run_state') or watcher.get('error', '?')[:80]})")
    )
    return {
        "recommended_mode": mode,
        "recommended_wall_s": round(wall, 1),
        "recommended_overhead_x": round(ratio, 2),
        "target_x": TARGET_X,
        "target_met": ratio <= TARGET_X,
        "summary": f"{N_MODELS} models: plain dbt build {plain_s:.1f}s vs Airflow {mode} {wall:.0f}s ({how}) "
        f"= {ratio:.2f}x (target <= {TARGET_X}x){why}",
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
