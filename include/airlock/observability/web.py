"""The tenant x batch status page: a small FastAPI app the Airflow plugin mounts in the api-server.

Plain server-rendered HTML with inline CSS/JS (no CDN, no build step) so it works offline, in
the Airflow UI's iframe and on every target. Access needs an Airflow login: plugin endpoints
are not protected by Airflow itself, and tenant names and batch states are not public.
"""

from __future__ import annotations

import asyncio
import html
import os
from collections import defaultdict
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from airlock.observability.status import STATES, BatchStatus, format_age, status_from_settings, summary

_STATE_COLORS = {
    "waiting": "#fff3cd", "late": "#ffb74d", "quarantined": "#f8bbd0", "snapshotted": "#d1ecf1",
    "processing": "#bbdefb", "done": "#c8e6c9", "failed": "#ef9a9a", "no batches": "#eeeeee",
}  # fmt: skip

Loader = Callable[..., list[BatchStatus]]


def _airflow_user_required() -> Callable[..., Any] | None:
    """Airflow's own authentication dependency, when running inside the api-server."""
    try:
        from airflow.api_fastapi.core_api.security import requires_authenticated
    except ImportError:  # outside Airflow (unit tests, a standalone run)
        return None
    return requires_authenticated()


def render_page(rows: list[BatchStatus], *, history: int, tenant: str = "", state: str = "") -> str:
    """The grid: one line per tenant x dataflow, its newest batches left to right, links to runs."""
    groups: dict[tuple[str, str], list[BatchStatus]] = defaultdict(list)
    for row in rows:
        groups[(row.tenant_id, row.dataflow)].append(row)
    body = []
    for (tenant_id, dataflow), batches in groups.items():
        cells = []
        for b in batches:
            text = html.escape(b.batch_id or "-")
            link = (f'<a href="{html.escape(b.run_url)}" target="_top">{text}</a>' if b.run_url else text)  # fmt: skip
            cells.append(
                f'<td class="batch" data-state="{b.state}" style="background:{_STATE_COLORS[b.state]}">'
                f'{link}<br><span class="state">{html.escape(b.label)}</span>'
                f"<br><small>{format_age(b.age_seconds)} ago</small></td>"
            )
        cells += ["<td></td>"] * (history - len(cells))
        latest = batches[0]
        body.append(
            f'<tr data-tenant="{html.escape(tenant_id)}" data-states="{",".join(sorted({b.state for b in batches}))}">'
            f"<th>{html.escape(tenant_id)}</th><td>{html.escape(dataflow)}</td>"
            f'<td class="fresh">{format_age(latest.freshness_seconds)}</td>{"".join(cells)}</tr>'
        )
    counts = " · ".join(f"{n} {s}" for s, n in summary([g[0] for g in groups.values()]).items())
    options = "".join(f'<option value="{s}"{" selected" if s == state else ""}>{s}</option>' for s in STATES)
    headers = "".join(f"<th>batch {'(newest)' if i == 0 else f'-{i}'}</th>" for i in range(history))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>airlock: tenant batches</title>
