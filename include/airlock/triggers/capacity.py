"""How many triggerer slots the kit needs, and whether the configured triggerers have them.

Slots go to (docs/deploy.md, "Sizing the triggerer"):
- one queue watcher per notification queue: the shared queue plus one per dedicated tenant;
- in WATCHER dbt mode, one deferred model task per dbt model of every processing run that can be
  active at once: `processing_max_active_runs` x (models of the dataflow), summed over dataflows.

The router DAG refuses to parse when the watchers alone do not fit (`check_watchers`); `airlock
capacity` adds the model tasks from the dbt manifest and fails when the total does not fit.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from airlock.errors import ConfigError
from airlock.settings import Settings
from airlock.tenants import Dataflow

REPLICAS_VAR = "AIRLOCK_TRIGGERER_REPLICAS"
"""How many triggerers the deployment runs (Astro: triggerer replicas; MWAA: minimum triggerers)."""


def triggerer_capacity(environ: Mapping[str, str] | None = None) -> int:
    """Slots of all triggerers: `[triggerer] capacity` (Airflow's config) x AIRLOCK_TRIGGERER_REPLICAS."""
    from airflow.configuration import conf

    env = os.environ if environ is None else environ
    try:
        replicas = int(env.get(REPLICAS_VAR, "1"))
    except ValueError:
        raise ConfigError(f"{REPLICAS_VAR}={env.get(REPLICAS_VAR)!r}: give the number of triggerers") from None
    return conf.getint("triggerer", "capacity") * max(replicas, 1)


def watcher_count(settings: Settings) -> int:
    return len(settings.watched_queues())


def check_watchers(settings: Settings, capacity: int | None = None) -> int:
    """Refuse (at parse time) a deployment whose queue watchers alone fill the triggerers."""
    watchers = watcher_count(settings)
    if not watchers:
        return 0
    capacity = triggerer_capacity() if capacity is None else capacity
    if watchers >= capacity:
        raise ConfigError(
            f"{watchers} queue watchers (1 shared queue + {len(settings.dedicated_tenants)} dedicated tenants) "
            f"need more than the triggerers' {capacity} slots, and dbt model tasks need slots too. Fix: raise "
            f"[triggerer] capacity or {REPLICAS_VAR} (docs/deploy.md, 'Sizing the triggerer'), or move tenants "
            "to the standard tier."
        )
    return watchers


@dataclass(frozen=True)
class TriggerBudget:
    """The slots needed at full concurrency against the slots configured."""

    capacity: int
    watchers: int
    model_tasks: dict[str, int] = field(default_factory=dict)
    """Per dataflow: deferred WATCHER model tasks when `max_active_runs` runs are active (0 outside WATCHER)."""

    @property
    def needed(self) -> int:
        return self.watchers + sum(self.model_tasks.values())

    @property
    def fits(self) -> bool:
        return self.needed <= self.capacity

    def summary(self) -> str:
        models = ", ".join(f"{flow} {n}" for flow, n in sorted(self.model_tasks.items())) or "none"
        verdict = "fits" if self.fits else "DOES NOT FIT"
        return (
            f"triggerer slots: {self.needed} needed of {self.capacity} ({verdict}): {self.watchers} queue watchers "
            f"+ {sum(self.model_tasks.values())} WATCHER model tasks at full concurrency ({models})"
        )


def model_counts(manifest_path: Path, dataflows: Mapping[str, Dataflow]) -> dict[str, int]:
    """dbt models per dataflow (models carrying the dataflow's `dbt_tag`), from the built manifest."""
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the dbt manifest {manifest_path} ({exc}). Fix: run `make manifest`.") from None
    models = [n for n in manifest.get("nodes", {}).values() if n.get("resource_type") == "model"]
    return {name: sum(1 for n in models if flow.dbt_tag in (n.get("tags") or [])) for name, flow in dataflows.items()}


def budget(
    settings: Settings,
    dataflows: Mapping[str, Dataflow],
    *,
    manifest_path: Path | None,
    watcher_mode: bool,
    capacity: int | None = None,
) -> TriggerBudget:
    """The full budget: watchers, plus WATCHER model tasks of every run that may be active at once."""
    counts = model_counts(manifest_path, dataflows) if watcher_mode and manifest_path else {}
    tasks = {flow: n * settings.processing_max_active_runs for flow, n in counts.items()}
    return TriggerBudget(
        capacity=triggerer_capacity() if capacity is None else capacity,
        watchers=watcher_count(settings),
        model_tasks=tasks,
    )
