"""`airlock status`: states from the storage markers, bounded reads, table/JSON output, the web app."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from airlock import cli
from airlock.errors import AirlockError
from airlock.metrics import Metrics
from airlock.observability import status as status_module
from airlock.observability.sample import Roots, write_batch, write_registry
from airlock.observability.statsd import StatsdListener, tenant_leaks
from airlock.observability.status import ATTENTION_WINDOW, collect_status, emit_status_metrics, render_table
from airlock.storage import LocalStorage
from airlock.tenants import Registry, load_registry

NOW = datetime.now(UTC)
SUBSCRIPTIONS = {
    "acme": ["orders", "inventory"],
    "globex": ["orders"],
    "initech": ["inventory"],
    "umbrella": ["orders"],
}


class CountingStorage(LocalStorage):
    """A local folder that counts listings and object reads (heads inside list are local stats)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.lists: list[str] = []
        self.reads: list[str] = []

    def list(self, prefix: str = ""):  # type: ignore[override]
        self.lists.append(prefix)
        return super().list(prefix)

    def open_read(self, key: str):  # type: ignore[override]
        self.reads.append(key)
        return super().open_read(key)


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return load_registry(*write_registry(tmp_path / "registry", SUBSCRIPTIONS))


@pytest.fixture
def roots(tmp_path: Path) -> Roots:
    return Roots(*(CountingStorage(tmp_path / name) for name in ("landing", "raw", "quarantine")))


def _by_pair(rows):
    """The first (newest) row of each tenant x dataflow."""
    found = {}
    for r in rows:
        found.setdefault((r.tenant_id, r.dataflow), r)
    return found


def test_each_tenant_shows_its_last_batch_and_state(registry: Registry, roots: Roots) -> None:
    write_batch(roots, registry, "acme", "orders", "20261119", "done", at=NOW - timedelta(days=2))
    write_batch(roots, registry, "acme", "orders", "20261120", "failed", at=NOW - timedelta(days=1))
    write_batch(roots, registry, "acme", "orders", "20261121", "waiting", at=NOW - timedelta(minutes=5))
    write_batch(roots, registry, "acme", "inventory", "20261121", "processing", at=NOW - timedelta(minutes=2))
    write_batch(roots, registry, "globex", "orders", "20261121", "quarantined", at=NOW - timedelta(minutes=1))
    write_batch(roots, registry, "initech", "inventory", "20261121", "snapshotted", at=NOW - timedelta(seconds=30))

    rows = collect_status(registry, roots.landing, roots.raw, roots.quarantine, now=NOW, airflow_url="http://af:8080")
    got = _by_pair(rows)

    # One row per tenant x dataflow, plus acme/orders' failed batch under its newer waiting one.
    assert [(r.tenant_id, r.dataflow, r.batch_id) for r in rows if r.state == "failed"] == [
        ("acme", "orders", "20261120")
    ]
    assert len(rows) == 5 + 1
    assert got[("acme", "orders")].label == "waiting 1/2 files"  # orders + customers required, refunds optional
    assert got[("acme", "orders")].batch_id == "20261121"
    assert got[("acme", "inventory")].state == "processing"
    assert got[("acme", "inventory")].run_url.startswith("http://af:8080/dags/process_inventory/runs/")
    assert got[("globex", "orders")].label == "quarantined (1 file)"
    assert got[("initech", "inventory")].state == "snapshotted"
    assert got[("initech", "inventory")].snapshot_ts is not None
    assert got[("umbrella", "orders")].state == "no batches"
    # Freshness counts from the last *successful* batch, two days ago, not the failed one.
    assert got[("acme", "orders")].freshness_seconds == pytest.approx(timedelta(days=2).total_seconds(), abs=5)
    assert got[("acme", "inventory")].freshness_seconds is None


