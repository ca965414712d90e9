"""The tenant x batch status page inside Airflow 3's UI: the plugin's FastAPI app and its JSON.

The page itself is `static/status.js`, an ES module that Airflow's UI imports for the plugin's
`react_apps` entry (plugins/airlock_status_plugin.py) and renders with the React and Chakra UI it
publishes for plugins on `globalThis`: Airflow's own components and state colours, no build step,
nothing fetched from elsewhere. This app, mounted by the api-server at /airlock/status, serves that
file (code, no login) and the JSON it renders (an Airflow login: tenant names and states are not
public; plugin endpoints are not protected by Airflow itself).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Query
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from airlock.observability.status import ATTENTION, STATES, BatchStatus, summary

STATIC = Path(__file__).resolve().parent / "static"
PAGE_ROUTE = "airlock-status"
"""The plugin page's route in Airflow's UI: <airflow>/plugin/airlock-status."""
MAX_HISTORY = 20
PAGE_PAIRS = 200
"""Pairs the page shows at first (static/status.js PAGE_SIZE); "Show more" asks for more."""
MAX_PAIRS = 100_000

RowsLoader = Callable[..., list[BatchStatus]]
"""(history=, tenants=) -> rows; `airlock.observability.status.status_from_settings` in the api-server."""


def _airflow_user_required() -> Callable[..., Any] | None:
    """Airflow's own authentication dependency, when running inside the api-server."""
    try:
        from airflow.api_fastapi.core_api.security import requires_authenticated
    except ImportError:  # outside Airflow (unit tests, a standalone run)
        return None
    return requires_authenticated()


def airflow_base_path() -> str:
    """Links inside Airflow: its [api] base_url path if set (behind a proxy), else the host root."""
    try:
        from airflow.configuration import conf

        base = conf.get("api", "base_url", fallback="") or ""
    except ImportError:
        base = ""
    if "://" in base:
        base = "/" + base.split("://", 1)[1].partition("/")[2]
    return base.rstrip("/")


def _batch(row: BatchStatus, failed: dict[tuple[str, str], list[dict[str, Any]]]) -> dict[str, Any]:
    """One batch as the page needs it; empty fields left out (1,000 tenants x 10 batches is 10,000 of these)."""
    tasks = failed.get((row.dag_id or "", row.run_id or ""), []) if row.state == "failed" else []
    batch: dict[str, Any] = {
        "batch_id": row.batch_id,
        "state": row.state,
        "label": row.label,
        "age_seconds": round(row.age_seconds) if row.age_seconds is not None else None,
    }
    if row.run_url or row.run_id:
        batch["run_url" if row.run_url else "run_id"] = row.run_url or row.run_id
    if reasons := row.reasons + [f"task {t['task_id']} failed (try {t['try_number']})" for t in tasks]:
        batch["reasons"] = reasons
    if tasks:
        batch["failed_tasks"] = tasks
    if row.after_snapshot_files:
        batch["after_snapshot_files"] = row.after_snapshot_files
    return batch


@dataclass(frozen=True)
class PairQuery:
    """Which tenant x dataflow pairs the page asks for: its filters, and how many it shows.

    Filtered and cut here, not in the browser: at 1,000 tenants the whole grid is 2.5 MB of JSON every
    30 s, while the page shows 200 pairs at a time. The state counts still cover every pair.
    """

    tenant: str = ""
    """A substring of the tenant id, any case."""
    state: str = ""
    """A state of the pair's newest batch or of any recent one."""
    attention: bool = False
    """Only pairs with a batch that needs a person (quarantined, failed, late)."""
    limit: int | None = None
    """At most this many pairs (the page's "Show more" raises it); None: all."""

    def keeps(self, group: list[BatchStatus]) -> bool:
        needle = self.tenant.strip().lower()
        if needle and needle not in group[0].tenant_id.lower():
            return False
        if self.state and all(r.state != self.state for r in group):
            return False
        return not self.attention or any(r.state in ATTENTION for r in group)


FailedTasks = Callable[[Iterable[tuple[str, str]]], dict[tuple[str, str], list[dict[str, Any]]]]
"""(dag_id, run_id) of failed runs -> their failed tasks with log links (Airflow's database)."""


def overview(
    rows: list[BatchStatus],
    *,
    disabled: dict[str, str],
    watchers: list[dict[str, Any]],
    failed: FailedTasks,
    seconds: float = 0.0,
    query: PairQuery | None = None,
) -> dict[str, Any]:
    """What the page renders: per tenant x dataflow its recent batches (oldest first, as Airflow's
    grid), the newest one, the ones needing attention; the state counts; disabled tenants; watchers.

    Only the pairs `query` keeps are sent, and failed tasks are looked up only for those.
    """
    query = query or PairQuery()
    pairs: dict[tuple[str, str], list[BatchStatus]] = {}
    for row in rows:
        pairs.setdefault((row.tenant_id, row.dataflow), []).append(row)
    kept = [group for group in pairs.values() if query.keeps(group)]
    shown = kept if query.limit is None else kept[: query.limit]
    tasks = failed([(r.dag_id, r.run_id) for g in shown for r in g if r.state == "failed" and r.dag_id and r.run_id])
    out = []
    for group in shown:
        newest = group[0]
        recent = sorted(
            (r for r in group if r.batch_id is not None),
            key=lambda r: (r.last_activity or datetime.min.replace(tzinfo=UTC), r.batch_id or ""),
        )  # oldest first: the health bar reads left to right like Airflow's grid
        out.append(
            {
                "tenant_id": newest.tenant_id,
                "dataflow": newest.dataflow,
                "dag_id": newest.dag_id,
                "freshness_seconds": newest.freshness_seconds,
                "late_batches": newest.late_batches,
                "state": newest.state,
                "latest": _batch(newest, tasks),
                "batches": [_batch(r, tasks) for r in recent],
                "attention": [_batch(r, tasks) for r in group if r.state in ATTENTION],
            }
        )
    return {
        "generated_at": datetime.now(UTC).isoformat(),
        "seconds": round(seconds, 3),
        "counts": summary([group[0] for group in pairs.values()]),
        "total_pairs": len(pairs),
        "matched_pairs": len(kept),
        "pairs": out,
        "disabled": [{"tenant_id": t, "error": e} for t, e in sorted(disabled.items())],
        "watchers": watchers,
    }


