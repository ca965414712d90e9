"""The kit's DogStatsD metrics over a real UDP socket, Airflow's mapper profiles, and JSON logs."""

from __future__ import annotations

import io
import json
import logging
import re
import socket
from pathlib import Path

import pytest
import structlog
import yaml

from airlock import metrics as m
from airlock.observability.logs import JsonLinesFormatter, batch_context
from airlock.observability.monitors import load_static
from airlock.observability.statsd import StatsdListener, parse_datagram, tenant_leaks

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def listener():
    with StatsdListener() as udp:
        yield udp


def test_every_metric_goes_out_with_its_name_value_and_tenant_tags(listener: StatsdListener) -> None:
    client = m.Metrics(listener.address, env="ci")
    acme = client.for_tenant("acme", "orders")
    acme.file_arrived(3)
    acme.file_quarantined("bad_header")
    acme.batch_completed(2048)
    acme.run_started(1.5)
    acme.batch_processed(success=True)
    acme.batch_processed(success=False)
    from airlock.transform.results import ModelOutcome

    acme.dbt_models([ModelOutcome("model.airlock.fct_orders", "error", rows=7, execution_time=0.5)])
    acme.freshness(120)
    acme.late_batches(0)
    acme.intake_failed("sweep")
    got = listener.wait_for(lambda d: len(d) == 14)
    client.close()

    by_name = {d.name: d for d in got}
    assert set(by_name) == {m.full_name(n) for n in m.METRIC_NAMES}
    expected = {
        m.FILES_ARRIVED: (3, "c", {}),
        m.FILES_QUARANTINED: (1, "c", {"reason": "bad_header"}),
        m.SNAPSHOT_BYTES: (2048, "c", {}),
        m.EVENT_TO_RUN_LATENCY: (1500, "ms", {}),
        m.BATCHES_COMPLETED: (1, "c", {}),
        m.BATCHES_PROCESSED: (1, "c", {}),
        m.BATCHES_FAILED: (1, "c", {}),
        m.DBT_MODEL_FAILURES: (1, "c", {"model": "fct_orders"}),
        m.DBT_MODEL_RUNS: (1, "c", {"model": "fct_orders", "status": "error"}),
        m.DBT_MODEL_ROWS: (7, "g", {"model": "fct_orders"}),
        m.DBT_MODEL_DURATION: (500, "ms", {"model": "fct_orders"}),
        m.FRESHNESS_SECONDS: (120, "g", {}),
        m.BATCHES_LATE: (0, "g", {}),
        m.INTAKE_ERRORS: (1, "c", {"stage": "sweep"}),
    }
    for name, (value, kind, extra) in expected.items():
        d = by_name[m.full_name(name)]
        assert (d.value, d.kind) == (value, kind), d.raw
        assert d.tags == {"env": "ci", "tenant": "acme", "dataflow": "orders", **extra}, d.raw


def test_a_tenant_view_cannot_carry_another_tenants_tag(listener: StatsdListener) -> None:
    client = m.Metrics(listener.address, env="ci")
    globex = client.for_tenant("globex", "orders")
    with pytest.raises(ValueError, match="tenant"):
        globex.incr(m.FILES_ARRIVED, tags={"tenant": "acme"})
    for tenant, flow in (("acme", "orders"), ("globex", "orders"), ("initech", "inventory")):
        client.for_tenant(tenant, flow).file_arrived()
    got = listener.wait_for(lambda d: len(d) == 3)
    client.close()
    assert not tenant_leaks(got, {"acme": {"orders"}, "globex": {"orders"}, "initech": {"inventory"}})
    assert tenant_leaks(got, {"acme": {"orders"}})  # the helper does catch a tenant it was not told about
    assert sorted(d.tag("tenant") for d in got) == ["acme", "globex", "initech"]


def test_tag_values_cannot_break_the_datagram(listener: StatsdListener) -> None:
    client = m.Metrics(listener.address, env="ci")
    client.for_tenant("acme", "orders").file_quarantined("bad|header,#x y")
    (d,) = listener.wait_for(lambda d: len(d) == 1)
    client.close()
    assert d.tag("reason") == "bad_header__x_y"
    assert d.tag("tenant") == "acme"


def test_without_an_address_metrics_are_logged_and_never_raise(caplog) -> None:
    caplog.set_level(logging.INFO, logger="airlock.metrics")
    m.Metrics("", env="ci").for_tenant("acme", "orders").file_arrived()
    assert "airlock.files.arrived:1|c|#dataflow:orders,env:ci,tenant:acme" in caplog.text
    m.Metrics("not-a-port", env="ci").incr(m.FILES_ARRIVED)  # bad address: a warning, not an error
    assert "could not send metric" in caplog.text


