"""The status page in Airflow's own UI, on the real local stack, loaded by headless Chromium.

A LocalStack (moto, the real DAGs, scheduler, triggerer with the tenants' SQS watchers) with one
tenant file broken on purpose; uploads make a quarantined batch (wrong columns), a failed batch
(a dbt data test fails on negative stock) and a done one. Chromium then opens Browse > Tenant
batches (/plugin/airlock-status) as a user would, after Airflow's own login, and the test reads
what the page rendered: the quarantine reason inline, the failed batch with the link to its failing
task's log, the disabled tenant with its error, and each watcher polling. Screenshots go to
var/artifacts/ (status_page.png).
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from airlock.demo.runner import DAGS
from airlock.devstack import LocalStack
from airlock.devstack.local_aws import free_port
from airlock.observability.sample import write_registry
from airlock.tenants import load_registry

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
READY_SECONDS = 900  # the failed batch needs a dbt build: minutes on a loaded 2-core machine

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt-get install chromium)")]

BAD_STOCK = "sku,qty\nsku-1,3\n"  # the contract's columns are missing: quarantine (wrong_columns)
NEGATIVE_STOCK = "warehouse_id,sku,quantity,counted_at\nhq,sku-1,-3,2026-11-22T06:00:00\n"  # a dbt test fails
GOOD_STOCK = "warehouse_id,sku,quantity,counted_at\neu1,sku-1,4,2026-11-22T06:00:00\n"


def _overview(stack: LocalStack) -> dict[str, Any]:
    token = httpx.get(f"{stack.url}/auth/token", timeout=10).json()["access_token"]
    response = httpx.get(f"{stack.url}/airlock/status/api/overview", params={"history": 10},
                         headers={"Authorization": f"Bearer {token}"}, timeout=60)  # fmt: skip
    response.raise_for_status()
    return response.json()


def _seen(data: dict[str, Any]) -> dict[str, Any]:
    """What the test waits for, as a summary it can print when it gives up."""
    attention = [b for p in data["pairs"] for b in p["attention"]]
    return {
        "quarantined": [b["batch_id"] for b in attention if b["state"] == "quarantined" and b.get("reasons")],
        "failed_with_task": [b["batch_id"] for b in attention if b["state"] == "failed" and b.get("failed_tasks")],
        "disabled": [d["tenant_id"] for d in data["disabled"]],
        "watchers": {w["name"]: w["state"] for w in data["watchers"]},
        "states": {f"{p['tenant_id']}/{p['dataflow']}": [b["state"] for b in p["batches"]] for p in data["pairs"]},
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    state = tmp_path_factory.mktemp("ui-stack")
    tenants = state / "tenants"
    shutil.copytree(ROOT / "dags" / "registry" / "tenants", tenants)
    (tenants / "broken.yaml").write_text("tenant_id: broken\ndataflows: [orders\n", encoding="utf-8")  # bad YAML
    extra = {"AIRLOCK_TENANTS_DIR": str(tenants), "AIRLOCK_WAREHOUSE_DIR": str(state / "warehouse")}
    with LocalStack(state, ["acme", "globex", "initech"], port=free_port(), extra_env=extra, wait_dags=DAGS,
                    wait_watchers=True) as running:  # fmt: skip
        bucket = running.env["AIRLOCK_LANDING_URL"].removeprefix("s3://").split("/")[0]
        for key, body in (
            ("initech/inventory/20261121/stock_main.csv", BAD_STOCK),
            ("initech/inventory/20261122/stock_main.csv", NEGATIVE_STOCK),
            ("acme/inventory/20261122/stock_eu.csv", GOOD_STOCK),
            ("acme/inventory/20261122/stock_us.csv", GOOD_STOCK.replace("eu1", "us1")),
        ):
            running.s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
        started, seen, last = time.monotonic(), {}, ""
        while True:
            seen = _seen(_overview(running))
            done = (
                seen["quarantined"] and seen["failed_with_task"] and seen["disabled"]
                and "polling" in seen["watchers"].values()
                and "done" in seen["states"].get("acme/inventory", [])
            )  # fmt: skip
            if done:
                break
            if (line := repr(seen)) != last:
                print(f"[ui] {time.monotonic() - started:.0f}s: {line}", flush=True)
                last = line
            if time.monotonic() - started > READY_SECONDS:
                pytest.fail(f"the stack did not reach the page's states within {READY_SECONDS}s; last seen: {seen}")
            time.sleep(3)
        yield running


def _chromium(*args: str, profile: Path) -> str:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", *args]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _login(base: str, next_path: str) -> str:
    # The simple auth manager (all admins) sets Airflow's JWT cookie, then redirects to `next`.
    return f"{base}/auth/token/login?next={next_path}"


def _rendered(stack: LocalStack, profile: Path, path: str = "/plugin/airlock-status") -> str:
    """The DOM after the page's JavaScript ran (its data is fetched after the first render)."""
    for budget in (15000, 30000, 60000):  # virtual time: a busy machine needs more before the data is in
        dom = _chromium(f"--virtual-time-budget={budget}", "--dump-dom", _login(stack.url, path),
                        profile=profile / str(budget))  # fmt: skip
        if 'data-testid="grid"' in dom:
            return dom
    raise AssertionError(f"the page never rendered its grid; DOM tail:\n{dom[-3000:]}")


