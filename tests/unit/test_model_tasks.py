"""Model tasks (AIRLOCK_DBT_MODEL_STATUS=tasks): what the trigger decides from the build's report.

The trigger's two reads (the report in XCom, the build task's state) are answered from a dict here; the
real-stack test (tests/dbt/test_build_run.py) runs it under the real triggerer. A trigger logs through
Airflow's structlog to stdout (the triggerer routes it to the task's log), so the tests read stdout.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from airflow.triggers.base import TaskFailedEvent, TaskSkippedEvent, TaskSuccessEvent

from airlock.transform.model_tasks import DbtModelStatusOperator, ModelStatusTrigger

MODEL = "model.airlock.stg_stock"


class ScriptedTrigger(ModelStatusTrigger):
    def __init__(self, report: dict[str, Any] | None, state: str | None) -> None:
        super().__init__(model_unique_id=MODEL, build_task_id="dbt_build", dag_id="process_inventory", run_id="r1")
        self.report, self.state = report, state

    async def read_report(self) -> dict[str, Any] | None:
        return self.report

    async def build_state(self) -> str | None:
        return self.state


def end(report: dict[str, Any] | None, state: str | None = "success") -> Any:
    async def first() -> Any:
        async for event in ScriptedTrigger(report, state).run():
            return event

    return asyncio.run(first())


def report(status: str, build: str = "success", **outcome: Any) -> dict[str, Any]:
    return {"outcome": build, "models": {MODEL: {"status": status, **outcome}}}


def test_a_built_model_succeeds_and_logs_dbts_result(capsys: pytest.CaptureFixture[str]) -> None:
    assert isinstance(end(report("success", rows=4, seconds=0.42)), TaskSuccessEvent)
    assert f"dbt {MODEL}: success, 4 rows in 0.42s" in capsys.readouterr().out
    assert isinstance(end(report("warn")), TaskSuccessEvent)


@pytest.mark.parametrize(
    ("status", "message"),
    [("error", "Binder Error: column quantity"), ("fail", "not_negative_stg_stock_quantity: Got 1 result")],
)
def test_a_failed_model_or_test_fails_its_task_with_dbts_message(
    status: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert isinstance(end(report(status, "error", messages=[message]), "failed"), TaskFailedEvent)
    assert message in capsys.readouterr().out


def test_a_skipped_model_is_skipped() -> None:
    assert isinstance(end(report("skipped", "error")), TaskSkippedEvent)


def test_a_model_the_build_never_reached_fails_unless_the_build_succeeded(capsys: pytest.CaptureFixture[str]) -> None:
    assert isinstance(end(report("not_run", "incomplete"), "failed"), TaskFailedEvent)
    assert "the build stopped before reaching it" in capsys.readouterr().out
    assert isinstance(end(report("not_run", "success")), TaskSuccessEvent), "ephemeral: nothing to build"


@pytest.mark.parametrize(
    ("state", "event"),
    [("failed", TaskFailedEvent), ("upstream_failed", TaskSkippedEvent), ("skipped", TaskSkippedEvent)],
)
def test_without_a_report_the_build_tasks_state_decides(state: str, event: type) -> None:
    assert isinstance(end(None, state), event)


def test_the_trigger_round_trips_and_the_operator_never_runs_on_a_worker() -> None:
    trigger = ModelStatusTrigger(model_unique_id=MODEL, build_task_id="dbt_build")
    classpath, kwargs = trigger.serialize()
    assert classpath == "airlock.transform.model_tasks.ModelStatusTrigger"
    assert ModelStatusTrigger(**kwargs).serialize() == (classpath, kwargs)
    task = DbtModelStatusOperator(task_id="stg_stock", model_unique_id=MODEL, build_task_id="dbt_build")
    assert task.start_from_trigger and task.retries == 0 and task.trigger_rule == "all_done"
    with pytest.raises(Exception, match="never runs on a worker"):
        task.execute({})