def test_address_falls_back_to_airflows_statsd_target() -> None:
    assert m.default_address({"AIRLOCK_STATSD_ADDRESS": "10.0.0.1:9125"}) == "10.0.0.1:9125"
    airflow = {"AIRFLOW__METRICS__STATSD_ON": "True", "AIRFLOW__METRICS__STATSD_HOST": "dd-agent"}
    assert m.default_address(airflow) == "dd-agent:8125"
    assert m.default_address({"AIRFLOW__METRICS__STATSD_ON": "False"}) is None


def test_metric_names_follow_datadog_rules() -> None:
    for name in m.METRIC_NAMES:
        full = m.full_name(name)
        assert re.fullmatch(r"[a-z][a-z0-9_.]{0,199}", full), full


def test_listener_reads_packed_datagrams_and_rejects_garbage(listener: StatsdListener) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(
            b"airflow.scheduler_heartbeat:1|c\nairflow.dag_processing.import_errors:0|g|#env:ci",
            (listener.host, listener.port),
        )
    got = listener.wait_for(lambda d: len(d) == 2)
    assert [d.name for d in got] == ["airflow.scheduler_heartbeat", "airflow.dag_processing.import_errors"]
    assert parse_datagram("a.b:2|ms|@0.5|#k:v").rate == 0.5
    with pytest.raises(ValueError):
        parse_datagram("no value here")


# ---- DogStatsD mapper profiles -------------------------------------------------------------
def _map(profiles: list[dict], name: str) -> tuple[str, dict[str, str]]:
    """The agent's wildcard semantics: '*' matches [a-zA-Z0-9_-]+, the whole name, first match wins."""
    for profile in profiles:
        if not name.startswith(profile["prefix"]):
            continue
        for mapping in profile["mappings"]:
            pattern = "^" + re.escape(mapping["match"]).replace(r"\*", "([a-zA-Z0-9_-]+)") + "$"
            if found := re.match(pattern, name):
                tags = {k: re.sub(r"\$(\d)", lambda g: found.group(int(g.group(1))), v)
                        for k, v in mapping.get("tags", {}).items()}  # fmt: skip
                return mapping["name"], tags
    return name, {}


@pytest.fixture(scope="module")
def profiles() -> list[dict]:
    text = (ROOT / "observability" / "dogstatsd" / "airflow_mapper_profiles.yaml").read_text()
    return yaml.safe_load(text)["dogstatsd_mapper_profiles"]


@pytest.mark.parametrize(
    ("legacy", "name", "tags"),
    [
        ("airflow.dagrun.duration.failed.process_orders", "airflow.dagrun.duration.failed",
         {"dag_id": "process_orders"}),
        ("airflow.dagrun.duration.success.airlock_router", "airflow.dagrun.duration.success",
         {"dag_id": "airlock_router"}),
        ("airflow.ti.finish.process_orders.load_snapshot.failed", "airflow.ti.finish",
         {"dag_id": "process_orders", "task_id": "load_snapshot", "state": "failed"}),
        ("airflow.dag.process_orders.dbt__fct_orders.duration", "airflow.dag.task.duration",
         {"dag_id": "process_orders", "task_id": "dbt__fct_orders"}),
        ("airflow.pool.open_slots.default_pool", "airflow.pool.open_slots", {"pool_name": "default_pool"}),
        ("airflow.operator_failures_BashOperator", "airflow.operator_failures", {"operator": "BashOperator"}),
        ("airflow.scheduler_heartbeat", "airflow.scheduler_heartbeat", {}),
        ("airflow.dag_processing.import_errors", "airflow.dag_processing.import_errors", {}),
    ],
)  # fmt: skip
def test_mapper_profiles_turn_dotted_names_into_tags(profiles, legacy: str, name: str, tags: dict) -> None:
    assert _map(profiles, legacy) == (name, tags)


def test_monitors_only_use_airflow_names_that_exist_after_mapping(profiles) -> None:
    produced = {mp["name"] for p in profiles for mp in p["mappings"]}
    unmapped = {"airflow.scheduler_heartbeat", "airflow.dag_processing.import_errors"}  # sent as-is
    for defn in load_static(ROOT / "observability" / "monitors"):
        for metric in re.findall(r"(?:sum|max|avg|min):(airflow\.[a-z0-9_.]+)\{", defn.body["query"]):
            base = re.sub(r"\.(count|avg|max|median|95percentile)$", "", metric)
            assert base in produced | unmapped, f"{defn.key}: {metric} is neither mapped nor sent by Airflow"


