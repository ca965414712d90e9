"""Monitors as code: offline validation, per-tenant generation, apply against a fake Datadog API."""

from __future__ import annotations

import copy
import gzip
import json
import threading
import zlib
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from airlock import cli
from airlock.observability.monitors import (
    MANAGED_TAG,
    MonitorDef,
    desired_monitors,
    freshness_monitors,
    load_static,
    render,
    validate,
)
from airlock.observability.sample import write_registry
from airlock.tenants import load_registry

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "observability" / "monitors"
SUBSCRIPTIONS = {"acme": ["orders", "inventory"], "globex": ["orders"]}


class FakeDatadog(ThreadingHTTPServer):
    """The Monitors API subset airlock uses, on 127.0.0.1, recording every request."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.monitors: dict[int, dict] = {}
        self.requests: list[dict] = []
        self.next_id = 1000
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def writes(self) -> list[tuple[str, str]]:
        return [(r["method"], r["path"]) for r in self.requests if r["method"] != "GET"]


class _Handler(BaseHTTPRequestHandler):
    server: FakeDatadog

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def _body(self) -> dict | None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            raw = gzip.decompress(raw)
        elif encoding == "deflate":
            raw = zlib.decompress(raw)
        return json.loads(raw) if raw else None

    def _reply(self, status: int, data: object) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _record(self, body: dict | None) -> tuple[str, dict]:
        url = urlparse(self.path)
        self.server.requests.append({
            "method": self.command, "path": url.path, "query": parse_qs(url.query), "body": body,
            "api_key": self.headers.get("DD-API-KEY"), "app_key": self.headers.get("DD-APPLICATION-KEY"),
        })  # fmt: skip
        return url.path, parse_qs(url.query)

    def _authorized(self) -> bool:
        if self.headers.get("DD-API-KEY") != "test-api" or self.headers.get("DD-APPLICATION-KEY") != "test-app":
            self._reply(403, {"errors": ["Forbidden"]})
            return False
        return True

    def do_GET(self) -> None:
        path, query = self._record(None)
        if not self._authorized():
            return
        if path != "/api/v1/monitor":
            self._reply(404, {"errors": ["not found"]})
            return
        wanted = set(",".join(query.get("monitor_tags", [""])).split(",")) - {""}
        page, size = int(query.get("page", ["0"])[0]), int(query.get("page_size", ["100"])[0])
        with self.server.lock:
            found = [m for _, m in sorted(self.server.monitors.items()) if wanted <= set(m.get("tags", []))]
        self._reply(200, found[page * size : (page + 1) * size])

    def do_POST(self) -> None:
        body = self._body()
        path, _ = self._record(body)
        if not self._authorized():
            return
        if path != "/api/v1/monitor" or not body or "query" not in body:
            self._reply(400, {"errors": ["bad request"]})
            return
        with self.server.lock:
            self.server.next_id += 1
            monitor = {**body, "id": self.server.next_id, "overall_state": "No Data"}
            self.server.monitors[monitor["id"]] = monitor
        self._reply(200, monitor)

    def do_PUT(self) -> None:
        body = self._body() or {}
        path, _ = self._record(body)
        if not self._authorized():
            return
        monitor_id = int(path.rsplit("/", 1)[1])
        with self.server.lock:
            monitor = self.server.monitors[monitor_id]
            monitor.update(body)
        self._reply(200, monitor)

    def do_DELETE(self) -> None:
        path, _ = self._record(None)
        if not self._authorized():
            return
        monitor_id = int(path.rsplit("/", 1)[1])
        with self.server.lock:
            self.server.monitors.pop(monitor_id)
        self._reply(200, {"deleted_monitor_id": monitor_id})


@pytest.fixture
def fake_datadog():
    server = FakeDatadog()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    """The environment `airlock monitors` reads: a temp registry, the repo's static monitors."""
    tenants, dataflows = write_registry(tmp_path / "registry", SUBSCRIPTIONS)
    monkeypatch.setenv("AIRLOCK_HOME", str(ROOT))
    monkeypatch.setenv("AIRLOCK_TENANTS_DIR", str(tenants))
    monkeypatch.setenv("AIRLOCK_DATAFLOWS_DIR", str(dataflows))
    monkeypatch.setenv("AIRLOCK_ENV", "ci")
    return tmp_path / "registry"


