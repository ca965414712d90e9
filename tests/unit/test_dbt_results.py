"""Reading the runner's output: real dbt JSON logs recorded from runs (tests/dbt/record_build_logs.py).

The same reader serves the subprocess, the pod's log and the ECS task's CloudWatch stream.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from airlock.metrics import Metrics
from airlock.transform.results import BuildLog, NodeResult, model_outcome, resume_select

FIXTURES = Path(__file__).parent / "fixtures" / "dbt_build"
STG = "model.airlock.stg_stock"
SEED = "seed.airlock.stock_status_bands"
INT = "model.airlock.int_stock_latest"
FCT = "model.airlock.fct_stock_levels"
NODES = {STG: "stg_stock", SEED: "stock_status_bands", INT: "int_stock_latest", FCT: "fct_stock_levels"}


def recorded(name: str) -> BuildLog:
    return BuildLog().feed_all((FIXTURES / f"{name}.jsonl").read_text().splitlines())


def node_tests(build: BuildLog) -> dict[str, list[str]]:
    """Tests per node, from the recorded results (a test's unique id names its model)."""
    out: dict[str, list[str]] = {uid: [] for uid in NODES}
    for uid in build.results:
        if uid.startswith("test."):
            owner = max((n for n in NODES if NODES[n] in uid), key=lambda n: len(NODES[n]), default=None)
            if owner:
                out[owner].append(uid)
    return out


def test_a_successful_build_reports_every_node_with_rows_and_time() -> None:
    build = recorded("acme_success")
    assert build.complete and build.outcome() == "success"
    assert {uid for uid in build.results if not uid.startswith("test.")} == set(NODES)
    assert build.results[FCT].rows == 4, "counted by the runner (DuckDB reports no rows for a table)"
    assert build.results[SEED].rows == 4, "from the adapter's response (INSERT 4)"
    assert build.results[STG].rows is None, "a view has no stored rows"
    assert all(r.execution_time is not None for r in build.results.values())
    assert build.results[FCT].relation == '"acme"."tenant_acme"."fct_stock_levels"'


def test_a_failed_data_test_is_a_test_failure_with_dbts_message() -> None:
    build = recorded("initech_test_failure")
    assert build.outcome() == "test_failure"
    assert build.failure_message() == "test not_negative_stg_stock_quantity: Got 1 result, configured to fail if != 0"
    outcome = model_outcome(STG, node_tests(build)[STG], build.results, build.complete)
    assert outcome.status == "fail" and outcome.messages == (
        "not_negative_stg_stock_quantity: Got 1 result, configured to fail if != 0",
    )
    assert model_outcome(INT, [], build.results, True).status == "skipped"
    assert model_outcome(SEED, node_tests(build)[SEED], build.results, True).status == "success"


def test_a_sql_error_is_an_error_that_a_retry_resumes_from() -> None:
    build = recorded("globex_sql_error")
    assert build.outcome() == "error"
    assert build.failure_message().startswith("model stg_stock: Runtime Error in model stg_stock")
    assert "Binder Error" in build.failure_message()
    outcome = model_outcome(STG, [], build.results, True)
    assert outcome.status == "error" and "quantity" in outcome.messages[0]
    # The seed (and its tests) succeeded: the retry builds the failed model and the children dbt skipped.
    assert resume_select(NODES, node_tests(build), build.results) == [
        "fct_stock_levels",
        "int_stock_latest",
        "stg_stock",
    ]
    resumed = recorded("globex_resumed")
    assert resumed.outcome() == "success" and SEED not in resumed.results
    merged = {**build.results, **resumed.results}
    assert resume_select(NODES, node_tests(build), merged) == [], "nothing left to build"


def test_a_first_try_builds_everything_and_a_long_resume_list_falls_back_to_a_full_build() -> None:
    assert resume_select(NODES, {}, {}) is None
    many = {f"model.p.m{i:04d}": f"m{i:04d}" for i in range(1000)}
    done = {"model.p.m0000": NodeResult("model.p.m0000", "success", "model")}
    assert resume_select(many, {}, done) is None, "the names would not fit an ECS override"


def test_a_stream_cut_before_the_summary_is_incomplete_and_shows_lines_as_dbts_text() -> None:
    lines = (FIXTURES / "acme_success.jsonl").read_text().splitlines()
    build = BuildLog()
    shown = [build.feed(line) for line in lines[: len(lines) // 2]]
    assert not build.complete and build.outcome() == "incomplete"
    assert build.failure_message().startswith("the dbt build stopped before it reported")
    texts = [text for level, text in filter(None, shown)]
    assert "Running with dbt=1.11.16" in texts
    assert not any(text.startswith("{") for text in texts), "dbt's JSON is shown as its message"
    assert build.feed("Traceback (most recent call last):") == (logging.INFO, "Traceback (most recent call last):")
    assert build.feed("   ") is None


def test_a_refusal_is_reported_as_such() -> None:
    build = BuildLog().feed_all(
        [
            json.dumps({"airlock": "refused", "message": "1 node(s) would be written outside tenant schema t_a"}),
            json.dumps({"airlock": "summary", "exit_code": 2, "success": False, "error": "…"}),
        ]
    )
    assert build.outcome() == "refused"
    assert build.failure_message().startswith("1 node(s) would be written outside")


@pytest.mark.parametrize("name", ["acme_success", "initech_test_failure", "globex_sql_error"])
def test_model_outcomes_reach_datadog_tagged_by_tenant_dataflow_and_model(name: str, caplog) -> None:
    build = recorded(name)
    tests = node_tests(build)
    outcomes = [model_outcome(uid, tests[uid], build.results, True) for uid in NODES]
    sent: list[str] = []
    client = Metrics(address="", env="ci")
    client._send = sent.append  # the datagrams, as they would go over UDP
    failed = client.for_tenant("globex", "inventory").dbt_models(outcomes)
    runs = [d for d in sent if d.startswith("airlock.dbt.model_runs:")]
    assert len(runs) == 4 and all("tenant:globex" in d and "dataflow:inventory" in d for d in sent)
    failures = [d for d in sent if d.startswith("airlock.dbt.model_failures:")]
    expected = {"acme_success": [], "initech_test_failure": ["stg_stock"], "globex_sql_error": ["stg_stock"]}[name]
    assert failed == expected and len(failures) == len(expected)
    assert all("model:stg_stock" in d for d in failures)
    if name == "acme_success":
        assert any(d.startswith("airlock.dbt.model_rows:4|g|") and "model:fct_stock_levels" in d for d in sent)
        assert sum(d.startswith("airlock.dbt.model_duration:") for d in sent) == 4


def test_the_summary_line_says_where_the_runners_time_went() -> None:
    build = BuildLog()
    summary = {"airlock": "summary", "exit_code": 0, "success": True, "selected": 2}
    timed = {**summary, "seconds": {"parse": 5.1, "select": 0.4, "build": 9.8, "count": 0.2}}
    assert build.feed(json.dumps(timed)) == (
        logging.INFO,
        "airlock: dbt finished with exit code 0 (0 nodes; seconds: parse 5.1, select 0.4, build 9.8, count 0.2)",
    )
    # a runner image from before the timings: the same line without them
    assert BuildLog().feed(json.dumps(summary)) == (logging.INFO, "airlock: dbt finished with exit code 0 (0 nodes)")
