"""Per-batch status of every tenant x dataflow, read from the storage markers alone.

Why from storage and not from Airflow: the markers (_SNAPSHOT, _MANIFEST, _RUN, _DONE and the
quarantine `.reason.json`) are the source of truth for a batch, they exist on every target
(folder, S3) and they are cheap to read. Cost: one listing per root (landing, raw, quarantine),
key names and timestamps only, then at most a few small JSON reads for the batches shown:
never a head per object, never a read per batch.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote, unquote

from airlock.errors import AirlockError
from airlock.metrics import Metrics
from airlock.storage import ObjectInfo, S3Storage, Storage
from airlock.tenants import DataflowContract, Registry

State = Literal["waiting", "late", "quarantined", "snapshotted", "processing", "done", "failed", "no batches"]
STATES: tuple[State, ...] = (
    "waiting", "late", "quarantined", "snapshotted", "processing", "done", "failed", "no batches",
)  # fmt: skip

SNAPSHOT_MARKER = "_SNAPSHOT.json"
MANIFEST_MARKER = "_MANIFEST.json"
RUN_MARKER = "_RUN.json"
DONE_MARKER = "_DONE.json"
REASON_SUFFIX = ".reason.json"
AFTER_SNAPSHOT_REASON = "after_snapshot"
_BATCH_MARKERS = frozenset({SNAPSHOT_MARKER, RUN_MARKER, DONE_MARKER})
_LIST_THREADS = 16
ATTENTION: frozenset[State] = frozenset({"quarantined", "failed", "late"})
"""States a person must act on: shown even when newer batches followed (never hidden by them)."""
ATTENTION_WINDOW = 5
"""How many of a tenant x dataflow's newest batches are looked at for ATTENTION states.