def test_history_lists_newest_first_with_run_links(registry: Registry, roots: Roots) -> None:
    write_batch(roots, registry, "acme", "orders", "20261119", "done", at=NOW - timedelta(days=2), run_id="r1")
    write_batch(roots, registry, "acme", "orders", "20261120", "failed", at=NOW - timedelta(days=1), run_id="r/2")
    rows = [r for r in collect_status(registry, roots.landing, roots.raw, roots.quarantine, now=NOW, history=5,
                                      airflow_url="") if r.tenant_id == "acme" and r.dataflow == "orders"]  # fmt: skip
    assert [(r.batch_id, r.state) for r in rows] == [("20261120", "failed"), ("20261119", "done")]
    assert rows[0].run_url == "/dags/process_orders/runs/r%2F2"  # relative inside Airflow, run id escaped
    assert rows[1].rows_loaded == {"orders": 1, "customers": 1, "refunds": 1}


def test_incomplete_batch_turns_late_after_the_contract_deadline(registry: Registry, roots: Roots) -> None:
    write_batch(roots, registry, "acme", "orders", "20261121", "waiting", at=NOW)
    write_batch(roots, registry, "acme", "inventory", "20261121", "waiting", at=NOW)
    later = NOW + timedelta(hours=1)  # past orders' 30m deadline, within inventory's 2h
    got = _by_pair(collect_status(registry, roots.landing, roots.raw, roots.quarantine, now=later))
    assert got[("acme", "orders")].label == "late 1/2 files"
    assert got[("acme", "orders")].late_batches == 1
    assert got[("acme", "inventory")].label == "waiting 1/1 files"


def test_a_rerun_after_done_shows_processing(registry: Registry, roots: Roots) -> None:
    write_batch(roots, registry, "globex", "orders", "20261121", "done", at=NOW - timedelta(hours=1))
    roots.raw.write_bytes("globex/orders/20261121/_RUN.json", b'{"run_id": "manual__2", "dag_id": "process_orders"}')
    got = _by_pair(collect_status(registry, roots.landing, roots.raw, roots.quarantine, now=NOW, airflow_url=""))
    assert got[("globex", "orders")].state == "processing"
    assert got[("globex", "orders")].run_id == "manual__2"


def test_malformed_markers_do_not_break_status(registry: Registry, roots: Roots) -> None:
    roots.raw.write_bytes("globex/orders/20261121/_DONE.json", b"{not json")
    roots.raw.write_bytes("nobody/orders/20261121/_DONE.json", b"{}")  # unknown tenant: ignored
    roots.landing.write_bytes("globex/orders/not/a/valid/key.csv", b"x")  # not the contract's layout
    got = _by_pair(collect_status(registry, roots.landing, roots.raw, roots.quarantine, now=NOW))
    assert got[("globex", "orders")].state == "failed"  # a _DONE that does not say success is not done
    assert got[("globex", "orders")].run_id is None


def test_one_listing_per_root_and_reads_only_for_the_rows_shown(registry: Registry, roots: Roots) -> None:
    for day in range(1, 11):  # ten finished batches per pair: status must not read them all
        for tenant, flows in SUBSCRIPTIONS.items():
            for flow in flows:
                write_batch(
                    roots, registry, tenant, flow, f"202611{day:02d}", "done", at=NOW - timedelta(days=20 - day)
                )
    rows = collect_status(registry, roots.landing, roots.raw, roots.quarantine, now=NOW)
    assert {r.state for r in rows} == {"done"}
    for storage in (roots.landing, roots.raw, roots.quarantine):
        assert storage.lists == [""]  # one listing of the whole root, never one per tenant or batch
    # The newest ATTENTION_WINDOW _DONE markers per pair (is any of them a failure?), not all ten.
    assert len(roots.raw.reads) == ATTENTION_WINDOW * len(rows) < 10 * len(rows)
    assert not roots.landing.reads and not roots.quarantine.reads