def test_static_monitors_are_valid_and_cover_the_alerts_we_promise() -> None:
    defs = [render(d, {"env": "prod"}) for d in load_static(STATIC)]
    assert [p for d in defs for p in validate(d)] == []
    queries = " ".join(d.body["query"] for d in defs)
    for needle in (
        "airflow.dagrun.duration.failed",  # DAG failure
        "airlock.files.quarantined",  # quarantine > 0
        "aws.sqs.approximate_number_of_messages_visible{queuename:airlock-prod-*-landing-dlq}",  # DLQ depth
        "aws.sqs.approximate_age_of_oldest_message",  # oldest SQS message
        "airflow.scheduler_heartbeat",  # scheduler heartbeat
        "airflow.dag_processing.import_errors",  # DAG import errors
    ):
        assert needle in queries
    for d in defs:
        assert MANAGED_TAG in d.body["tags"] and f"airlock_monitor:{d.key}" in d.body["tags"]
        assert "${" not in json.dumps(d.body)


def test_static_files_stay_plain_json_for_terraform() -> None:
    """Terraform reads them with templatefile(f, {env = ...}) + jsondecode: `${env}` is the only variable."""
    for path in STATIC.glob("*.json"):
        text = path.read_text()
        assert set(__import__("re").findall(r"\$\{([^}]*)\}", text)) <= {"env"}, path
        assert "%{" not in text, path  # would be a Terraform template directive
        assert "id" not in json.loads(text)


def test_one_freshness_monitor_per_tenant_and_dataflow_from_the_deadline(project: Path) -> None:
    registry = load_registry(project / "tenants", project / "dataflows")
    defs = {d.key: d for d in freshness_monitors(registry, cadence=timedelta(hours=24))}
    assert set(defs) == {"freshness-acme-orders", "freshness-acme-inventory", "freshness-globex-orders"}
    acme_orders = render(defs["freshness-acme-orders"], {"env": "ci"}).body
    assert acme_orders["query"] == (
        "max(last_10m):max:airlock.freshness.seconds{env:ci,tenant:acme,dataflow:orders} > 88200"
    )  # 24h cadence + 30m deadline
    assert acme_orders["options"]["thresholds"] == {"critical": 88200, "warning": 87300}
    inventory = defs["freshness-acme-inventory"].body
    assert inventory["options"]["thresholds"]["critical"] == 24 * 3600 + 2 * 3600
    assert "tenant:globex" not in json.dumps(defs["freshness-acme-orders"].body)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda b: b["options"]["thresholds"].update(critical=5), "differs from the query"),
        (lambda b: b["options"]["thresholds"].update(warning=1), "warning=1 must be below critical=0"),
        (lambda b: b.update(query=b["query"].replace("airlock.files.quarantined", "airlock.files.typo")),
         "not a metric airlock emits"),
        (lambda b: b.update(query="sum:airlock.files.quarantined{*} > 0"), "expected '<agg>(last_"),
        (lambda b: b.update(query=b["query"].replace("{env:prod}", "{env:prod")), "unbalanced"),
        (lambda b: b["tags"].remove("managed_by:airlock"), "managed_by:airlock"),
        (lambda b: b.update(message="${team} look"), "unresolved placeholder"),
        (lambda b: b.update(type="log alert"), "type 'log alert'"),
        (lambda b: b["options"]["thresholds"].update(critical="0"), "not a number"),
        (lambda b: b.update(priority=9), "priority 9"),
    ],
)  # fmt: skip
def test_validation_names_the_problem(change, problem: str) -> None:
    (quarantine,) = [d for d in load_static(STATIC) if d.key == "airlock-quarantine"]
    rendered = render(quarantine, {"env": "prod"})
    body = copy.deepcopy(rendered.body)
    change(body)
    problems = validate(MonitorDef(rendered.key, body, rendered.source))
    assert any(problem in p for p in problems), problems


