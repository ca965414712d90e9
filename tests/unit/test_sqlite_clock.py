"""The local stack's SQLite metadata DB: a run created now is due now, not at the next whole second.

Runs real Airflow processes with the stack's own settings (`airflow_environment`): `airflow db migrate`,
then the scheduler's own queries in a fresh process, on a run just created.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from airlock.devstack.airflow_stack import airflow_environment

REPO = Path(__file__).resolve().parents[2]

# The scheduler's own two queries, on a run created 2 ms ago (SQLite's clock has milliseconds): a queued
# run is due to start, and once running it is due to be examined. Airflow's models, session and columns.
PROBE = textwrap.dedent(
    """
    import json
    from datetime import UTC, datetime, timedelta
    from sqlalchemy import String, func, select
    from airflow.models.dag import DagModel
    from airflow.models.dagbundle import DagBundleModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunType

    with create_session() as session:
        session.add(DagBundleModel(name="probe"))
        session.flush()
        session.add(DagModel(dag_id="probe", bundle_name="probe", is_paused=False, is_stale=False, max_active_runs=16))
        session.flush()
        created = datetime.now(UTC) - timedelta(milliseconds=2)
        run = DagRun(
            dag_id="probe", run_id="asset_triggered__probe", run_type=DagRunType.ASSET_TRIGGERED,
            state=DagRunState.QUEUED, run_after=created, logical_date=None,
        )
        session.add(run)
        session.flush()
        to_start = [r.run_id for r in DagRun.get_queued_dag_runs_to_set_running(session)]
        run.state = DagRunState.RUNNING
        session.flush()
        to_examine = [r.run_id for r in DagRun.get_running_dag_runs_to_examine(session)]
        now_text = session.scalar(select(func.now().cast(String)))
    print(json.dumps({"to_start": to_start, "to_examine": to_examine, "created": created.isoformat(), "now": now_text}))
    """
)


def _airflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=300)


def test_a_run_created_a_moment_ago_is_due_on_the_stacks_sqlite_db(tmp_path: Path) -> None:
    stack_env = airflow_environment(tmp_path / "state", 18999)
    assert stack_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("sqlite:///")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
        **stack_env,
        "PYTHONPATH": str(REPO / "include"),
    }
    migrated = _airflow(env, "-m", "airflow", "db", "migrate")
    assert migrated.returncode == 0, migrated.stdout[-2000:] + migrated.stderr[-2000:]

    probe = _airflow(env, "-c", PROBE)
    assert probe.returncode == 0, probe.stderr[-3000:]
    seen = json.loads(probe.stdout.strip().splitlines()[-1])
    # With CURRENT_TIMESTAMP ("2026-11-28 00:08:11") both lists stay empty until the next whole second.
    assert seen["to_start"] == ["asset_triggered__probe"], seen
    assert seen["to_examine"] == ["asset_triggered__probe"], seen
    assert "." in seen["now"], seen


def test_the_setting_is_only_for_sqlite(tmp_path: Path) -> None:
    """On PostgreSQL (and in production) `now()` already has microseconds: the stack leaves it alone."""
    env = airflow_environment(tmp_path, 18999, database_url="postgresql+psycopg://u@127.0.0.1:5432/airflow")
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS" not in env