def test_the_sweeps_gauges_read_one_marker_per_pair_not_the_attention_window(registry: Registry, roots: Roots) -> None:
    """The reconcile sweep (every 30 s) needs freshness and late counts, not which older batch failed."""
    for day in range(1, 11):
        for tenant, flows in SUBSCRIPTIONS.items():
            for flow in flows:
                write_batch(
                    roots, registry, tenant, flow, f"202611{day:02d}", "done", at=NOW - timedelta(days=20 - day)
                )
    write_batch(roots, registry, "acme", "orders", "20261111", "failed", at=NOW - timedelta(hours=1))
    full = collect_status(registry, roots.landing, roots.raw, roots.quarantine, now=NOW)
    roots.raw.reads.clear()
    status_module._MARKER_CACHE.clear()
    gauges = collect_status(registry, roots.landing, roots.raw, roots.quarantine, now=NOW, attention=False)
    pairs = len(gauges)
    assert pairs == 5 and len(full) == pairs  # the failed one is the newest: no older attention row here
    # acme/orders: the newest (failed) _DONE, then the newest successful one; every other pair: one read.
    assert len(roots.raw.reads) == pairs + 1 < ATTENTION_WINDOW * pairs
    assert [(r.tenant_id, r.dataflow, r.freshness_seconds, r.late_batches) for r in gauges] == [
        (r.tenant_id, r.dataflow, r.freshness_seconds, r.late_batches) for r in full
    ]


def test_a_newer_batch_never_hides_a_quarantined_failed_or_late_one(registry: Registry, roots: Roots) -> None:
    write_batch(roots, registry, "acme", "orders", "20261117", "failed", at=NOW - timedelta(days=4), run_id="r17")
    write_batch(roots, registry, "acme", "orders", "20261118", "done", at=NOW - timedelta(days=3))
    write_batch(roots, registry, "acme", "orders", "20261119", "late", at=NOW - timedelta(days=2))
    write_batch(roots, registry, "acme", "orders", "20261120", "quarantined", at=NOW - timedelta(days=1))
    write_batch(roots, registry, "acme", "orders", "20261121", "done", at=NOW - timedelta(hours=1))
    rows = [r for r in collect_status(registry, roots.landing, roots.raw, roots.quarantine, now=NOW, airflow_url="")
            if (r.tenant_id, r.dataflow) == ("acme", "orders")]  # fmt: skip
    assert [(r.batch_id, r.state) for r in rows] == [
        ("20261121", "done"),  # the newest, as before
        ("20261120", "quarantined"),  # and, newest first, what needs a person
        ("20261119", "late"),
        ("20261117", "failed"),
    ]
    assert rows[-1].run_url == "/dags/process_orders/runs/r17"
    assert "20261117" in render_table(rows) and "failed" in render_table(rows)
    # The reasons, inline: the quarantined file's .reason.json, and what a late batch still lacks.
    assert rows[1].reasons == ["orders.csv: bad_header (missing column)"]
    assert rows[2].reasons[0].startswith("missing customers: due 30m after the first file, which came 2d ago")
    assert "orders.csv: bad_header (missing column)" in render_table(rows)


def test_without_a_known_airflow_url_runs_are_shown_by_id_not_by_a_guessed_link(
    registry: Registry, roots: Roots, monkeypatch
) -> None:
    from airlock.observability.status import default_airflow_url

    monkeypatch.delenv("AIRLOCK_AIRFLOW_URL", raising=False)
    monkeypatch.delenv("AIRFLOW__API__BASE_URL", raising=False)
    assert default_airflow_url() is None
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://localhost:8081")
    assert default_airflow_url() == "http://localhost:8081"
    write_batch(roots, registry, "globex", "orders", "20261121", "done", at=NOW, run_id="run_9")
    rows = collect_status(registry, roots.landing, roots.raw, roots.quarantine, now=NOW, airflow_url=None)
    globex = _by_pair(rows)[("globex", "orders")]
    assert globex.run_url is None and globex.run_id == "run_9"
    assert "run_9" in render_table(rows) and ":8080" not in render_table(rows)


