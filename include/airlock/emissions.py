"""The intake's side of Airflow's asset events: emit only real ones, and ask which were recorded.

Two Airflow 3.3 facts shape this module (airflow/sdk/execution_time/task_runner.py,
`_handle_current_task_success`, and airflow/models/taskinstance.py, `register_asset_changes_in_db`):
- on success, *every* outlet of a task gets an event, with or without partitions added; a router
  or reconcile run that committed nothing would emit an empty `snapshot/<dataflow>` event for each
  dataflow. The task's outlets are read from the running task object when it succeeds, so
  `only_emitting` narrows them to the assets that got partition keys in this run;
- events a task recorded can be read back by any task that declares the asset as an inlet
  (`inlet_events[asset]`, through the execution API: no metadata-database access, so on Astro and
  MWAA too). An event recorded for a key means its run exists or is queued: `InletEventLedger`
  answers "was the batch's event recorded?" so a recovery never multiplies runs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from airlock.assets import snapshot_asset
from airlock.intake import IntakeReport
from airlock.landing import BatchRef
from airlock.tenants import Registry

log = logging.getLogger(__name__)


def emit(report: IntakeReport, registry: Registry, outlet_events: Any, task: Any = None) -> list[str]:
    """One partitioned asset event per newly complete batch (`snapshot/<dataflow>`, key `tenant|batch`).

    With `task` (the running task), outlets that got no key are dropped, so nothing else is emitted.
    Returns the names of the assets emitted.
    """
    emitted = []
    for flow in registry.dataflows.values():
        if keys := report.emitted(flow.dataflow):
            outlet_events[snapshot_asset(flow)].add_partitions(keys)
            emitted.append(flow.asset_name)
            log.info("emitted %s for %s", flow.asset_name, keys)
    if task is not None:
        only_emitting(task, emitted)
    return emitted


def only_emitting(task: Any, asset_names: Iterable[str]) -> None:
    """Keep only the outlets named in `asset_names` on the running task (see the module docstring)."""
    wanted = set(asset_names)
    outlets = list(getattr(task, "outlets", None) or [])
    kept = [o for o in outlets if getattr(o, "name", None) in wanted]
    if len(kept) != len(outlets):
        task.outlets = kept
        log.info("no event for %s: nothing committed for them", sorted({o.name for o in outlets} - wanted))


class InletEventLedger:
    """Whether Airflow recorded a batch's `snapshot/<dataflow>` event, read from the task's inlet events.

    One query per dataflow and run (events after the oldest snapshot asked about), cached. Any error
    answers None ("cannot tell"), and the intake falls back to its `_EMITTED.json` note.
    """

    def __init__(self, inlet_events: Any, registry: Registry) -> None:
        self.inlet_events = inlet_events
        self.registry = registry
        self._seen: dict[str, tuple[datetime, set[str]]] = {}

    def emitted(self, batch: BatchRef, since: datetime) -> bool | None:
        flow = self.registry.dataflows.get(batch.dataflow)
        if flow is None or self.inlet_events is None:
            return None
        cached = self._seen.get(flow.dataflow)
        if cached is None or since < cached[0]:
            try:
                events = self.inlet_events[snapshot_asset(flow)].after(since.isoformat())
                keys = {e.partition_key for e in events if getattr(e, "partition_key", None)}
            except Exception as exc:  # no inlet declared, API unreachable: cannot tell
                log.warning("cannot read %s events from Airflow (%s): falling back to markers", flow.asset_name, exc)
                return None
            cached = self._seen[flow.dataflow] = (since, keys)
        return batch.partition_key in cached[1]