<style>
body{{font-family:system-ui,sans-serif;margin:12px;font-size:14px}}
table{{border-collapse:collapse}} th,td{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}
td.batch a{{font-weight:600}} .state{{font-size:12px}} tr.hidden{{display:none}}
.legend span{{padding:2px 6px;margin-right:4px;border:1px solid #aaa}}
</style></head><body>
<h2>Tenant batches</h2>
<p id="summary">{len(groups)} tenant x dataflow: {html.escape(counts)}</p>
<form id="filters" onsubmit="return false">
  Tenant <input id="tenant-filter" name="tenant" value="{html.escape(tenant)}" placeholder="filter tenants">
  State <select id="state-filter" name="state"><option value="">any</option>{options}</select>
</form>
<p class="legend">{"".join(f'<span style="background:{c}">{s}</span>' for s, c in _STATE_COLORS.items())}</p>
<table id="grid"><thead><tr><th>tenant</th><th>dataflow</th><th>since last success</th>{headers}</tr></thead>
<tbody>{"".join(body)}</tbody></table>
<script>
function applyFilters() {{
  var t = document.getElementById('tenant-filter').value.trim().toLowerCase();
  var s = document.getElementById('state-filter').value;
  document.querySelectorAll('#grid tbody tr').forEach(function (tr) {{
    var okT = !t || tr.dataset.tenant.toLowerCase().indexOf(t) >= 0;
    var okS = !s || tr.dataset.states.split(',').indexOf(s) >= 0;
    tr.classList.toggle('hidden', !(okT && okS));
  }});
}}
document.getElementById('tenant-filter').addEventListener('input', applyFilters);
document.getElementById('state-filter').addEventListener('change', applyFilters);
applyFilters();
</script>
</body></html>
"""


def _airflow_base_path() -> str:
    """Run links inside Airflow: its [api] base_url path if set (behind a proxy), else the host root."""
    try:
        from airflow.configuration import conf

        base = conf.get("api", "base_url", fallback="") or ""
    except ImportError:
        base = ""
    return base.rstrip("/")


def _login_url(next_url: str) -> str:
    """The auth manager's login page (it differs per auth manager), coming back here afterwards."""
    from airflow.api_fastapi.app import get_auth_manager

    try:
        return get_auth_manager().get_url_login(next_url=next_url)
    except RuntimeError:  # no auth manager initialised (outside the api-server)
        return f"/auth/login?{urlencode({'next': next_url})}"


def _default_loader(**kwargs: Any) -> list[BatchStatus]:
    return status_from_settings(airflow_url=_airflow_base_path(), **kwargs)


def create_app(loader: Loader | None = None, *, require_login: bool = True) -> FastAPI:
    """The app: `/` (HTML grid) and `/api/status` (JSON). loader is injectable for tests."""
    load = loader or _default_loader
    app = FastAPI(title="airlock status", docs_url=None, redoc_url=None, openapi_url=None)
    auth = _airflow_user_required() if require_login else None

    async def rows(history: int, tenant: str | None) -> list[BatchStatus]:
        # Listing storage is blocking I/O: keep it off the api-server's event loop.
        tenants = [tenant] if tenant else None
        return await asyncio.to_thread(load, history=history, tenants=tenants)

    async def check_login(request: Request) -> RedirectResponse | None:
        if auth is None:
            return None
        from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

        try:
            # Same identity rules as Airflow's API: a bearer header wins over the session cookie.
            await get_user(request, None, await bearer_scheme(request))
        except HTTPException as exc:
            if exc.status_code != 401:
                raise
            return RedirectResponse(_login_url(str(request.url)))
        return None

    @app.get("/", response_class=HTMLResponse)
    async def page(
        request: Request,
        history: int = Query(5, ge=1, le=50),
        tenant: str = "",
        state: str = "",
    ) -> Any:
        if (redirect := await check_login(request)) is not None:
            return redirect
        found = await rows(history, None)  # the page filters client-side; ?tenant= pre-fills it
        return HTMLResponse(render_page(found, history=history, tenant=tenant, state=state))

    dependencies = [Depends(auth)] if auth else []

    @app.get("/api/status", dependencies=dependencies)
    async def api_status(history: int = Query(1, ge=1, le=50), tenant: str | None = None) -> JSONResponse:
        return JSONResponse([r.to_dict() for r in await rows(history, tenant)])

    return app


def app_from_env() -> FastAPI:
    """The app the plugin mounts; AIRLOCK_STATUS_PAGE_LOGIN=false turns the login check off (demo only)."""
    require = os.environ.get("AIRLOCK_STATUS_PAGE_LOGIN", "true").lower() not in ("0", "false", "no")
    return create_app(require_login=require)