def test_tenant_filter_lists_only_that_tenant(registry: Registry, roots: Roots) -> None:
    write_batch(roots, registry, "acme", "orders", "20261121", "done", at=NOW)
    write_batch(roots, registry, "globex", "orders", "20261121", "done", at=NOW)
    rows = collect_status(registry, roots.landing, roots.raw, roots.quarantine, tenants=["globex"])
    assert {r.tenant_id for r in rows} == {"globex"}
    assert roots.raw.lists == ["globex/"]
    with pytest.raises(AirlockError, match="unknown tenant"):
        collect_status(registry, roots.landing, roots.raw, roots.quarantine, tenants=["nobody"])


def test_table_has_a_line_per_pair(registry: Registry, roots: Roots) -> None:
    write_batch(roots, registry, "acme", "orders", "20261121", "failed", at=NOW - timedelta(minutes=3, seconds=30))
    table = render_table(collect_status(registry, roots.landing, roots.raw, roots.quarantine, now=NOW))
    lines = table.splitlines()
    assert lines[0].split() == ["TENANT", "DATAFLOW", "BATCH", "STATE", "AGE", "FRESHNESS", "RUN", "WHY"]
    assert any(line.startswith("acme") and "failed" in line and "3m" in line for line in lines)
    assert len(lines) == 1 + 5


def test_cli_json_and_table(registry: Registry, tmp_path: Path, monkeypatch, capfd) -> None:
    reg_dir = tmp_path / "registry"
    monkeypatch.setenv("AIRLOCK_TENANTS_DIR", str(reg_dir / "tenants"))
    monkeypatch.setenv("AIRLOCK_DATAFLOWS_DIR", str(reg_dir / "dataflows"))
    for name in ("landing", "raw", "quarantine"):
        monkeypatch.setenv(f"AIRLOCK_{name.upper()}_URL", str(tmp_path / name))
    monkeypatch.setenv("AIRLOCK_AIRFLOW_URL", "http://airflow.example")
    roots = Roots(*(LocalStorage(tmp_path / n) for n in ("landing", "raw", "quarantine")))
    write_batch(roots, registry, "initech", "inventory", "20261121", "done", at=NOW - timedelta(minutes=1))

    assert cli.main(["status", "--json"]) == 0
    data = json.loads(capfd.readouterr().out)
    initech = next(d for d in data if d["tenant_id"] == "initech")
    assert initech["state"] == "done" and initech["label"] == "done"
    assert initech["run_url"].startswith("http://airflow.example/dags/process_inventory/runs/")
    assert {d["tenant_id"] for d in data} == set(SUBSCRIPTIONS)

    assert cli.main(["status", "--state", "done"]) == 0
    out = capfd.readouterr().out
    assert "initech" in out and "umbrella" not in out and "1 row(s): 1 done" in out

    assert cli.main(["status", "--tenant", "nobody"]) == 2  # one clear line, no traceback
    captured = capfd.readouterr()
    assert "unknown tenant" in captured.err and not captured.out


