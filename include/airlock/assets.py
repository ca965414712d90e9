"""The assets that connect the DAGs: `landing` (watched on SQS) and `snapshot/<dataflow>` (partitioned).

Built from settings only, so DAG parsing stays cheap and offline whatever the number of tenants.
"""

from __future__ import annotations

from airflow.sdk import Asset, AssetWatcher

from airlock.settings import Settings
from airlock.tenants import Dataflow
from airlock.triggers.capacity import check_watchers

LANDING = "landing"
LANDING_URI = "airlock://landing"


def landing_asset(settings: Settings) -> Asset:
    """The landing zone, watched on the shared queue and on each dedicated tenant's queue.

    One `SqsQueueTrigger` per queue: 1 + (dedicated tenants) triggers, however many standard tenants
    share the shared queue (ADR 0010). No watchers when the landing zone is a folder: the sweep finds batches.
    """
    from airlock.triggers.sqs import SqsQueueTrigger

    check_watchers(settings)
    watchers = [
        AssetWatcher(
            name=name,
            trigger=SqsQueueTrigger(
                queue_url=url,
                aws_conn_id=settings.aws_conn_id,
                wait_time_seconds=settings.watcher_long_poll,
                visibility_timeout=settings.watcher_visibility_timeout,
            ),
        )
        for name, url in settings.watched_queues().items()
    ]
    return Asset(name=LANDING, uri=LANDING_URI, watchers=watchers)


def landing_inlet() -> Asset:
    """The landing asset's key (name and URI) for reading its events from a task's `inlet_events`.

    Only a key: the DAG declares `landing_asset(settings)` itself as the inlet. An inlet without the
    watchers would replace the asset's definition, and the watchers with it.
    """
    return Asset(name=LANDING, uri=LANDING_URI)


def snapshot_asset(flow: Dataflow) -> Asset:
    """Partitioned by `<tenant>|<batch_id>`: one processing run per batch."""
    return Asset(name=flow.asset_name, uri=f"airlock://{flow.asset_name}")
