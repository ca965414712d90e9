"""airlock.preload through Python's real forkserver, the way the scheduler's LocalExecutor uses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# What `[scheduler] mp_start_method = forkserver` + `mp_forkserver_preload = airlock.preload` does:
# workers come from a forkserver that imported the preload first. The worker reports what it holds.
PROBE = textwrap.dedent(
    """
    import json, multiprocessing, sys

    def report(queue):
        wanted = ("airlock.tasks", "boto3", "cosmos.operators.local", "airflow.sdk.execution_time.task_runner")
        queue.put({name: name in sys.modules for name in wanted})

    if __name__ == "__main__":
        multiprocessing.set_start_method("forkserver")
        multiprocessing.set_forkserver_preload(["airlock.preload"])
        queue = multiprocessing.Queue()
        worker = multiprocessing.Process(target=report, args=(queue,))
        worker.start()
        print(json.dumps(queue.get(timeout=120)))
        worker.join(30)
        sys.exit(worker.exitcode)
    """
)


def _run_probe(tmp_path: Path, dags_folder: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRLOCK_HOME": str(REPO),
        "PYTHONPATH": str(REPO / "include"),
    }
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    return subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)


def test_workers_inherit_the_modules_the_kits_tasks_import(tmp_path: Path) -> None:
    done = _run_probe(tmp_path, REPO / "dags")
    assert done.returncode == 0, done.stderr[-3000:]
    held = json.loads(done.stdout.strip().splitlines()[-1])
    assert held == dict.fromkeys(held, True), held
    assert "airlock.preload: task modules loaded" in done.stdout + done.stderr


def test_a_broken_dag_file_leaves_the_forkserver_serving(tmp_path: Path) -> None:
    """A DAG file that fails to import is reported, and the workers still start (with less preloaded)."""
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "broken.py").write_text("from airflow.sdk import DAG\nraise RuntimeError('half-edited DAG')\n")
    done = _run_probe(tmp_path, dags)
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout + done.stderr
    assert "DAG files with import errors" in output and "broken.py" in output, output[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["airlock.tasks"] is True
