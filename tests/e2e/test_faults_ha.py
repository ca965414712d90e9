"""HA as Astro and MWAA run it: two schedulers and two triggerers on a PostgreSQL metadata database.

The usual latency is measured first (batches one at a time, upload to processing-run start). Then,
while a batch is in flight, one scheduler and the triggerer that holds the SQS watchers are
SIGKILLed with their process trees, and never restarted. Every batch ends with exactly one
snapshot and one successful run, and the batches after the kill start within 2x the usual latency.

Airflow moves a dead triggerer's triggers to a live one once its heartbeat is older than
`[triggerer] triggerer_health_check_threshold`, and adopts a dead scheduler's tasks after
`[scheduler] scheduler_health_check_threshold`; both are 30 s by default and 10 s here (set them
the same way in a deployment that wants a fast failover: docs/deploy.md).
"""

from __future__ import annotations

import os
import shutil
import statistics
from pathlib import Path

import pytest

from airlock.demo.runner import DAGS
from airlock.devstack.local_aws import free_port
from airlock.devstack.postgres import LocalPostgres
from airlock.devstack.stack import LocalStack
from airlock.settings import load_settings

from .faults import assert_once, inventory, kill_component, upload, wait_processed

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.timeout(2400)]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ha():
    state = REPO / "var" / "e2e" / f"faults-ha-{os.getpid()}"
    shutil.rmtree(state, ignore_errors=True)
    extra = {
        "AIRLOCK_WAREHOUSE_DIR": str(state / "warehouse"),
        "AIRLOCK_RECONCILE_INTERVAL": "10s",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "10",
        "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "10",
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
    }
    with LocalPostgres(database="airflow", preload_pg_stat_statements=False) as pg:
        url = pg.sqlalchemy_url()
        assert url.startswith("postgresql+psycopg://")  # psycopg 3: what Airflow 3.3 uses when it is installed
        with LocalStack(
            state,
            ["acme", "globex", "initech"],
            port=free_port(),
            extra_env=extra,
            wait_dags=DAGS,
            database_url=url,
            schedulers=2,
            triggerers=2,
        ) as stack:
            stack.pg = pg  # type: ignore[attr-defined]
            yield stack
        assert not (stack.stop_report and stack.stop_report.survivors), stack.stop_report


def _watcher_holder(stack: LocalStack, tenant: str) -> str:
    """The triggerer that runs the watcher of the tenant's queue: the last to log it (the one to kill).

    The tenant's queue is its own if dedicated, else the standard tier's shared one. The job table of
    Airflow 3 records no pid, so the triggerers' own logs tell which one holds it.
    """
    url = load_settings(stack.env).queue_url(tenant)
    assert url, f"{tenant} has no notification queue: {stack.env.get('AIRLOCK_SHARED_QUEUE_URL')!r}"
    queue = url.rsplit("/", 1)[-1]
    latest: dict[str, str] = {}
    for proc in stack.supervisor.processes:
        if proc.name.startswith("triggerer"):
            lines = [line for line in proc.log_path.read_text(errors="replace").splitlines() if queue in line]
            if lines:
                latest[proc.name] = lines[-1][:32]  # the ISO timestamp each line starts with
    assert latest, f"no triggerer logged a watcher for {queue}"
    return max(latest, key=latest.__getitem__)


def test_killing_one_scheduler_and_one_triggerer_loses_nothing_and_keeps_latency(ha):
    health = ha.api.health()
    assert health["metadatabase"]["status"] == "healthy"
    wait_processed(ha, upload(ha, inventory("initech", "ha-warm-up")))  # a fresh stack's first batch is slower
    baseline = []
    for i in range(3):
        batch = upload(ha, inventory("initech", f"ha-base-{i}"))
        wait_processed(ha, batch)
        baseline.append(batch.latency)
    usual = statistics.median(baseline)

    holder = _watcher_holder(ha, "initech")
    in_flight = upload(ha, inventory("initech", "ha-in-flight"))
    killed = kill_component(ha, "scheduler") + kill_component(ha, holder)
    print(f"\nkilled scheduler and {holder} ({len(killed)} processes) with a batch in flight")
    wait_processed(ha, in_flight, timeout=300)
    after = []
    for i in range(3):
        batch = upload(ha, inventory("initech", f"ha-after-{i}"))
        wait_processed(ha, batch)
        after.append(batch)
    latencies = [b.latency for b in after]
    print(
        f"latency (upload -> run start): usual {[round(x, 1) for x in baseline]}, in flight at the kill "
        f"{in_flight.latency:.1f}, after {[round(x, 1) for x in latencies]}"
    )
    assert_once(ha, in_flight, *after)
    assert statistics.median(latencies) <= 2 * usual, (baseline, latencies)
    alive = sorted(p.name for p in ha.supervisor.processes if p.popen.poll() is None)
    assert "scheduler" not in alive and holder not in alive and "scheduler-2" in alive, alive