def test_the_cli_imports_only_the_command_it_runs() -> None:
    """`airlock status` is typed often and must answer fast: it does not import every other command's
    dependencies (boto3, Airflow's REST client: about a second), while `airlock --help` still lists all."""
    import subprocess
    import sys

    code = (
        "import sys; from airlock import cli; cli.build_parser('status'); "
        "print(sorted(m for m in sys.modules if m.startswith('airlock.commands.') or m == 'boto3'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["['airlock.commands.status']"], done.stdout
    every = cli.build_parser()
    names = next(a for a in every._actions if a.dest == "command").choices
    assert {"status", "reprocess", "tenant", "infra"} <= set(names)


def test_cli_json_stays_valid_when_airflows_logging_writes_to_stdout(tmp_path: Path) -> None:
    """The real S3 path: a moto server, the client made through Airflow's connection (which logs INFO
    lines to stdout), `airlock status --json` in its own process: stdout must parse as JSON."""
    import os
    import subprocess
    import sys

    from airlock.devstack.local_aws import client, start_moto
    from airlock.devstack.processes import Supervisor

    reg = tmp_path / "registry"
    tenants, dataflows = write_registry(reg, SUBSCRIPTIONS)
    registry = load_registry(tenants, dataflows)
    with Supervisor(tmp_path / "moto", log=None) as supervisor:
        endpoint = start_moto(supervisor)
        s3 = client("s3", endpoint)
        from airlock.storage import S3Storage

        for bucket in ("landing", "raw", "quarantine"):
            s3.create_bucket(Bucket=bucket)
        roots = Roots(*(S3Storage(b, "", s3) for b in ("landing", "raw", "quarantine")))
        write_batch(roots, registry, "acme", "orders", "20261121", "quarantined", at=NOW)
        conn = json.dumps({"conn_type": "aws", "login": "testing", "password": "testing",
                           "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}})  # fmt: skip
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AIRLOCK_", "AIRFLOW"))},
            "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "include"),
            "AIRFLOW_HOME": str(tmp_path / "airflow"),
            "AIRFLOW_CONN_AWS_DEFAULT": conn,
            "AIRLOCK_TENANTS_DIR": str(tenants),
            "AIRLOCK_DATAFLOWS_DIR": str(dataflows),
            **{f"AIRLOCK_{n.upper()}_URL": f"s3://{n}" for n in ("landing", "raw", "quarantine")},
        }
        done = subprocess.run([sys.executable, "-m", "airlock", "status", "--json"], env=env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(done.stdout)  # nothing but the data
    assert "AWS Connection" in done.stderr  # Airflow's INFO line, which it writes to stdout, went to stderr
    assert ("acme", "orders", "quarantined") in {(d["tenant_id"], d["dataflow"], d["state"]) for d in data}
    assert all(d["run_url"] is None for d in data)  # no Airflow URL known: no guessed links


def test_status_metrics_go_out_per_tenant_over_udp(registry: Registry, roots: Roots) -> None:
    write_batch(roots, registry, "acme", "orders", "20261120", "done", at=NOW - timedelta(hours=3))
    write_batch(roots, registry, "acme", "orders", "20261121", "waiting", at=NOW - timedelta(hours=1))
    write_batch(roots, registry, "globex", "orders", "20261121", "done", at=NOW - timedelta(minutes=10))
    rows = collect_status(registry, roots.landing, roots.raw, roots.quarantine, now=NOW)
    with StatsdListener() as listener:
        metrics = Metrics(listener.address, env="test")
        assert emit_status_metrics(rows, metrics) == 5
        got = listener.wait_for(lambda d: len(d) >= 7, prefix="airlock.")  # 2 freshness + 5 late gauges
        metrics.close()
    fresh = {(d.tag("tenant"), d.tag("dataflow")): d.value for d in got if d.name == "airlock.freshness.seconds"}
    assert fresh[("acme", "orders")] == pytest.approx(3 * 3600, abs=5)
    assert fresh[("globex", "orders")] == pytest.approx(600, abs=5)
    late = {(d.tag("tenant"), d.tag("dataflow")): d.value for d in got if d.name == "airlock.batches.late"}
    assert late[("acme", "orders")] == 1 and late[("globex", "orders")] == 0
    assert not tenant_leaks(got, {t: set(f) for t, f in SUBSCRIPTIONS.items()})
    assert all(d.tag("env") == "test" for d in got)


def test_web_overview_groups_batches_with_reasons_failed_task_logs_disabled_tenants_and_watchers(
    registry: Registry, roots: Roots
) -> None:
    from fastapi.testclient import TestClient

    from airlock.observability.web import create_app

    write_batch(roots, registry, "acme", "orders", "20261119", "done", at=NOW - timedelta(days=2))
    write_batch(roots, registry, "acme", "orders", "20261120", "failed", at=NOW - timedelta(days=1), run_id="r20")
    write_batch(roots, registry, "acme", "orders", "20261121", "done", at=NOW - timedelta(minutes=3))
    write_batch(roots, registry, "globex", "orders", "20261121", "quarantined", at=NOW - timedelta(minutes=1))

    def loader(**kwargs):
        return collect_status(registry, roots.landing, roots.raw, roots.quarantine, airflow_url="", **kwargs)

    asked: list[list[tuple[str, str]]] = []

    def failed(runs):
        asked.append(sorted(runs))
        return {("process_orders", "r20"): [{"task_id": "dbt.fct_orders", "try_number": 1, "url": "/dags/x/log"}]}

    watchers = [{"name": "landing_acme", "asset": "landing", "queue": "q", "state": "polling", "detail": "ok"}]
    client = TestClient(create_app(loader, require_login=False, disabled=lambda: {"broken": "bad: x"},
                                   watchers=lambda: watchers, failed=failed))  # fmt: skip
    data = client.get("/api/overview", params={"history": 5}).json()
    assert asked == [[("process_orders", "r20")]]  # only the failed runs shown are looked up
    pairs = {(p["tenant_id"], p["dataflow"]): p for p in data["pairs"]}
    acme = pairs[("acme", "orders")]
    assert [b["batch_id"] for b in acme["batches"]] == ["20261119", "20261120", "20261121"]  # oldest first
    assert acme["latest"]["batch_id"] == "20261121" and acme["state"] == "done"
    assert [(b["batch_id"], b["failed_tasks"][0]["url"]) for b in acme["attention"]] == [("20261120", "/dags/x/log")]
    assert "task dbt.fct_orders failed (try 1)" in acme["attention"][0]["reasons"]
    globex = pairs[("globex", "orders")]
    assert globex["attention"][0]["reasons"] == ["orders.csv: bad_header (missing column)"]
    assert data["disabled"] == [{"tenant_id": "broken", "error": "bad: x"}]
    assert data["watchers"] == watchers
    assert data["counts"] == {"quarantined": 1, "done": 1, "no batches": 3}
    assert client.get("/api/status", params={"tenant": "globex"}).json()[0]["state"] == "quarantined"
    bundle = client.get("/static/status.js")
    assert bundle.status_code == 200 and "javascript" in bundle.headers["content-type"]
    assert "globalThis.AirflowPlugin = TenantBatches" in bundle.text
    assert "http://" not in bundle.text and "https://" not in bundle.text  # nothing fetched from elsewhere
    assert client.get("/", follow_redirects=False).headers["location"].endswith("/plugin/airlock-status")


def test_the_page_gets_only_the_pairs_it_shows_filtered_by_the_server(registry: Registry, roots: Roots) -> None:
    from fastapi.testclient import TestClient

    from airlock.observability.web import create_app

    write_batch(roots, registry, "acme", "orders", "20261120", "failed", at=NOW - timedelta(days=1), run_id="r20")
    write_batch(roots, registry, "acme", "orders", "20261121", "done", at=NOW - timedelta(minutes=3))
    write_batch(roots, registry, "globex", "orders", "20261121", "quarantined", at=NOW - timedelta(minutes=1))
    write_batch(roots, registry, "umbrella", "orders", "20261121", "failed", at=NOW - timedelta(minutes=2), run_id="u1")
    asked: list[list[tuple[str, str]]] = []

    def failed(runs):
        asked.append(sorted(runs))
        return {}

    def loader(**kwargs):
        return collect_status(registry, roots.landing, roots.raw, roots.quarantine, airflow_url="", **kwargs)

    client = TestClient(create_app(loader, require_login=False, disabled=dict, watchers=list, failed=failed))

    def pairs(**params) -> tuple[list[str], dict]:
        data = client.get("/api/overview", params=params).json()
        return [f"{p['tenant_id']}/{p['dataflow']}" for p in data["pairs"]], data

    every, data = pairs()
    assert every == ["acme/inventory", "acme/orders", "globex/orders", "initech/inventory", "umbrella/orders"]
    assert data["total_pairs"] == data["matched_pairs"] == 5
    assert pairs(tenant=" GLO ")[0] == ["globex/orders"]  # a substring, any case
    assert pairs(state="failed")[0] == ["acme/orders", "umbrella/orders"]  # a state of any recent batch
    assert pairs(attention="true")[0] == ["acme/orders", "globex/orders", "umbrella/orders"]
    asked.clear()
    shown, data = pairs(limit=2)
    assert shown == ["acme/inventory", "acme/orders"] and data["matched_pairs"] == 5 and data["total_pairs"] == 5
    assert data["counts"] == {"quarantined": 1, "done": 1, "failed": 1, "no batches": 2}  # counts cover every pair
    assert asked == [[("process_orders", "r20")]]  # failed tasks looked up for the pairs sent, not umbrella's
    assert client.get("/api/overview", params={"state": "bogus"}).status_code == 422


def test_web_api_needs_an_airflow_login_but_the_bundle_does_not(registry: Registry, roots: Roots) -> None:
    from fastapi.testclient import TestClient

    from airlock.observability.web import create_app

    client = TestClient(create_app(lambda **kw: [], require_login=True, disabled=dict, watchers=list, failed=dict))
    assert client.get("/api/status").status_code == 401
    assert client.get("/api/overview").status_code == 401
    assert client.get("/static/status.js").status_code == 200  # code, not data


def test_page_requests_that_arrive_during_a_build_share_it_and_the_next_one_reads_afresh(
    registry: Registry, roots: Roots
) -> None:
    import threading
    import time

    from fastapi.testclient import TestClient

    from airlock.observability.web import create_app

    write_batch(roots, registry, "acme", "orders", "20261121", "done", at=NOW - timedelta(minutes=3))
    calls: list[int] = []
    started, release = threading.Event(), threading.Event()

    def loader(**kwargs):
        calls.append(1)
        started.set()
        assert release.wait(60), "the test never released the build"
        return collect_status(registry, roots.landing, roots.raw, roots.quarantine, airflow_url="", **kwargs)

    app = create_app(loader, require_login=False, disabled=dict, watchers=list, failed=lambda runs: {})
    client = TestClient(app)
    got: list[dict] = []
    first = threading.Thread(target=lambda: got.append(client.get("/api/overview").json()))
    first.start()
    assert started.wait(60), "the first request never reached the loader"
    second = threading.Thread(target=lambda: got.append(client.get("/api/overview").json()))
    second.start()
    deadline = time.monotonic() + 60
    while app.state.overview_builds.joined < 1:
        assert time.monotonic() < deadline, f"the second request never joined the running build; calls={calls}"
        time.sleep(0.01)
    release.set()
    first.join(60)
    second.join(60)
    assert len(calls) == 1 and len(got) == 2  # one read of the storage, both answered from it
    assert got[0]["seconds"] == got[1]["seconds"] and got[0]["pairs"] == got[1]["pairs"]
    latest = {(p["tenant_id"], p["dataflow"]): p["latest"]["batch_id"] for p in got[0]["pairs"]}
    assert latest[("acme", "orders")] == "20261121"
    write_batch(roots, registry, "acme", "orders", "20261122", "quarantined", at=NOW)
    again = client.get("/api/overview").json()  # nothing kept after a build: the next request sees the change
    latest = {(p["tenant_id"], p["dataflow"]): p["latest"]["batch_id"] for p in again["pairs"]}
    assert len(calls) == 2 and latest[("acme", "orders")] == "20261122"


def test_the_pages_pure_helpers_under_nodes_test_runner() -> None:
    """Filters and ages of static/status.js, run by node (the page has no build step to test)."""
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH (this kind of machine ships Node.js 20)")
    test = Path(__file__).resolve().parents[1] / "ui" / "status_page.test.mjs"
    done = subprocess.run([node, "--test", str(test)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "# fail 0" in done.stdout


def test_same_states_from_s3_with_parallel_reads(registry: Registry) -> None:
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    from airlock.storage import S3Storage

    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        for bucket in ("landing", "raw", "quarantine"):
            client.create_bucket(Bucket=bucket)
        roots = Roots(*(S3Storage(b, "env1", client) for b in ("landing", "raw", "quarantine")))
        write_batch(roots, registry, "acme", "orders", "20261120", "done")
        write_batch(roots, registry, "acme", "orders", "20261121", "processing")
        write_batch(roots, registry, "globex", "orders", "20261121", "quarantined")
        write_batch(roots, registry, "initech", "inventory", "20261121", "failed")
        rows = collect_status(registry, roots.landing, roots.raw, roots.quarantine, history=2, airflow_url="")
        got = {(r.tenant_id, r.dataflow, r.batch_id): r.state for r in rows}
        assert got == {
            ("acme", "orders", "20261121"): "processing",
            ("acme", "orders", "20261120"): "done",
            ("acme", "inventory", None): "no batches",
            ("globex", "orders", "20261121"): "quarantined",
            ("initech", "inventory", "20261121"): "failed",
            ("umbrella", "orders", None): "no batches",
        }
        acme = next(r for r in rows if r.batch_id == "20261121" and r.tenant_id == "acme")
        assert acme.run_url and acme.run_url.startswith("/dags/process_orders/runs/")
        assert acme.freshness_seconds is not None  # from the done batch's _DONE


def test_a_whole_s3_root_is_listed_in_slices_side_by_side_with_the_same_states(tmp_path: Path, monkeypatch) -> None:
    """Past 16 tenants an S3 root is listed as 16 slices of its key space at once (a chain of 1,000-key
    pages is 55 round trips at 1,000 tenants); the states must be those a folder gives."""
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    from airlock.storage import S3Storage

    registry = load_registry(*write_registry(tmp_path / "registry", {f"t{i:02d}": ["orders"] for i in range(40)}))
    states = ("done", "failed", "quarantined", "processing", "waiting", "snapshotted")  # late: moto keeps its own times
    sliced: list[tuple[str, str | None]] = []
    real = S3Storage.list_slice
    monkeypatch.setattr(S3Storage, "list_slice", lambda self, a, b: sliced.append((a, b)) or real(self, a, b))
    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        for bucket in ("landing", "raw", "quarantine"):
            client.create_bucket(Bucket=bucket)
        s3 = Roots(*(S3Storage(b, "env1", client) for b in ("landing", "raw", "quarantine")))
        local = Roots(*(LocalStorage(tmp_path / b) for b in ("landing", "raw", "quarantine")))
        for i, tenant in enumerate(sorted(registry.tenants)):
            for roots in (s3, local):
                write_batch(roots, registry, tenant, "orders", "20261121", states[i % len(states)], run_id=f"r{i}")
        got = {
            name: [
                (r.tenant_id, r.batch_id, r.state, r.run_id)
                for r in collect_status(registry, roots.landing, roots.raw, roots.quarantine, now=NOW)
            ]
            for name, roots in (("s3", s3), ("folder", local))
        }
    assert got["s3"] == got["folder"] and {state for _, _, state, _ in got["s3"]} == set(states)
    # 16 slices per root, the same 16 for each; listed side by side, so in whatever order the threads start
    assert len(sliced) == 3 * 16 and len(set(sliced)) == 16, sliced
    assert sorted(set(sliced), key=lambda s: s[0])[:2] == [("", "t02"), ("t02", "t05")], sliced


def test_watcher_queue_backlog_and_a_missing_queue_are_reported_and_cached() -> None:
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    from airlock.observability import airflow_state

    with moto.mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="airlock-t-acme-landing")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="{}")
        missing = url.replace("acme", "nobody")
        airflow_state._queue_cache.clear()
        got = airflow_state.queue_depths([url, missing], sqs)
        assert got[url] == {"waiting": 1, "in_flight": 0}
        assert got[missing] == {"error": "queue missing"}
        sqs.send_message(QueueUrl=url, MessageBody="{}")
        assert airflow_state.queue_depths([url], sqs)[url]["waiting"] == 1  # cached for QUEUE_TTL_SECONDS
    airflow_state._queue_cache.clear()