Bounds the reads: a failed batch is told from a done one only by reading its _DONE marker, so
status reads at most this many per tenant x dataflow, whatever the number of batches in storage.
"""


@dataclass
class _Batch:
    """What the listings tell about one batch, before any object is read."""

    batch_id: str
    tables: set[str] = field(default_factory=set)
    files: int = 0
    quarantined: set[str] = field(default_factory=set)
    after_snapshot: set[str] = field(default_factory=set)
    reason_keys: dict[str, str] = field(default_factory=dict)  # original key -> its .reason.json
    markers: dict[str, ObjectInfo] = field(default_factory=dict)
    snapshot_ts: str | None = None
    first_seen: datetime | None = None
    last_activity: datetime | None = None

    def touch(self, when: datetime) -> None:
        if self.first_seen is None or when < self.first_seen:
            self.first_seen = when
        if self.last_activity is None or when > self.last_activity:
            self.last_activity = when


@dataclass
class BatchStatus:
    """One row of `airlock status`: a tenant x dataflow and one of its batches."""

    tenant_id: str
    dataflow: str
    batch_id: str | None
    state: State
    files_present: int = 0
    files_required: int = 0
    quarantined: int = 0
    first_seen: datetime | None = None
    last_activity: datetime | None = None
    age_seconds: float | None = None
    deadline_seconds: float = 0.0
    snapshot_ts: str | None = None
    dag_id: str | None = None
    run_id: str | None = None
    run_url: str | None = None
    rows_loaded: dict[str, int] | None = None
    last_success_at: datetime | None = None
    freshness_seconds: float | None = None
    late_batches: int = 0
    """Batches of this tenant x dataflow (not only this one) incomplete past the deadline."""
    after_snapshot_files: int = 0
    """Files of this batch that landed after its snapshot (quarantined `after_snapshot`): it ran without them."""
    reasons: list[str] = field(default_factory=list)
    """Why a quarantined or late batch is so, one line per file or gap ('orders.csv: wrong_columns (...)')."""
    attempt: int | None = None
    """Which processing attempt of the batch the state is about (the latest one that ran: a re-run is attempt 2)."""

    @property
    def incomplete_delivered(self) -> bool:
        """The batch was processed, but the tenant delivered more of it afterwards (see after_snapshot_files)."""
        return self.after_snapshot_files > 0

    @property
    def label(self) -> str:
        """The state as a person reads it: 'waiting 2/3 files', 'quarantined (1 file)'."""
        if self.state in ("waiting", "late"):
            return f"{self.state} {self.files_present}/{self.files_required} files"
        if self.state == "quarantined":
            return f"quarantined ({self.quarantined} file{'s' if self.quarantined != 1 else ''})"
        label = f"{self.state} (attempt {self.attempt})" if self.attempt and self.attempt > 1 else self.state
        if self.incomplete_delivered:  # processed without files that came after its snapshot
            n = self.after_snapshot_files
            label += f", incomplete-delivered ({n} late file{'s' if n != 1 else ''})"
        return label

    def to_dict(self) -> dict[str, Any]:
        # What dataclasses.asdict gives, without its recursive deep copy (3x slower over 10,000 rows):
        # only `reasons` and `rows_loaded` are mutable, and they are copied here.
        data = {name: getattr(self, name) for name in _ROW_FIELDS}
        data["reasons"] = list(self.reasons)
        data["rows_loaded"] = dict(self.rows_loaded) if self.rows_loaded is not None else None
        data["label"] = self.label
        data["incomplete_delivered"] = self.incomplete_delivered
        for key in ("first_seen", "last_activity", "last_success_at"):
            if data[key] is not None:
                data[key] = data[key].isoformat()
        return data


_ROW_FIELDS = tuple(f.name for f in fields(BatchStatus))

Version = tuple[datetime, int, str | None]
"""What names one version of an object in a listing: last modified, size, ETag (S3's; mtime in ns on a disk)."""

_MARKER_CACHE: dict[tuple[str, str], tuple[Version | None, dict[str, Any]]] = {}
_MARKER_CACHE_MAX = 200_000
_marker_lock = threading.Lock()


def _location(storage: Storage) -> str:
    if isinstance(storage, S3Storage):
        return f"s3://{storage.bucket}/{storage.prefix}"
    return str(getattr(storage, "root", id(storage)))


def _cached_json(storage: Storage, key: str, version: Version | None) -> dict[str, Any]:
    """A marker's JSON, read once per version (last modified, size, ETag) for the life of the process.

    The ETag matters on S3, whose LastModified has whole seconds: a marker rewritten within the second
    at the same size (a re-run's _DONE) is still a new version.

    The status page lives in the api-server and refreshes every 30 s: after its first load it reads
    only the markers written since, whatever the number of batches shown.
    """
    cache_key = (_location(storage), key)
    with _marker_lock:
        hit = _MARKER_CACHE.get(cache_key)
    if hit is not None and version is not None and hit[0] == version:
        return hit[1]
    data = _read_json(storage, key)
    with _marker_lock:
        if len(_MARKER_CACHE) >= _MARKER_CACHE_MAX:
            _MARKER_CACHE.clear()  # crude but bounded: a deployment that big refills it in one page load
        _MARKER_CACHE[cache_key] = (version, data)
    return data


def _read_json(storage: Storage, key: str) -> dict[str, Any]:
    """A marker's JSON, or {} when it is missing or malformed: status must never crash on one."""
    try:
        data = json.loads(storage.read_bytes(key))
    except (AirlockError, OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _list_roots(storage: Storage, prefixes: list[str], bounds: list[str] | None = None) -> Iterator[ObjectInfo]:
    """List several prefixes; on S3 in parallel, since each listing is a chain of 1,000-key pages.

    A whole S3 root (prefixes [""]) is listed in slices of its key space between `bounds` (tenant ids:
    every key starts with one), side by side: 16 chains of 4 pages instead of one of 55 at 1,000 tenants.
    """
    if prefixes == [""] and bounds and isinstance(storage, S3Storage):
        edges: list[str] = ["", *bounds]
        slices = [(edge, edges[i + 1] if i + 1 < len(edges) else None) for i, edge in enumerate(edges)]
        with ThreadPoolExecutor(_LIST_THREADS) as pool:
            for chunk in pool.map(lambda s: list(storage.list_slice(*s)), slices):
                yield from chunk
    elif len(prefixes) > 1 and isinstance(storage, S3Storage):
        with ThreadPoolExecutor(_LIST_THREADS) as pool:
            for chunk in pool.map(lambda p: list(storage.list(p)), prefixes):
                yield from chunk
    else:
        for prefix in prefixes:
            yield from storage.list(prefix)


class StatusCollector:
    """Build the status rows for a registry over the three storage roots."""

    def __init__(
        self,
        registry: Registry,
        landing: Storage,
        raw: Storage,
        quarantine: Storage,
        *,
        airflow_url: str | None = None,
        tenants: Iterable[str] | None = None,
    ) -> None:
        self.registry = registry
        self.landing, self.raw, self.quarantine = landing, raw, quarantine
        # None: no links; "": links relative to the current host (the status page inside Airflow).
        self.airflow_url = airflow_url.rstrip("/") if airflow_url is not None else None
        wanted = set(tenants) if tenants is not None else None
        if wanted is not None and (unknown := wanted - set(registry.tenants)):
            raise AirlockError(f"unknown tenant(s) {sorted(unknown)}. Fix: use one of {sorted(registry.tenants)}.")
        self.tenant_ids = sorted(wanted if wanted is not None else registry.tenants)
        self._batches: dict[tuple[str, str], dict[str, _Batch]] = {}
        # File name -> table per tenant x dataflow: names repeat every batch, globs are slow to match.
        self._tables: dict[tuple[str, str, str], str | None] = {}

    # ---- listing ----------------------------------------------------------------------------
    def _prefixes(self) -> list[str]:
        # One listing of the whole root when every tenant is asked for; per tenant otherwise.
        if len(self.tenant_ids) == len(self.registry.tenants):
            return [""]
        return [f"{t}/" for t in self.tenant_ids]

    def _contract(self, tenant_id: str, dataflow: str) -> DataflowContract | None:
        tenant = self.registry.tenants.get(tenant_id)
        return tenant.dataflows.get(dataflow) if tenant else None

    def _batch(self, tenant_id: str, dataflow: str, batch_id: str) -> _Batch:
        batches = self._batches.setdefault((tenant_id, dataflow), {})
        if (batch := batches.get(batch_id)) is None:
            batch = batches[batch_id] = _Batch(batch_id)
        return batch

    def _scan_landing(self, listing: Iterable[ObjectInfo]) -> None:
        for info in listing:
            tenant_id, _, rest = info.key.partition("/")
            dataflow, _, rest = rest.partition("/")
            contract = self._contract(tenant_id, dataflow)
            if contract is None or not (match := contract.key_regex.match(rest)):
                continue  # not a delivery the registry knows: the router quarantines it
            batch = self._batch(tenant_id, dataflow, match.group("batch_id"))
            batch.files += 1
            batch.touch(info.last_modified)
            if batch.markers:
                continue  # snapshotted: its state comes from the markers, not from which files landed
            file_name = match.group("file")
            if (table := self._tables.get((tenant_id, dataflow, file_name), "")) == "":
                file = contract.contract_for(file_name)
                table = self._tables[(tenant_id, dataflow, file_name)] = file.table if file else None
            if table is not None:
                batch.tables.add(table)

    def _scan_raw(self, listing: Iterable[ObjectInfo]) -> None:
        for info in listing:
            parts = info.key.split("/")
            if len(parts) == 4 and parts[3] in _BATCH_MARKERS:
                marker = parts[3]
            elif len(parts) == 5 and parts[4] == MANIFEST_MARKER:
                marker = MANIFEST_MARKER
            else:
                continue  # snapshot data files: their manifest speaks for them
            if self._contract(parts[0], parts[1]) is None:
                continue
            batch = self._batch(parts[0], parts[1], parts[2])
            batch.markers[marker] = info
            if marker == MANIFEST_MARKER:
                batch.snapshot_ts = parts[3]
            batch.touch(info.last_modified)

    def _scan_quarantine(self, listing: Iterable[ObjectInfo]) -> None:
        for info in listing:
            key = info.key.removesuffix(REASON_SUFFIX)
            parts = key.split("/", 2)  # <tenant or _unknown>/<reason>/<original key>
            if len(parts) < 3:
                continue
            owner, original = parts[0], parts[2]
            if "/" not in original:  # unsafe keys are stored flattened, percent-encoded
                original = unquote(original)
            tenant_id, _, rest = original.partition("/")
            if tenant_id != owner:  # tolerate an original key written without the tenant prefix
                tenant_id, rest = owner, original
            dataflow, _, rest = rest.partition("/")
            contract = self._contract(tenant_id, dataflow)
            if contract is None or not (match := contract.key_regex.match(rest)):
                continue
            batch = self._batch(tenant_id, dataflow, match.group("batch_id"))
            batch.quarantined.add(original)
            if parts[1] == AFTER_SNAPSHOT_REASON:
                batch.after_snapshot.add(original)
            if info.key.endswith(REASON_SUFFIX):
                batch.reason_keys[original] = info.key
            batch.touch(info.last_modified)

    def scan(self) -> None:
        """List the three roots once each: S3 roots concurrently (per tenant prefix in parallel when filtered).

        An S3 listing waits on the network, so S3 roots are listed side by side. A folder's listing is
        Python work between short stat calls: in threads it only fights for the GIL (1.0 s against
        0.86 s one after the other for 75,000 objects), so folders are listed in this thread.
        """
        prefixes = self._prefixes()
        ids = self.tenant_ids
        bounds = (
            [ids[i * len(ids) // _LIST_THREADS] for i in range(1, _LIST_THREADS)] if len(ids) > _LIST_THREADS else []
        )
        roots = (self.landing, self.raw, self.quarantine)
        remote = [s for s in roots if isinstance(s, S3Storage)]
        with ThreadPoolExecutor(max(len(remote), 1)) as pool:
            pending = {id(s): pool.submit(lambda s: list(_list_roots(s, prefixes, bounds)), s) for s in remote}
            landing, raw, quarantine = (
                pending[id(s)].result() if id(s) in pending else list(_list_roots(s, prefixes)) for s in roots
            )
        self._scan_raw(raw)  # first: landing files of a snapshotted batch then need no matching
        self._scan_landing(landing)
        self._scan_quarantine(quarantine)

    # ---- rows -------------------------------------------------------------------------------
    def _marker(self, tenant_id: str, dataflow: str, batch: _Batch, marker: str) -> dict[str, Any]:
        info = batch.markers.get(marker)
        version = (info.last_modified, info.size, info.etag) if info else None
        return _cached_json(self.raw, f"{tenant_id}/{dataflow}/{batch.batch_id}/{marker}", version)

    def _run_url(self, dag_id: str | None, run_id: str | None) -> str | None:
        if self.airflow_url is None or not (dag_id and run_id):
            return None
        return f"{self.airflow_url}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"

    def _row(self, tenant_id: str, dataflow: str, batch: _Batch, now: datetime) -> BatchStatus:
        contract = self._contract(tenant_id, dataflow)
        assert contract is not None
        required = contract.required_tables
        row = BatchStatus(
            tenant_id=tenant_id,
            dataflow=dataflow,
            batch_id=batch.batch_id,
            state="waiting",
            # A snapshotted batch was complete; its landing files were not matched (see _scan_landing).
            files_present=len(required) if batch.markers else len(batch.tables & required),
            files_required=len(required),
            quarantined=len(batch.quarantined),
            after_snapshot_files=len(batch.after_snapshot),
            first_seen=batch.first_seen,
            last_activity=batch.last_activity,
            age_seconds=(now - batch.last_activity).total_seconds() if batch.last_activity else None,
            deadline_seconds=contract.deadline.total_seconds(),
            snapshot_ts=batch.snapshot_ts,
            dag_id=self.registry.dataflows[dataflow].dag_id,
        )
        run, done = batch.markers.get(RUN_MARKER), batch.markers.get(DONE_MARKER)
        if done and not (run and run.last_modified > done.last_modified):  # a re-run is processing
            info = self._marker(tenant_id, dataflow, batch, DONE_MARKER)
            row.state = "done" if info.get("status") == "success" else "failed"
            rows = info.get("rows_loaded")
            row.rows_loaded = rows if isinstance(rows, dict) else None
        elif run:
            info = self._marker(tenant_id, dataflow, batch, RUN_MARKER)
            row.state = "processing"
        else:
            info = {}
            if SNAPSHOT_MARKER in batch.markers or MANIFEST_MARKER in batch.markers:
                row.state = "snapshotted"
            elif batch.quarantined:
                row.state = "quarantined"
            elif self._is_late(batch, contract, now):
                row.state = "late"
        if row.state == "quarantined":
            row.reasons = self._quarantine_reasons(batch)
        elif row.state == "late":
            missing = sorted(contract.required_tables - batch.tables)
            row.reasons = [
                f"missing {', '.join(missing) or 'nothing'}: due {format_age(contract.deadline.total_seconds())} "
                f"after the first file, which came {format_age((now - batch.first_seen).total_seconds())} ago"
                if batch.first_seen
                else f"missing {', '.join(missing)}"
            ]
        row.run_id = info.get("run_id") if isinstance(info.get("run_id"), str) else None
        row.attempt = info.get("attempt") if isinstance(info.get("attempt"), int) else None
        row.dag_id = info.get("dag_id") if isinstance(info.get("dag_id"), str) else row.dag_id
        row.run_url = self._run_url(row.dag_id, row.run_id)
        return row

    def _quarantine_reasons(self, batch: _Batch) -> list[str]:
        """'<file>: <reason> (<detail>)' for each quarantined file: one small read each, for rows shown."""
        reasons = []
        for original in sorted(batch.quarantined):
            name = original.rsplit("/", 1)[-1]
            key = batch.reason_keys.get(original)
            # Written once, never rewritten: any cached copy is current.
            record = _cached_json(self.quarantine, key, (datetime.min.replace(tzinfo=UTC), 0, None)) if key else {}
            if not record:  # the reason is the folder the file was moved to: <owner>/<reason>/<key>
                folder = key.split("/", 2)[1] if key and key.count("/") >= 2 else "reason not recorded"
                reasons.append(f"{name}: {folder}")
                continue
            detail = f" ({record['detail']})" if record.get("detail") else ""
            reasons.append(f"{name}: {record.get('reason', 'unknown')}{detail}")
        return reasons

    def _last_success(self, tenant_id: str, dataflow: str, batches: list[_Batch]) -> datetime | None:
        """The newest successful _DONE: usually one read, since the newest done batch succeeded."""
        done = [b for b in batches if DONE_MARKER in b.markers]
        done.sort(key=lambda b: b.markers[DONE_MARKER].last_modified, reverse=True)
        for batch in done:
            if self._marker(tenant_id, dataflow, batch, DONE_MARKER).get("status") == "success":
                return batch.markers[DONE_MARKER].last_modified
        return None

    @staticmethod
    def _is_late(batch: _Batch, contract: DataflowContract, now: datetime) -> bool:
        """Late needs no read: nothing snapshotted or quarantined, first file older than the deadline."""
        return (
            not batch.markers
            and not batch.quarantined
            and batch.first_seen is not None
            and now - batch.first_seen > contract.deadline
        )

    def _prefetch(self, history: int, attention: bool = True) -> None:
        """Read, in parallel, the markers the rows will need; on S3 each read is a round trip."""
        if not isinstance(self.raw, S3Storage):
            return
        wanted: list[tuple[str, str, _Batch, str]] = []
        for (tenant_id, dataflow), by_id in self._batches.items():
            batches = sorted(by_id.values(), key=lambda b: (b.last_activity or datetime.min.replace(tzinfo=UTC),
                                                            b.batch_id), reverse=True)  # fmt: skip
            done = [b for b in batches if DONE_MARKER in b.markers]
            for batch in batches[: max(history, ATTENTION_WINDOW if attention else 0)] + done[:1]:
                markers = (DONE_MARKER, RUN_MARKER) if batch in batches[:history] else (DONE_MARKER,)
                wanted += [(tenant_id, dataflow, batch, m) for m in markers if m in batch.markers]
        with ThreadPoolExecutor(_LIST_THREADS) as pool:
            list(pool.map(lambda w: self._marker(*w), wanted))  # fills the process-wide cache

    def _needs_attention(self, tenant_id: str, dataflow: str, batch: _Batch, now: datetime) -> BatchStatus | None:
        """The batch's row if it is quarantined, failed or late; reads a marker only for a finished batch."""
        contract = self._contract(tenant_id, dataflow)
        assert contract is not None
        run, done = batch.markers.get(RUN_MARKER), batch.markers.get(DONE_MARKER)
        finished = done is not None and not (run and run.last_modified > done.last_modified)
        if not (finished or batch.quarantined or self._is_late(batch, contract, now)):
            return None  # waiting, snapshotted or processing: nothing to act on yet
        row = self._row(tenant_id, dataflow, batch, now)
        return row if row.state in ATTENTION else None

    def rows(self, *, now: datetime | None = None, history: int = 1, attention: bool = True) -> list[BatchStatus]:
        """The newest `history` batches of every tenant x dataflow (a 'no batches' row if none).

        Plus, newest first among them, every batch of the newest ATTENTION_WINDOW that is quarantined,
        failed or late: a newer batch never hides one that needs a person. attention=False leaves those
        out, and their reads (up to 4 per pair): the gauges need freshness and late counts, not them.
        """
        now = now or datetime.now(UTC)
        self._prefetch(max(history, 1), attention)
        result: list[BatchStatus] = []
        for tenant_id in self.tenant_ids:
            tenant = self.registry.tenants[tenant_id]
            for dataflow in sorted(tenant.dataflows):
                batches = list(self._batches.get((tenant_id, dataflow), {}).values())
                batches.sort(key=lambda b: (b.last_activity or now, b.batch_id), reverse=True)
                last_success = self._last_success(tenant_id, dataflow, batches)
                freshness = (now - last_success).total_seconds() if last_success else None
                late = sum(1 for b in batches if self._is_late(b, tenant.dataflows[dataflow], now))
                if not batches:
                    contract = tenant.dataflows[dataflow]
                    result.append(
                        BatchStatus(
                            tenant_id, dataflow, None, "no batches",
                            files_required=len(contract.required_tables),
                            deadline_seconds=contract.deadline.total_seconds(),
                            dag_id=self.registry.dataflows[dataflow].dag_id,
                        )
                    )  # fmt: skip
                    continue
                shown = [self._row(tenant_id, dataflow, batch, now) for batch in batches[: max(history, 1)]]
                for batch in batches[max(history, 1) : ATTENTION_WINDOW if attention else 0]:
                    if (row := self._needs_attention(tenant_id, dataflow, batch, now)) is not None:
                        shown.append(row)
                for row in shown:
                    row.last_success_at, row.freshness_seconds = last_success, freshness
                    row.late_batches = late
                    result.append(row)
        return result


def collect_status(
    registry: Registry,
    landing: Storage,
    raw: Storage,
    quarantine: Storage,
    *,
    now: datetime | None = None,
    history: int = 1,
    tenants: Iterable[str] | None = None,
    airflow_url: str | None = None,
    attention: bool = True,
) -> list[BatchStatus]:
    """Status rows for every tenant x dataflow: the newest `history` batches of each (see StatusCollector.rows)."""
    collector = StatusCollector(registry, landing, raw, quarantine, airflow_url=airflow_url, tenants=tenants)
    collector.scan()
    return collector.rows(now=now, history=history, attention=attention)


def default_airflow_url() -> str | None:
    """Where run links point: AIRLOCK_AIRFLOW_URL, else Airflow's own [api] base_url, else nowhere.

    No guess: a link to a port nothing listens on is worse than the bare run id. `airlock dev`
    writes AIRLOCK_AIRFLOW_URL into its env.sh, with the port it really uses.
    """
    return os.environ.get("AIRLOCK_AIRFLOW_URL") or os.environ.get("AIRFLOW__API__BASE_URL") or None


def registry_from_settings() -> Registry:
    """The configured registry, not strict: a tenant with an invalid file is in `registry.disabled`."""
    from airlock.settings import load_settings
    from airlock.tenants import load_registry

    settings = load_settings()
    return load_registry(settings.tenants_dir, settings.dataflows_dir, strict=False)


def status_from_settings(registry: Registry | None = None, **kwargs: Any) -> list[BatchStatus]:
    """Status rows for the configured deployment (AIRLOCK_* settings), the others still shown."""
    from airlock.settings import load_settings
    from airlock.storage import open_storage

    settings = load_settings()
    registry = registry or registry_from_settings()
    kwargs.setdefault("airflow_url", default_airflow_url())
    return collect_status(
        registry,
        open_storage(settings.landing_url),
        open_storage(settings.raw_url),
        open_storage(settings.quarantine_url),
        **kwargs,
    )


def format_age(seconds: float | None) -> str:
    """'42s', '17m', '5h', '3d': short enough for a table column."""
    if seconds is None:
        return "-"
    seconds = max(seconds, 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def render_table(rows: list[BatchStatus]) -> str:
    """A plain-text table, widths fitted to the content, for a terminal."""
    header = ("TENANT", "DATAFLOW", "BATCH", "STATE", "AGE", "FRESHNESS", "RUN", "WHY")
    body = [
        (
            r.tenant_id,
            r.dataflow,
            r.batch_id or "-",
            r.label,
            format_age(r.age_seconds),
            format_age(r.freshness_seconds),
            r.run_url or r.run_id or "-",
            "; ".join(r.reasons),
        )
        for r in rows
    ]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *body, strict=False)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in [header, *body]]
    return "\n".join(lines)


def summary(rows: list[BatchStatus]) -> dict[str, int]:
    """How many tenant x dataflow rows are in each state (for a one-line footer)."""
    counts = dict.fromkeys(STATES, 0)
    for row in rows:
        counts[row.state] += 1
    return {k: v for k, v in counts.items() if v}


def emit_status_metrics(rows: list[BatchStatus], metrics: Metrics) -> int:
    """Send the freshness and late-batch gauges for every tenant x dataflow; return how many pairs.

    Called by the reconcile sweep, so a tenant that stops delivering still has a freshness series
    that grows (a monitor on a metric that stops arriving would only see "no data").
    """
    pairs: dict[tuple[str, str], list[BatchStatus]] = {}
    for row in rows:
        pairs.setdefault((row.tenant_id, row.dataflow), []).append(row)
    for (tenant_id, dataflow), group in pairs.items():
        bound = metrics.for_tenant(tenant_id, dataflow)
        if group[0].freshness_seconds is not None:
            bound.freshness(group[0].freshness_seconds)
        bound.late_batches(group[0].late_batches)
    return len(pairs)
