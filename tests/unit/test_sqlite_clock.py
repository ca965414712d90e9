"""The local stack's SQLite metadata DB: a run created now is due now, not at the next whole second.

Runs real Airflow processes with the stack's own settings (`airflow_environment`): `airflow db migrate`,
then Airflow's session and Airflow's column type in a fresh process, as the scheduler has them.
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

# What the scheduler's queries compare (`DagRun.run_after <= func.now()`), with Airflow's own column
# type, a value taken just before, and the scheduler's two queries run for real on the migrated DB.
PROBE = textwrap.dedent(
    """
    import json
    from datetime import timedelta
    from sqlalchemy import String, func, literal, select
    from airflow.models.dagrun import DagRun
    from airflow.utils import timezone
    from airflow.utils.session import create_session
    from airflow.utils.sqlalchemy import UtcDateTime

    with create_session() as session:
        created = timezone.utcnow() - timedelta(milliseconds=2)  # SQLite's clock has milliseconds
        due = session.scalar(select(literal(created, UtcDateTime()) <= func.now()))
        now_text = session.scalar(select(func.now().cast(String)))
        list(DagRun.get_queued_dag_runs_to_set_running(session))
        list(DagRun.get_running_dag_runs_to_examine(session))
    print(json.dumps({"due": bool(due), "created": created.isoformat(), "now": now_text}))
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
    # CURRENT_TIMESTAMP would read e.g. "2026-11-28 00:08:11" and `created` would be due a second later.
    assert seen["due"] is True, seen
    assert "." in seen["now"], seen


def test_the_setting_is_only_for_sqlite(tmp_path: Path) -> None:
    """On PostgreSQL (and in production) `now()` already has microseconds: the stack leaves it alone."""
    env = airflow_environment(tmp_path, 18999, database_url="postgresql+psycopg://u@127.0.0.1:5432/airflow")
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS" not in env
