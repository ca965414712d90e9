"""The assets that connect the DAGs: `landing` (watched on SQS) and `snapshot/<dataflow>` (partitioned).

Built from settings and the registry's file names only, so DAG parsing stays cheap and offline.
"""

from __future__ import annotations

from collections.abc import Iterable

from airflow.sdk import Asset, AssetWatcher

from airlock.settings import Settings
from airlock.tenants import Dataflow

LANDING = "landing"


def landing_asset(settings: Settings, tenant_ids: Iterable[str]) -> Asset:
    """The landing zone, with one SQS watcher per tenant queue (none when the landing zone is a folder).

    The stock SQS trigger sleeps `waiter_delay` (60 s by default) after an empty poll and polls
    for only 1 s; long polling plus a short delay takes the hint-to-router time to about a second.
    """
    watchers = []
    if settings.queue_url_template:
        from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

        watchers = [
            AssetWatcher(
                name=f"sqs_{tenant}",
                trigger=MessageQueueTrigger(
                    scheme="sqs",
                    sqs_queue=settings.queue_url(tenant),
                    aws_conn_id=settings.aws_conn_id,
                    max_messages=10,
                    # Long polling returns as soon as a message arrives: it bounds API calls, not latency.
                    wait_time_seconds=settings.watcher_long_poll,
                    waiter_delay=settings.watcher_waiter_delay,
                ),
            )
            for tenant in tenant_ids
        ]
    return Asset(name=LANDING, uri="airlock://landing", watchers=watchers)


def snapshot_asset(flow: Dataflow) -> Asset:
    """Partitioned by `<tenant>|<batch_id>`: one processing run per batch."""
    return Asset(name=flow.asset_name, uri=f"airlock://{flow.asset_name}")
