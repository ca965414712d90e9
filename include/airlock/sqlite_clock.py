"""A `now()` with sub-second precision for Airflow's SQLite metadata database (the local stack's default).

Why: SQLAlchemy renders `func.now()` on SQLite as `CURRENT_TIMESTAMP`, which has whole seconds
(`2026-11-28 00:08:11`), while Airflow stores its datetimes with microseconds
(`2026-11-28 00:08:11.528798`), and SQLite compares them as text. The scheduler starts a queued run,
and examines a running one, only where `run_after <= now()` (`DagRun.get_queued_dag_runs_to_set_running`,
`DagRun.get_running_dag_runs_to_examine`). An asset-triggered run's `run_after` is the moment it was
created, so on SQLite it waits for the next whole second before it starts: 0.5 s on average and up to
1 s, twice per batch (the router's run, then the processing run). Seen in `make demo`'s metadata DB:
three processing runs queued at 00:08:11.52-.53 all started at 00:08:12.08; one queued at 00:08:15.77
started at 00:08:16.10. PostgreSQL's `now()` carries microseconds, so production (Astro, MWAA) never
waits, and nothing changes there: this rendering applies to the SQLite dialect only.

Wiring: every Airflow process imports `[database] sql_alchemy_connect_args` before it creates its
engine (`airflow.settings.configure_orm`), so the local stack points that option at `CONNECT_ARGS`
below, and importing this module registers the rendering in that process. It stays a configuration
option (no `airflow_local_settings.py` of ours), so a project's own local settings keep working.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import functions

# What `[database] sql_alchemy_connect_args` names; Airflow adds `check_same_thread` to it for SQLite.
CONNECT_ARGS: dict[str, Any] = {}
SETTING = f"{__name__}.CONNECT_ARGS"

# SQLite's clock has milliseconds (`%f` is SS.SSS). Padded to Airflow's six digits, it compares as
# text with the stored values, and it never runs ahead of the real time.
SUBSECOND_NOW = "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')"


@compiles(functions.now, "sqlite")
def _now_with_subseconds(element: functions.now, compiler: Any, **kw: Any) -> str:
    return SUBSECOND_NOW