def test_plan_works_offline_and_fails_clearly(project: Path, tmp_path: Path, capsys) -> None:
    assert cli.main(["monitors", "plan", "--env", "ci"]) == 0
    out = capsys.readouterr().out
    assert f"{len(list(STATIC.glob('*.json'))) + 3} monitor(s) valid (offline)" in out
    assert "+ freshness-globex-orders: [airlock ci] globex/orders" in out

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.json").write_text(json.dumps({"name": "x", "type": "query alert", "message": "m",
                                                 "query": "avg(last_5m):avg:airlock.nope{*} > 1",
                                                 "tags": ["managed_by:airlock"],
                                                 "options": {"thresholds": {"critical": 2}}}))  # fmt: skip
    assert cli.main(["monitors", "plan", "--dir", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "bad.json [bad]" in err and "airlock.nope" in err and "differs from the query's 1" in err


def test_apply_upserts_through_the_datadog_api(project: Path, fake_datadog: FakeDatadog, monkeypatch, capsys) -> None:
    monkeypatch.setenv("DD_API_KEY", "test-api")
    monkeypatch.setenv("DD_APP_KEY", "test-app")
    monkeypatch.setenv("DD_HOST", fake_datadog.url)
    foreign = {"id": 7, "name": "someone else's", "type": "metric alert", "query": "avg(last_5m):avg:x{*} > 1",
               "tags": ["team:web"]}  # fmt: skip
    fake_datadog.monitors[7] = foreign
    expected = len(list(STATIC.glob("*.json"))) + 3

    # 1. Everything is created, with the keys in the headers and the managed tags in the bodies.
    assert cli.main(["monitors", "apply", "--env", "ci"]) == 0
    creates = [r for r in fake_datadog.requests if r["method"] == "POST"]
    assert len(creates) == expected
    assert all(r["api_key"] == "test-api" and r["app_key"] == "test-app" for r in fake_datadog.requests)
    assert all(MANAGED_TAG in r["body"]["tags"] for r in creates)
    fresh = next(r["body"] for r in creates if "airlock_monitor:freshness-acme-orders" in r["body"]["tags"])
    assert fresh["query"].endswith("{env:ci,tenant:acme,dataflow:orders} > 88200")
    assert fresh["options"]["thresholds"]["critical"] == 88200
    listing = next(r for r in fake_datadog.requests if r["method"] == "GET")
    assert listing["query"]["monitor_tags"] == [MANAGED_TAG]  # only our monitors are read

    # 2. A second apply changes nothing.
    fake_datadog.requests.clear()
    assert cli.main(["monitors", "apply", "--env", "ci"]) == 0
    assert fake_datadog.writes() == []
    assert f"0 to create, 0 to update, 0 to delete, {expected} unchanged" in capsys.readouterr().out

    # 3. A tighter deadline in the registry updates that tenant's monitor, in place.
    acme = (project / "tenants" / "acme.yaml").read_text().replace("deadline: 30m", "deadline: 10m")
    (project / "tenants" / "acme.yaml").write_text(acme)
    fake_datadog.requests.clear()
    assert cli.main(["monitors", "plan", "--env", "ci", "--diff"]) == 0
    assert "~ freshness-acme-orders" in capsys.readouterr().out
    assert fake_datadog.writes() == []  # plan --diff only reads
    assert cli.main(["monitors", "apply", "--env", "ci"]) == 0
    (put,) = [r for r in fake_datadog.requests if r["method"] == "PUT"]
    assert put["body"]["options"]["thresholds"]["critical"] == 24 * 3600 + 600
    assert len(fake_datadog.monitors) == expected + 1

    # 4. A tenant that leaves is pruned only with --prune; the foreign monitor is never touched.
    (project / "tenants" / "globex.yaml").unlink()
    fake_datadog.requests.clear()
    assert cli.main(["monitors", "apply", "--env", "ci"]) == 0
    assert fake_datadog.writes() == []
    assert cli.main(["monitors", "apply", "--env", "ci", "--prune"]) == 0
    (delete,) = [r for r in fake_datadog.requests if r["method"] == "DELETE"]
    gone = int(delete["path"].rsplit("/", 1)[1])
    assert gone != 7 and fake_datadog.monitors[7] == foreign
    assert len(fake_datadog.monitors) == expected  # expected - 1 managed + the foreign one


def test_apply_without_keys_says_what_to_set(project: Path, monkeypatch, capsys) -> None:
    for name in ("DD_API_KEY", "DD_APP_KEY", "DATADOG_API_KEY", "DATADOG_APP_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["monitors", "apply"]) == 2
    assert "DD_API_KEY and DD_APP_KEY" in capsys.readouterr().err


def test_export_writes_generated_monitors_for_terraform(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "generated"
    assert cli.main(["monitors", "export", "--out", str(out)]) == 0
    files = sorted(p.name for p in out.glob("*.json"))
    assert files == ["freshness-acme-inventory.json", "freshness-acme-orders.json", "freshness-globex-orders.json"]
    body = json.loads((out / "freshness-acme-orders.json").read_text())
    assert "${env}" in body["query"] and MANAGED_TAG in body["tags"]


def test_desired_monitors_reject_duplicate_keys(project: Path, tmp_path: Path) -> None:
    dup = tmp_path / "dup"
    dup.mkdir()
    (dup / "freshness-acme-orders.json").write_text((STATIC / "airlock-quarantine.json").read_text())
    registry = load_registry(project / "tenants", project / "dataflows")
    with pytest.raises(Exception, match="defined twice"):
        desired_monitors(ROOT, registry, "ci", directory=dup)


def test_validation_checks_field_types_against_the_api_schema() -> None:
    (quarantine,) = [d for d in load_static(STATIC) if d.key == "airlock-quarantine"]
    rendered = render(quarantine, {"env": "prod"})
    body = copy.deepcopy(rendered.body)
    body["options"]["notify_no_data"] = "yes please"
    problems = validate(MonitorDef(rendered.key, body, rendered.source))
    assert any("Datadog Monitor schema" in p and "notify_no_data" in p for p in problems), problems