# ---- structured logs -----------------------------------------------------------------------
def test_json_lines_carry_tenant_and_batch() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLinesFormatter(env="ci"))
    log = logging.getLogger("airlock.test_json")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        with batch_context("acme", "orders", "20261121"):
            log.info("snapshot written", extra={"files": 3})
        log.info("outside any batch")
    finally:
        log.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["tenant_id"] == "acme" and first["dataflow"] == "orders" and first["batch_id"] == "20261121"
    assert first["message"] == "snapshot written" and first["files"] == 3 and first["status"] == "info"
    assert "tenant_id" not in second  # the context ends with the block


def test_airflow_task_log_processors_pick_up_the_batch_context() -> None:
    """Airflow 3 task logs run structlog with merge_contextvars and render JSON lines."""
    out = io.StringIO()
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    try:
        with batch_context("globex", "orders", "b1", run_id="manual__1"):
            structlog.get_logger().info("loaded")
    finally:
        structlog.reset_defaults()
    line = json.loads(out.getvalue())
    assert line == {"tenant_id": "globex", "dataflow": "orders", "batch_id": "b1", "run_id": "manual__1",
                    "event": "loaded"}  # fmt: skip


def test_latency_and_dbt_failures_helpers(listener: StatsdListener) -> None:
    from datetime import UTC, datetime, timedelta

    client = m.Metrics(listener.address, env="ci")
    acme = client.for_tenant("acme", "orders")
    started = datetime(2026, 11, 21, 7, 0, 3, tzinfo=UTC)
    assert acme.run_started_after((started - timedelta(seconds=2.5)).isoformat(), started) == 2.5
    assert acme.run_started_after(None, started) is None  # no datagram for an unknown arrival
    from airlock.transform.results import ModelOutcome

    outcomes = [
        ModelOutcome("model.airlock.stg_orders", "success", rows=12, execution_time=0.25),
        ModelOutcome("model.airlock.fct_orders", "error", messages=("Binder Error",)),
        ModelOutcome("model.airlock.dim_customers", "fail", messages=("not_null_dim_customers_id: Got 1 result",)),
    ]
    assert acme.dbt_models(outcomes) == ["fct_orders", "dim_customers"]
    got = listener.wait_for(lambda d: len(d) == 8)
    client.close()
    assert (got[0].name, got[0].value, got[0].kind) == ("airlock.event_to_run.latency", 2500, "ms")
    failures = [d for d in got if d.name == "airlock.dbt.model_failures"]
    assert sorted(d.tag("model") for d in failures) == ["dim_customers", "fct_orders"]
    assert {d.tag("tenant") for d in got} == {"acme"}
    rows = next(d for d in got if d.name == "airlock.dbt.model_rows")
    assert (rows.value, rows.kind, rows.tag("model")) == (12, "g", "stg_orders")


def _env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))
    return {k: v for k, v in pairs}


def test_airflows_own_metrics_reach_statsd_with_the_local_config(listener: StatsdListener) -> None:
    """Airflow's Stats, configured by observability/airflow/local.env, over real UDP: names and tags."""
    import os
    import subprocess
    import sys

    env = {**os.environ, **_env_file(ROOT / "observability" / "airflow" / "local.env")}
    env.update(AIRFLOW__METRICS__STATSD_HOST=listener.host, AIRFLOW__METRICS__STATSD_PORT=str(listener.port))
    script = (
        "from airflow.configuration import conf\n"
        "from airflow.observability import stats\n"
        "from airflow.observability.metrics import stats_utils\n"
        "stats.initialize(factory=stats_utils.get_stats_factory(),"
        " export_legacy_names=conf.getboolean('metrics', 'legacy_names_on'))\n"
        "stats.incr('scheduler_heartbeat', 1, 1)\n"
        "stats.timing('dagrun.duration.failed', 1.5, tags={'dag_id': 'process_orders'})\n"
        "stats.gauge('dag_processing.import_errors', 0)\n"
    )
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120, capture_output=True)
    got = {d.name: d for d in listener.wait_for(lambda d: len(d) >= 3, prefix="airflow.")}
    assert {"airflow.scheduler_heartbeat", "airflow.dagrun.duration.failed",
            "airflow.dag_processing.import_errors"} <= set(got)  # fmt: skip
    assert got["airflow.dagrun.duration.failed"].tag("dag_id") == "process_orders"
    assert got["airflow.scheduler_heartbeat"].tag("env") == "local"
    assert not any(name.startswith("airflow.dagrun.duration.failed.") for name in got)  # no legacy duplicates
