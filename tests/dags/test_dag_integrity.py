"""DAG integrity: the folder imports cleanly, offline, with no dbt at parse time, and stays flat in tenants."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"

# Parse the DAG folder in a fresh interpreter in which any network connection or dbt command
# (dbt ls!) raises: the DAGs must parse anyway, and the report says what they look like.
PROBE = textwrap.dedent(
    """
    import json, socket, subprocess, sys
    attempts = []
    def refuse_connect(self, address, *a, **k):
        attempts.append(f"connect {address}")
        raise OSError("network access at DAG parse time")
    socket.socket.connect = refuse_connect
    real_popen = subprocess.Popen
    class RefuseDbt(real_popen):
        def __init__(self, args, *a, **k):
            if "dbt" in str(args):
                attempts.append(f"subprocess {args}")
                raise OSError("dbt at DAG parse time")
            super().__init__(args, *a, **k)
    subprocess.Popen = RefuseDbt
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(sys.argv[1])
    dags = {}
    for dag_id, dag in bag.dags.items():
        dags[dag_id] = {
            "tags": sorted(dag.tags),
            "tasks": {
                t.task_id: {"retries": t.retries, "type": type(t).__name__, "pool": t.pool,
                            "downstream": sorted(t.downstream_task_ids)}
                for t in dag.tasks
            },  # fmt: skip
            "timetable": type(dag.timetable).__name__,
        }
    print(json.dumps({"errors": bag.import_errors, "dags": dags, "attempts": attempts}))
    """
)


def parse(tmp_path: Path, **env: str) -> dict:
    environ = {
        **os.environ,
        "PYTHONPATH": str(REPO / "include"),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        **env,
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(DAGS)], env=environ, capture_output=True, text=True, check=True, cwd=tmp_path
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def parsed(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("dagbag")
    return parse(
        tmp,
        AIRLOCK_SHARED_QUEUE_URL="https://sqs.eu-west-1.amazonaws.com/1/airlock-prod-shared-landing",
        AIRLOCK_QUEUE_URL_TEMPLATE="https://sqs.eu-west-1.amazonaws.com/1/airlock-prod-{tenant}-landing",
        AIRLOCK_DEDICATED_TENANTS="globex",
    )


def test_no_import_errors_and_nothing_touched_at_parse_time(parsed):
    assert parsed["errors"] == {}
    assert parsed["attempts"] == [], "DAG parsing must not open connections or start processes (dbt ls)"


def test_expected_dags_one_per_dataflow(parsed):
    dataflows = sorted(p.stem for p in (REPO / "dags" / "registry" / "dataflows").glob("*.yaml"))
    assert sorted(parsed["dags"]) == sorted(
        ["airlock_router", "airlock_reconcile", *[f"process_{d}" for d in dataflows]]
    )
    assert list(parsed["dags"]["airlock_router"]["tasks"]) == ["route"], "one task instance per router run"
    for dataflow in dataflows:
        dag = parsed["dags"][f"process_{dataflow}"]
        assert dag["timetable"] == "PartitionedAssetTimetable"
        assert dag["tasks"]["dbt_build"]["type"] == "SubprocessDbtBuildOperator", "one dbt build per run (default)"
        assert "record_failure" not in dag["tasks"], "a failed batch fails the run: no one_failed leaf"
        writers = {t: v["pool"] for t, v in dag["tasks"].items() if t in ("load", "dbt_build")}
        assert set(writers.values()) == {"airlock_duckdb"}, "DuckDB writers take turns on the local target"


def test_every_dag_tagged_and_every_task_retries(parsed):
    for dag_id, dag in parsed["dags"].items():
        assert "airlock" in dag["tags"], dag_id
        for task_id, task in dag["tasks"].items():
            assert task["retries"] >= 1, f"{dag_id}.{task_id} has no retries"


def test_adding_tenants_adds_no_dag(tmp_path, parsed):
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    template = (REPO / "dags" / "registry" / "tenants" / "acme.yaml").read_text()
    for i in range(50):
        (tenants / f"t{i:03d}.yaml").write_text(template.replace("tenant_id: acme", f"tenant_id: t{i:03d}"))
    many = parse(
        tmp_path,
        AIRLOCK_TENANTS_DIR=str(tenants),
        AIRLOCK_SHARED_QUEUE_URL="https://sqs.eu-west-1.amazonaws.com/1/q-shared",
        AIRLOCK_QUEUE_URL_TEMPLATE="https://sqs.eu-west-1.amazonaws.com/1/q-{tenant}",
    )
    assert many["errors"] == {}
    assert sorted(many["dags"]) == sorted(parsed["dags"])
