"""The status page inside a real Airflow api-server, loaded by headless Chromium.

Starts `airflow api-server` with a temp AIRFLOW_HOME, the repo's plugins/ folder and fixture
batches written through Storage, then checks what the browser renders (after the page's own
JavaScript ran) and saves screenshots under var/artifacts/.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from airlock.observability.sample import Roots, write_batch, write_registry
from airlock.storage import LocalStorage
from airlock.tenants import load_registry

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
AIRFLOW = Path(sys.executable).with_name("airflow")

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt-get install chromium)")

EXPECTED = {  # tenant -> the states its rows must show
    "acme": {"done", "waiting", "late"},
    "globex": {"quarantined"},
    "initech": {"failed"},
    "umbrella": {"processing"},
    "hooli": {"no batches"},
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """SIGINT first (clean shutdown), then escalate; only this process group, which we started."""
    for sig, wait in ((signal.SIGINT, 10), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        if proc.poll() is not None:
            return
        os.killpg(proc.pid, sig)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow_home")
    data = home / "data"
    tenants, dataflows = write_registry(home / "registry", {
        "acme": ["orders", "inventory"], "globex": ["orders"], "initech": ["inventory"],
        "umbrella": ["orders"], "hooli": ["inventory"],
    })  # fmt: skip
    registry = load_registry(tenants, dataflows)
    roots = Roots(*(LocalStorage(data / n) for n in ("landing", "raw", "quarantine")))
    now = datetime.now(UTC)
    write_batch(roots, registry, "acme", "orders", "20261120", "done", at=now - timedelta(days=1), run_id="run_acme_1")
    write_batch(roots, registry, "acme", "orders", "20261121", "waiting", at=now - timedelta(minutes=5))
    write_batch(roots, registry, "acme", "inventory", "20261121", "late", at=now - timedelta(hours=3))
    write_batch(roots, registry, "globex", "orders", "20261121", "quarantined", at=now - timedelta(minutes=2))
    write_batch(roots, registry, "initech", "inventory", "20261121", "failed", at=now - timedelta(minutes=9),
                run_id="run_initech_1")  # fmt: skip
    write_batch(roots, registry, "umbrella", "orders", "20261121", "processing", at=now - timedelta(minutes=1))

    (home / "dags").mkdir()
    port = _free_port()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__API__PORT": str(port),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "include"), os.environ.get("PYTHONPATH", "")]),
        "AIRLOCK_HOME": str(ROOT),
        "AIRLOCK_DATA_DIR": str(data),
        "AIRLOCK_TENANTS_DIR": str(tenants),
        "AIRLOCK_DATAFLOWS_DIR": str(dataflows),
        "AIRLOCK_LANDING_URL": str(data / "landing"),
        "AIRLOCK_RAW_URL": str(data / "raw"),
        "AIRLOCK_QUARANTINE_URL": str(data / "quarantine"),
    }
    subprocess.run([str(AIRFLOW), "db", "migrate"], env=env, check=True, capture_output=True, timeout=120)
    log = (home / "api-server.log").open("w")
    proc = subprocess.Popen([str(AIRFLOW), "api-server", "--port", str(port), "--host", "127.0.0.1"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"api-server did not start:\n{(home / 'api-server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield base
    finally:
        _stop(proc)
        log.close()


def _chromium(*args: str, profile: Path) -> str:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           f"--user-data-dir={profile}", *args]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _login(base: str, next_path: str) -> str:
    # The simple auth manager (all admins) sets the JWT cookie, then redirects to `next`.
    return f"{base}/auth/token/login?next={httpx.URL(next_path)}"


def _rows(dom: str) -> list[dict[str, str]]:
    return [
        {"tenant": t, "states": s, "hidden": "hidden" in (c or "")}
        for t, s, c in re.findall(r'<tr data-tenant="([^"]+)" data-states="([^"]*)"(?: class="([^"]*)")?>', dom)
    ]


def test_page_and_api_use_airflows_authentication(airflow: str) -> None:
    # No cookie: the page sends the browser to the auth manager's login, coming back afterwards.
    # (In all-admins mode Airflow's middleware authenticates every API call; tests/unit covers 401s.)
    response = httpx.get(f"{airflow}/airlock/status/", follow_redirects=False)
    assert response.status_code == 200 or "/auth/token/login?next=" in response.headers["location"]
    token = httpx.get(f"{airflow}/auth/token").json()["access_token"]
    api = httpx.get(f"{airflow}/airlock/status/api/status", headers={"Authorization": f"Bearer {token}"})
    assert {r["tenant_id"] for r in api.json()} == set(EXPECTED)


def test_plugin_is_registered_with_the_api_server(airflow: str) -> None:
    token = httpx.get(f"{airflow}/auth/token").json()["access_token"]
    plugins = httpx.get(f"{airflow}/api/v2/plugins", headers={"Authorization": f"Bearer {token}"}).json()
    ours = next(p for p in plugins["plugins"] if p["name"] == "airlock_status")
    assert ours["fastapi_apps"][0]["url_prefix"] == "/airlock/status"
    assert ours["external_views"][0]["url_route"] == "airlock-status"


def test_browser_shows_every_tenant_with_its_states(airflow: str, tmp_path: Path) -> None:
    dom = _chromium("--dump-dom", _login(airflow, "/airlock/status/"), profile=tmp_path / "p1")
    rows = _rows(dom)
    seen: dict[str, set[str]] = {}
    for row in rows:
        seen.setdefault(row["tenant"], set()).update(row["states"].split(","))
    assert seen == EXPECTED
    assert not any(row["hidden"] for row in rows)
    assert "waiting 1/2 files" in dom and "quarantined (1 file)" in dom and "late 1/1 files" in dom
    assert 'href="/dags/process_inventory/runs/run_initech_1"' in dom  # links to the run, inside Airflow
    assert 'href="/dags/process_orders/runs/run_acme_1"' in dom


def test_filter_hides_other_tenants_and_screenshots_are_saved(airflow: str, tmp_path: Path) -> None:
    dom = _chromium("--dump-dom", _login(airflow, "/airlock/status/?tenant=acme"), profile=tmp_path / "p2")
    visible = {r["tenant"] for r in _rows(dom) if not r["hidden"]}
    assert visible == {"acme"}  # the filter ran in the browser

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = ARTIFACTS / "status_page.png"
    in_airflow = ARTIFACTS / "status_page_in_airflow.png"
    for path in (page, in_airflow):
        path.unlink(missing_ok=True)
    _chromium("--window-size=1280,720", f"--screenshot={page}", _login(airflow, "/airlock/status/"),
              profile=tmp_path / "p3")  # fmt: skip
    # The same page as a user finds it: Browse -> Tenant batches, inside the Airflow UI.
    _chromium("--window-size=1400,800", "--virtual-time-budget=8000", f"--screenshot={in_airflow}",
              _login(airflow, "/plugin/airlock-status"), profile=tmp_path / "p4")  # fmt: skip
    for path in (page, in_airflow):
        assert path.stat().st_size > 10_000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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