def test_the_plugin_is_a_react_app_in_airflows_browse_menu(stack: LocalStack) -> None:
    token = httpx.get(f"{stack.url}/auth/token").json()["access_token"]
    plugins = httpx.get(f"{stack.url}/api/v2/plugins", headers={"Authorization": f"Bearer {token}"}).json()
    ours = next(p for p in plugins["plugins"] if p["name"] == "airlock_status")
    assert ours["fastapi_apps"][0]["url_prefix"] == "/airlock/status"
    app = ours["react_apps"][0]
    assert (app["url_route"], app["category"], app["bundle_url"]) == (
        "airlock-status", "browse", "airlock/status/static/status.js",
    )  # fmt: skip
    # (The local stack makes every user an admin, so Airflow lets any request in; tests/unit covers the 401.)


def test_the_page_shows_reasons_failed_task_logs_disabled_tenants_and_watchers(
    stack: LocalStack, tmp_path: Path
) -> None:
    dom = _rendered(stack, tmp_path)
    text = html.unescape(re.sub(r"<[^>]+>", " ", dom))
    # A quarantine reason, inline.
    assert re.search(r'data-attention="quarantined"[^>]*data-batch="20261121"', dom)
    assert "stock_main.csv: wrong_columns" in text
    # A failed batch, with the links to its run and to the failing task's log.
    failed = re.search(r'data-attention="failed"[^>]*data-batch="20261122".*?(?=data-attention=|</td>)', dom, re.S)
    assert failed, "no failed batch on the page"
    assert re.search(r'href="[^"]*/dags/process_inventory/runs/[^"]+/tasks/[^"]+"[^>]*data-log=', failed.group(0))
    assert re.search(r'href="[^"]*/dags/process_inventory/runs/[^"/]+"', failed.group(0))
    # The tenant disabled by its bad file, with the error.
    assert 'data-disabled="broken"' in dom and "broken.yaml" in text
    # Watcher health per queue, as the API sees it: the wired tenants' watchers polling in the triggerer;
    # a watcher whose queue does not exist (none was wired for it) says so instead of looking healthy.
    watchers = dict(re.findall(r'data-watcher="([^"]+)" data-watcher-state="([^"]+)"', dom))
    expected = {w["name"]: w["state"] for w in _overview(stack)["watchers"]}
    assert watchers == expected and "polling" in watchers.values(), watchers
    dedicated = [t for t in stack.env.get("AIRLOCK_DEDICATED_TENANTS", "").split(",") if t]
    wired = {stack.env["AIRLOCK_SHARED_QUEUE_URL"]} | {
        stack.env["AIRLOCK_QUEUE_URL_TEMPLATE"].format(tenant=t) for t in dedicated
    }  # the queues the stack created: the standard tier's shared one, one per dedicated tenant
    for watcher in _overview(stack)["watchers"]:
        if watcher["queue"] in wired:
            assert watcher["state"] == "polling", watcher
        elif watcher["queue"]:
            assert watcher["state"] == "queue missing", watcher
    # The grid: one health bar square per recent batch, in Airflow's state colours.
    assert re.search(r'data-tenant="acme"[^>]*data-dataflow="inventory"', dom)
    assert " - ago" not in text and "undefined" not in text


def test_screenshots_are_saved_as_artifacts(stack: LocalStack, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "status_page.png").unlink(missing_ok=True)
    _chromium("--window-size=1600,1100", "--virtual-time-budget=30000", f"--screenshot={ARTIFACTS / 'status_page.png'}",
              _login(stack.url, "/plugin/airlock-status"), profile=tmp_path / "shot")  # fmt: skip
    shot = ARTIFACTS / "status_page.png"
    assert shot.stat().st_size > 20_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # ?tenant= pre-fills the filter: the page of one tenant's trouble.
    dom = _rendered(stack, tmp_path / "filtered", "/plugin/airlock-status?tenant=initech")
    assert set(re.findall(r'data-tenant="([^"]+)"', dom)) == {"initech"}


def test_lineage_page_renders_offline_in_the_browser(tmp_path: Path) -> None:
    """The lineage HTML draws its own SVG: Chromium shows every node with no network at all."""
    from airlock.observability.lineage import build_lineage, load_manifest, to_html

    manifest_path = ROOT / "dbt_project" / "target" / "manifest.json"
    if not manifest_path.exists():
        pytest.skip("no dbt manifest yet (make manifest)")
    tenants, dataflows = write_registry(tmp_path / "registry", {"acme": ["orders", "inventory"], "globex": ["orders"]})
    graph = build_lineage(load_registry(tenants, dataflows), load_manifest(manifest_path))
    page = tmp_path / "lineage.html"
    page.write_text(to_html(graph), encoding="utf-8")

    dom = _chromium("--dump-dom", page.as_uri(), profile=tmp_path / "p5")
    assert dom.count('<g class="node') == len(graph.nodes)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "lineage.png"
    _chromium("--window-size=1600,900", f"--screenshot={shot}", page.as_uri(), profile=tmp_path / "p6")
    assert shot.stat().st_size > 10_000