class SharedBuilds:
    """One build per key at a time: a request that arrives while the same build runs waits for its result.

    Why: every open status page asks for the overview every 30 s, and at 1,000 tenants one build is a
    second or more of the api-server's CPU (it lists the three roots). Ten people looking must not
    cost ten builds at once. Staleness: a joining request gets a state read at most one build's
    duration before it arrived; nothing is kept after the build, so the next request reads afresh.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[Hashable, Future[Any]] = {}
        self.joined = 0
        """How many requests were answered by a build another request had started."""

    def run(self, key: Hashable, build: Callable[[], Any]) -> Any:
        with self._lock:
            running = self._running.get(key)
            owner = running is None
            if owner:
                running = self._running[key] = Future()
            else:
                self.joined += 1
        assert running is not None
        if not owner:
            return running.result()
        try:
            result = build()
        except BaseException as exc:
            running.set_exception(exc)
            raise
        else:
            running.set_result(result)
            return result
        finally:
            with self._lock:
                del self._running[key]


def _default_rows(**kwargs: Any) -> list[BatchStatus]:
    from airlock.observability.status import status_from_settings

    return status_from_settings(airflow_url=airflow_base_path(), **kwargs)


def _rows_and_disabled(history: int) -> tuple[list[BatchStatus], dict[str, str]]:
    """Both from one read of the registry (1,000 tenant files take about a second to read)."""
    from airlock.observability.status import registry_from_settings, status_from_settings

    registry = registry_from_settings()
    rows = status_from_settings(registry, airflow_url=airflow_base_path(), history=history)
    return rows, dict(registry.disabled)


def _default_failed(runs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    from airlock.observability.airflow_state import failed_tasks

    return failed_tasks(runs, airflow_base_path())


def _default_watchers() -> list[dict[str, Any]]:
    from airlock.observability.airflow_state import watcher_health

    return watcher_health()


def create_app(
    loader: RowsLoader | None = None,
    *,
    require_login: bool = True,
    disabled: Callable[[], dict[str, str]] | None = None,
    watchers: Callable[[], list[dict[str, Any]]] | None = None,
    failed: FailedTasks | None = None,
) -> FastAPI:
    """`/static/status.js` (the page), `/api/overview` (its data, filtered and cut to what the page shows),
    `/api/status` (the CLI's rows as JSON).

    The sources are injectable for tests; by default they read the AIRLOCK_* settings' storage and
    registry, and Airflow's metadata database (watchers, failed tasks).
    """
    load_rows = loader or _default_rows
    load_watchers = watchers or _default_watchers
    load_failed = failed or _default_failed
    app = FastAPI(title="airlock status", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    auth = _airflow_user_required() if require_login else None
    dependencies = [Depends(auth)] if auth else []

    builds = app.state.overview_builds = SharedBuilds()

    def read(history: int) -> tuple[list[BatchStatus], dict[str, str], float]:
        """The expensive part (listings, marker reads), shared by the requests that arrive while it runs."""
        started = time.perf_counter()
        if loader is None and disabled is None:
            rows, disabled_now = _rows_and_disabled(history)
        else:
            rows, disabled_now = load_rows(history=history, tenants=None), (disabled or dict)()
        return rows, disabled_now, time.perf_counter() - started

    def build(history: int, query: PairQuery) -> dict[str, Any]:
        rows, disabled_now, seconds = builds.run(history, lambda: read(history))
        return overview(rows, disabled=disabled_now, watchers=load_watchers(), failed=load_failed, seconds=seconds,
                        query=query)  # fmt: skip

    @app.get("/")
    async def page() -> RedirectResponse:
        """The page lives in Airflow's UI (Browse > Tenant batches); old bookmarks land there."""
        return RedirectResponse(f"{airflow_base_path()}/plugin/{PAGE_ROUTE}")

    @app.get("/api/overview", dependencies=dependencies)
    async def api_overview(
        history: int = Query(10, ge=1, le=MAX_HISTORY),
        tenant: str = Query("", max_length=200),
        state: str = Query("", pattern=f"^({'|'.join(STATES)})?$"),
        attention: bool = False,
        limit: int = Query(PAGE_PAIRS, ge=1, le=MAX_PAIRS),
    ) -> JSONResponse:
        query = PairQuery(tenant=tenant, state=state, attention=attention, limit=limit)
        # Storage listings and database reads are blocking I/O: keep them off the api-server's loop.
        return JSONResponse(await asyncio.to_thread(build, history, query))

    @app.get("/api/status", dependencies=dependencies)
    async def api_status(history: int = Query(1, ge=1, le=MAX_HISTORY), tenant: str | None = None) -> JSONResponse:
        rows = await asyncio.to_thread(load_rows, history=history, tenants=[tenant] if tenant else None)
        return JSONResponse([r.to_dict() for r in rows])

    return app


def app_from_env() -> FastAPI:
    """The app the plugin mounts; AIRLOCK_STATUS_PAGE_LOGIN=false turns the login check off (demo only)."""
    require = os.environ.get("AIRLOCK_STATUS_PAGE_LOGIN", "true").lower() not in ("0", "false", "no")
    return create_app(require_login=require)
