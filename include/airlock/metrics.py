"""The kit's own metrics, sent as DogStatsD datagrams (tags: tenant, dataflow, env).

Set AIRLOCK_STATSD_ADDRESS=host:port to send them (a Datadog agent, or any StatsD server);
without it they go to the log, so a laptop run still shows them. UDP is fire-and-forget:
a metric can never fail a task.

The metric names below are the contract with the monitors (observability/monitors/*.json) and
the dashboards: emit only these constants, never a literal string, so a rename is one edit.
Tenant-scoped metrics go through `Metrics.for_tenant`, which pins the tenant tag so one
tenant's metric can never carry another tenant's tag.
"""

from __future__ import annotations

import logging
import os
import re
import socket
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

log = logging.getLogger(__name__)

PREFIX: Final = "airlock"

# --- metric names (without PREFIX); every one is tagged tenant, dataflow, env -------------------
FILES_ARRIVED: Final = "files.arrived"
"""count: landing files recorded as arrived (router/reconcile, once per new file)."""
BATCHES_COMPLETED: Final = "batches.completed"
"""count: batches complete and snapshotted (router/reconcile, once per new _MANIFEST.json)."""
BATCHES_PROCESSED: Final = "batches.processed"
"""count: processing runs that succeeded (processing DAG, when writing _DONE.json status success)."""
BATCHES_FAILED: Final = "batches.failed"
"""count: processing runs that failed (processing DAG, when writing _DONE.json status failed)."""
FILES_QUARANTINED: Final = "files.quarantined"
"""count: files moved to quarantine, tag reason:<reason> (router/reconcile)."""
SNAPSHOT_BYTES: Final = "snapshot.bytes"
"""count: bytes copied into one snapshot (router/reconcile, once per new _MANIFEST.json)."""
EVENT_TO_RUN_LATENCY: Final = "event_to_run.latency"
"""timing (ms): the batch's last file arrival → its processing run started (processing DAG)."""
FRESHNESS_SECONDS: Final = "freshness.seconds"
"""gauge: seconds since the tenant's last successful batch of the dataflow (reconcile sweep)."""
BATCHES_LATE: Final = "batches.late"
"""gauge: incomplete batches past the contract's deadline (reconcile sweep)."""
DBT_MODEL_FAILURES: Final = "dbt.model_failures"
"""count: dbt models that errored or failed tests in a run, tag model:<name> (processing DAG's dbt build)."""
DBT_MODEL_RUNS: Final = "dbt.model_runs"
"""count: models (and seeds, snapshots) a dbt build reported, tags model:<name>, status:<success|warn|error|fail|…>."""
DBT_MODEL_ROWS: Final = "dbt.model_rows"
"""gauge: rows of a model's relation after the build (adapter's count, or the runner's for tables), tag model."""
DBT_MODEL_DURATION: Final = "dbt.model_duration"
"""timing (ms): dbt's execution time of a model, tag model."""
INTAKE_ERRORS: Final = "intake.errors"
"""count: exceptions contained to one tenant or batch by the router/reconcile, tag stage:<stage>;
dataflow `_all` when the whole tenant is concerned (its listing, or its invalid tenant file)."""

METRIC_NAMES: Final = frozenset(
    {
        FILES_ARRIVED,
        BATCHES_COMPLETED,
        BATCHES_PROCESSED,
        BATCHES_FAILED,
        FILES_QUARANTINED,
        SNAPSHOT_BYTES,
        EVENT_TO_RUN_LATENCY,
        FRESHNESS_SECONDS,
        BATCHES_LATE,
        DBT_MODEL_FAILURES,
        INTAKE_ERRORS,
        DBT_MODEL_RUNS,
        DBT_MODEL_ROWS,
        DBT_MODEL_DURATION,
    }
)

# DogStatsD reserves ',', '|', '#' and ':' in tags (':' only in the key); newlines end a datagram.
_UNSAFE_TAG = re.compile(r"[,|#\s]")


def full_name(name: str) -> str:
    """The name Datadog shows: `airlock.<name>`."""
    return f"{PREFIX}.{name}"


def default_address(environ: Mapping[str, str] | None = None) -> str | None:
    """AIRLOCK_STATSD_ADDRESS; else Airflow's own StatsD target when Airflow's StatsD is on.

    Why the fallback: on Astro the platform sets AIRFLOW__METRICS__STATSD_HOST/PORT to its
    Datadog agent, and the kit's metrics belong next to Airflow's.
    """
    env = os.environ if environ is None else environ
    if address := env.get("AIRLOCK_STATSD_ADDRESS"):
        return address
    if env.get("AIRFLOW__METRICS__STATSD_ON", "").lower() in ("true", "1"):
        host = env.get("AIRFLOW__METRICS__STATSD_HOST", "localhost")
        return f"{host}:{env.get('AIRFLOW__METRICS__STATSD_PORT', '8125')}"
    return None


def _node_name(unique_id: str) -> str:
    """`model.pkg.fct_orders` -> fct_orders; a test's id ends in a hash, so take the third part."""
    parts = unique_id.split(".")
    return parts[2] if len(parts) >= 3 else unique_id


def _clean(value: object) -> str:
    return _UNSAFE_TAG.sub("_", str(value))


