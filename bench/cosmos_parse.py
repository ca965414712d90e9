"""Parse time of the processing DAG file on a 600-model project: prebuilt manifest vs `dbt ls` (cold).

Each measurement is a fresh Python process that imports Airflow, then fills a DagBag from a folder holding
only dags/processing.py, pointed at a synthetic project (bench/synthetic_dbt.py) through
AIRLOCK_DBT_PROJECT_DIR. The manifest variant is the DAG as deployed (one build per run: the dataflow's
nodes read from the manifest); the DBT_LS variant renders Cosmos's per-model group from `dbt ls`
(AIRLOCK_DBT_MODE=local, `per_model.task_group(load_method=LoadMode.DBT_LS)`) in that process. "Cold" means
no Cosmos dbt-ls cache and no target/partial_parse.msgpack (Cosmos reuses it even with its cache off,
FIELD-NOTES). Target: manifest <= 1.0 s and >= 10x faster than dbt ls cold.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.synthetic_dbt import generate

REPO = Path(__file__).resolve().parents[1]
N_MODELS = int(os.environ.get("AIRLOCK_BENCH_MODELS", "600"))
REPEATS = int(os.environ.get("AIRLOCK_BENCH_REPEATS", "3"))

PROBE = """
import json, resource, sys, time
started = time.perf_counter()
import airflow  # noqa
imported = time.perf_counter()
mode = sys.argv[1]
if mode == "dbt_ls":
    import functools, os
    from cosmos.constants import LoadMode
    import airlock.transform.per_model as per_model
    os.environ["AIRLOCK_DBT_MODE"] = "local"  # Cosmos renders every model, listed by `dbt ls`
    per_model.task_group = functools.partial(per_model.task_group, load_method=LoadMode.DBT_LS)
from airflow.dag_processing.dagbag import DagBag
before, cpu_before = time.perf_counter(), time.process_time()
bag = DagBag(sys.argv[2])
done, cpu_done = time.perf_counter(), time.process_time()
print(json.dumps({
    "import_airflow_s": imported - started,
    "dagbag_s": done - before,
    "dagbag_cpu_s": cpu_done - cpu_before,
    "process_s": done - started,
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "errors": {k: v[-500:] for k, v in bag.import_errors.items()},
    "tasks": {d.dag_id: len(d.tasks) for d in bag.dags.values()},
}))
"""


def _env(project: Path, work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRLOCK_"))}
    return {
        **env,
        "PYTHONPATH": str(REPO / "include"),
        "AIRLOCK_HOME": str(REPO),
        "AIRLOCK_DBT_PROJECT_DIR": str(project),
        "AIRLOCK_WAREHOUSE_DIR": str(work / "warehouse"),
        "AIRFLOW_HOME": str(work / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "false",
        # dbt ls cold exceeds the default 30 s import timeout with two DAGs in the file: measure it anyway.
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "600",
        "AIRFLOW__COSMOS__ENABLE_CACHE": "false",
        "AIRFLOW__COSMOS__CACHE_DIR": str(work / "cosmos-cache"),
        "DO_NOT_TRACK": "1",
    }


def _probe(mode: str, dags: Path, env: dict[str, str]) -> dict[str, Any]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", PROBE, mode, str(dags)], env=env, capture_output=True, text=True, timeout=900
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{mode} probe failed: {result.stderr[-2000:]}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    if figures["errors"]:
        raise RuntimeError(f"{mode} probe: DAG import errors {figures['errors']}")
    return {**figures, "wall_s": wall}


def run() -> dict[str, Any]:
    """Generate the project, build its manifest, then time both load modes in fresh processes."""
    work = Path(tempfile.mkdtemp(prefix="airlock-bench-parse-"))
    try:
        project = generate(work / "dbt_project", N_MODELS)
        env = _env(project, work)
        (work / "warehouse").mkdir()
        dags = work / "dags"
        dags.mkdir()
        shutil.copy(REPO / "dags" / "processing.py", dags / "processing.py")
        dbt = os.environ.get("AIRLOCK_DBT_EXECUTABLE") or str(REPO / ".venv-dbt" / "bin" / "dbt")
        started = time.perf_counter()
        subprocess.run(
            [dbt, "parse", "--project-dir", str(project), "--profiles-dir", str(project), "--quiet"],
            env=env,
            check=True,
            timeout=600,
        )
        dbt_parse_s = time.perf_counter() - started
        nodes = len(json.loads((project / "target" / "manifest.json").read_text())["nodes"])

        manifest_runs = [_probe("manifest", dags, env) for _ in range(REPEATS)]
        ls_runs = []
        for _ in range(max(1, REPEATS - 2)):
            (project / "target" / "partial_parse.msgpack").unlink(missing_ok=True)
            ls_runs.append(_probe("dbt_ls", dags, env))
        best = min(manifest_runs, key=lambda r: r["dagbag_s"])
        ls_best = min(ls_runs, key=lambda r: r["dagbag_s"])
        speedup = ls_best["dagbag_s"] / best["dagbag_s"]
        return {
            "models": N_MODELS,
            "dbt_nodes": nodes,
            "dbt_parse_cold_s": round(dbt_parse_s, 2),
            "tasks_per_dag": best["tasks"],
            "manifest_dagbag_s": round(best["dagbag_s"], 3),
            "manifest_dagbag_s_all": [round(r["dagbag_s"], 3) for r in manifest_runs],
            "manifest_dagbag_cpu_s": round(best["dagbag_cpu_s"], 3),
            "manifest_import_airflow_s": round(best["import_airflow_s"], 3),
            "manifest_process_wall_s": round(best["wall_s"], 3),
            "manifest_peak_rss_mib": round(best["peak_rss_mib"], 1),
            "dbt_ls_cold_dagbag_s": round(ls_best["dagbag_s"], 3),
            "dbt_ls_cold_dagbag_s_all": [round(r["dagbag_s"], 3) for r in ls_runs],
            "dbt_ls_cold_dagbag_cpu_s": round(ls_best["dagbag_cpu_s"], 3),
            "dbt_ls_cold_process_wall_s": round(ls_best["wall_s"], 3),
            "dbt_ls_cold_peak_rss_mib": round(ls_best["peak_rss_mib"], 1),
            "speedup_x": round(speedup, 1),
            "load_average_1m": round(os.getloadavg()[0], 2),
            "note": "DagBag time of dags/processing.py (2 DAGs: orders selects the 600 models, inventory 3); "
            "peak RSS is the probe process's ru_maxrss (dbt ls runs in child processes, not counted).",
            "target_met": best["dagbag_s"] <= 1.0 and speedup >= 10,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
