"""Baseline for bench/event_scale.py: the `landing` asset before ADR 0010, one queue and one watcher per tenant.

Not part of the kit. bench/event_scale.py copies this file into a throwaway copy of dags/ and points
the router at it, so today's design is measured beside the shared queue in the same run, with the
router otherwise unchanged. Each tenant's queue is watched by the stock `MessageQueueTrigger`
(amazon provider): it deletes a message when it receives it, and sleeps `waiter_delay` after an
empty poll; the settings are the kit's former defaults (10 s long poll, 1 s delay, ADR 0002).
"""

from __future__ import annotations

import os
from typing import Any


def landing_asset(settings: Any) -> Any:
    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger
    from airflow.sdk import Asset, AssetWatcher

    from airlock.tenants import tenant_ids

    template = os.environ["AIRLOCK_BASELINE_QUEUE_URL_TEMPLATE"]
    watchers = [
        AssetWatcher(
            name=f"sqs_{tenant}",
            trigger=MessageQueueTrigger(
                scheme="sqs",
                sqs_queue=template.format(tenant=tenant),
                aws_conn_id=settings.aws_conn_id,
                max_messages=10,
                wait_time_seconds=10,
                waiter_delay=1,
            ),
        )
        for tenant in tenant_ids(settings.tenants_dir)
    ]
    return Asset(name="landing", uri="airlock://landing", watchers=watchers)