class Metrics:
    """A tiny DogStatsD client: no dependency, one UDP socket, never raises."""

    def __init__(self, address: str | None = None, env: str | None = None) -> None:
        self.address = address if address is not None else default_address()
        self.env = env or os.environ.get("AIRLOCK_ENV", "local")
        self._sock: socket.socket | None = None

    def _datagram(self, name: str, value: float, kind: str, tags: Mapping[str, object] | None) -> str:
        all_tags = {"env": self.env, **(tags or {})}
        tag_text = ",".join(f"{_clean(k).replace(':', '_')}:{_clean(v)}" for k, v in sorted(all_tags.items()))
        return f"{PREFIX}.{name}:{value:g}|{kind}|#{tag_text}"

    def _send(self, datagram: str) -> None:
        if not self.address:
            log.info("metric %s", datagram)
            return
        host, _, port = self.address.rpartition(":")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._sock.sendto(datagram.encode(), (host or "127.0.0.1", int(port)))
        except (OSError, ValueError) as exc:  # a metric must never fail a task
            log.warning("could not send metric %s to %s: %s", datagram, self.address, exc)

    def incr(self, name: str, value: float = 1, tags: Mapping[str, object] | None = None) -> None:
        self._send(self._datagram(name, value, "c", tags))

    def gauge(self, name: str, value: float, tags: Mapping[str, object] | None = None) -> None:
        self._send(self._datagram(name, value, "g", tags))

    def timing(self, name: str, seconds: float, tags: Mapping[str, object] | None = None) -> None:
        self._send(self._datagram(name, seconds * 1000, "ms", tags))

    def for_tenant(self, tenant_id: str, dataflow: str) -> TenantMetrics:
        """A view that always tags tenant and dataflow: the way tenant code should emit."""
        return TenantMetrics(self, tenant_id, dataflow)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class TenantMetrics:
    """Metrics bound to one tenant and dataflow; extra tags cannot override them.

    Why: a per-tenant alert or a tenant-facing dashboard must never show another tenant's
    numbers, so the tenant tag is fixed here rather than passed by every call site.
    """

    _PINNED = frozenset({"tenant", "dataflow", "env"})

    def __init__(self, metrics: Metrics, tenant_id: str, dataflow: str) -> None:
        self.metrics = metrics
        self.tenant_id = tenant_id
        self.dataflow = dataflow

    def _tags(self, extra: Mapping[str, object] | None) -> dict[str, object]:
        clash = self._PINNED.intersection(extra or {})
        if clash:
            raise ValueError(f"tags {sorted(clash)} are set by for_tenant(); do not pass them again")
        return {**(extra or {}), "tenant": self.tenant_id, "dataflow": self.dataflow}

    def incr(self, name: str, value: float = 1, tags: Mapping[str, object] | None = None) -> None:
        self.metrics.incr(name, value, self._tags(tags))

    def gauge(self, name: str, value: float, tags: Mapping[str, object] | None = None) -> None:
        self.metrics.gauge(name, value, self._tags(tags))

    def timing(self, name: str, seconds: float, tags: Mapping[str, object] | None = None) -> None:
        self.metrics.timing(name, seconds, self._tags(tags))

    # Named helpers: one per metric, so call sites read like the issue and cannot mistype a name.
    def file_arrived(self, count: int = 1) -> None:
        self.incr(FILES_ARRIVED, count)

    def file_quarantined(self, reason: str, count: int = 1) -> None:
        self.incr(FILES_QUARANTINED, count, {"reason": reason})

    def run_started(self, latency_seconds: float) -> None:
        self.timing(EVENT_TO_RUN_LATENCY, latency_seconds)

    def batch_completed(self, snapshot_bytes: int) -> None:
        """A batch is complete and its snapshot committed: count it and its bytes."""
        self.incr(BATCHES_COMPLETED)
        self.incr(SNAPSHOT_BYTES, snapshot_bytes)

    def batch_processed(self, success: bool) -> None:
        """The processing run finished (success or failure) and wrote _DONE.json."""
        self.incr(BATCHES_PROCESSED if success else BATCHES_FAILED)

    def dbt_model_failed(self, model: str, count: int = 1) -> None:
        self.incr(DBT_MODEL_FAILURES, count, {"model": model})

    def run_started_after(self, last_arrival: str | None, started_at: datetime) -> float | None:
        """Emit the event-to-run latency from a manifest's `last_arrival`; return it (None if unknown)."""
        try:
            arrived = datetime.fromisoformat(str(last_arrival))
        except ValueError:
            return None
        if arrived.tzinfo is None or started_at.tzinfo is None:
            return None  # naive timestamps cannot be compared safely across hosts
        seconds = max((started_at - arrived).total_seconds(), 0.0)
        self.run_started(seconds)
        return seconds

    def dbt_models(self, outcomes: Iterable[Any]) -> list[str]:
        """Each model's result from a dbt build (status, rows, duration); return the names that failed.

        `outcomes` are airlock.transform.results.ModelOutcome: a model with its tests, so a model whose
        data test failed counts as a failure of that model (status `fail`).
        """
        failed = []
        for outcome in outcomes:
            name = _node_name(str(outcome.unique_id))
            self.incr(DBT_MODEL_RUNS, tags={"model": name, "status": outcome.status})
            if outcome.rows is not None:
                self.gauge(DBT_MODEL_ROWS, outcome.rows, {"model": name})
            if outcome.execution_time is not None:
                self.timing(DBT_MODEL_DURATION, outcome.execution_time, {"model": name})
            if outcome.status in ("error", "fail"):
                self.dbt_model_failed(name)
                failed.append(name)
        return failed

    def intake_failed(self, stage: str) -> None:
        """The router or reconcile sweep contained an exception to this tenant (stage: router, sweep, ...)."""
        self.incr(INTAKE_ERRORS, 1, {"stage": stage})

    def freshness(self, seconds: float) -> None:
        self.gauge(FRESHNESS_SECONDS, seconds)

    def late_batches(self, count: int) -> None:
        self.gauge(BATCHES_LATE, count)


metrics = Metrics()
