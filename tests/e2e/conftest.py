"""Shared e2e fixtures: a throwaway DAG folder, so the stack is tested apart from the real DAGs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

PROBE_DAGS = textwrap.dedent(
    '''
    """Throwaway airflow DAGs for tests/e2e: one plain DAG, one SQS-watcher DAG (when configured)."""
    import os

    from airflow.sdk import DAG, Asset, AssetWatcher, task

    from airlock.settings import load_settings
    from airlock.triggers.sqs import SqsQueueTrigger

    with DAG("probe_plain", schedule=None):
        @task
        def hello():
            return "ok"
        hello()

    tenant = os.environ.get("AIRLOCK_PROBE_WATCH_TENANT")
    queue = load_settings().queue_url(tenant) if tenant else None
    if queue:
        trigger = SqsQueueTrigger(queue_url=queue, key_prefixes=[f"{tenant}/"])
        probe = Asset("probe_landing", watchers=[AssetWatcher(name=f"probe_{tenant}", trigger=trigger)])
        with DAG("probe_watcher", schedule=[probe]):
            @task
            def seen():
                return "seen"
            seen()
    '''
)


@pytest.fixture(scope="session")
def probe_dags(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DAG folder with `probe_plain` and, if AIRLOCK_PROBE_WATCH_TENANT is set, `probe_watcher`."""
    folder = tmp_path_factory.mktemp("probe_dags")
    (folder / "probe.py").write_text(PROBE_DAGS, encoding="utf-8")
    return folder
