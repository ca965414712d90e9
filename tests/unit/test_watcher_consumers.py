"""airlock.watcher_consumers: what the rendered WATCHER group looks like, and what the trigger decides.

The trigger's decisions are driven here with scripted XCom values and producer states (a stand-in for the
Airflow API the triggerer gives it); tests/dbt/test_watcher_run.py runs the same trigger under the real
scheduler and triggerer.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import airflow  # noqa: F401 - before cosmos (FIELD-NOTES: import-order trap)
import pytest
from airflow.serialization.serialized_objects import DagSerialization
from airflow.triggers.base import TaskFailedEvent, TaskSkippedEvent, TaskSuccessEvent, TriggerEvent
from cosmos.operators._watcher.base import BaseConsumerSensor
from cosmos.operators.watcher import DbtProducerWatcherOperator

from airlock.watcher_consumers import RESUME_ON_WORKER, TriggererConsumerTrigger
from tests.unit.test_transform import dbt_tasks, render

MODEL = "model.airlock.stg_orders"
TESTS = ["test.airlock.not_null_stg_orders_id.1", "test.airlock.unique_stg_orders_id.2"]


@pytest.fixture(scope="module")
def watcher_tasks() -> dict[str, Any]:
    return dbt_tasks(render(AIRLOCK_DBT_MODE="watcher"))


def test_every_model_task_starts_in_the_triggerer_watching_its_own_model(watcher_tasks: dict[str, Any]) -> None:
    consumers = {k: t for k, t in watcher_tasks.items() if isinstance(t, BaseConsumerSensor)}
    assert len(consumers) >= 5
    assert not [k for k, t in consumers.items() if t.is_test_sensor], "tests are part of their model's task"
    for task in consumers.values():
        assert task.start_from_trigger is True
        args = task.start_trigger_args
        assert args.trigger_cls == "airlock.watcher_consumers.TriggererConsumerTrigger"
        assert args.next_method == "execute", "the worker path is Cosmos's own execute()"
        assert args.trigger_kwargs["model_unique_id"] == task.model_unique_id
        assert args.trigger_kwargs["producer_task_id"] == "dbt.dbt_producer_watcher"
    producer = watcher_tasks["dbt_producer_watcher"]
    assert isinstance(producer, DbtProducerWatcherOperator)
    assert producer.start_from_trigger is False


def test_a_tested_model_waits_for_its_tests_and_rebuilds_them_on_retry(watcher_tasks: dict[str, Any]) -> None:
    producer = watcher_tasks["dbt_producer_watcher"]
    assert "--resource-type" not in producer.dbt_cmd_flags, "the producer's dbt build must run the tests"
    stg = next(t for t in watcher_tasks.values() if getattr(t, "model_unique_id", "") == MODEL)
    expected = sorted(producer.tests_per_model[MODEL])
    assert expected and stg.start_trigger_args.trigger_kwargs["tests"] == expected
    assert stg.base_cmd == ["build"]


def test_the_trigger_settings_survive_dag_serialization(watcher_tasks: dict[str, Any]) -> None:
    dag = render(AIRLOCK_DBT_MODE="watcher")
    restored = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    started = [t for t in restored.tasks if t.start_from_trigger]
    assert len(started) == len([t for t in watcher_tasks.values() if isinstance(t, BaseConsumerSensor)])
    assert all(t.start_trigger_args.trigger_cls.endswith("TriggererConsumerTrigger") for t in started)


def test_local_mode_is_left_alone() -> None:
    assert not [t for t in dbt_tasks(render(AIRLOCK_DBT_MODE="local")).values() if t.start_from_trigger]


class ScriptedTrigger(TriggererConsumerTrigger):
    """The trigger with its two reads (XCom, producer state) answered from a dict instead of the API."""

    def __init__(self, xcom: dict[str, Any], producer: str | None, **kwargs: Any) -> None:
        super().__init__(model_unique_id=MODEL, producer_task_id="dbt.dbt_producer_watcher", **kwargs)
        self.xcom, self.producer = xcom, producer
        self.reads: list[str] = []

    async def get_xcom_val(self, key: str) -> Any:
        self.reads.append(key)
        return self.xcom.get(key)

    async def _get_producer_task_status(self) -> str | None:
        return self.producer


def events(trigger: TriggererConsumerTrigger, try_number: int = 1) -> list[TriggerEvent]:
    trigger.task_instance = SimpleNamespace(
        dag_id="process_orders", task_id="dbt.stg_orders_run", run_id="r1", map_index=-1, try_number=try_number
    )

    async def collect() -> list[TriggerEvent]:
        return [event async for event in trigger.run()]

    return asyncio.run(collect())


STARTUP = {"dbt_startup_events": [{"name": "MainReportVersion", "msg": "dbt"}, {"name": "AdapterRegistered"}]}
OK = {**STARTUP, "model__airlock__stg_orders_status": {"status": "success"}}


def test_success_without_tests_ends_the_task_in_the_triggerer() -> None:
    trigger = ScriptedTrigger(OK, "running", poke_interval=0)
    [event] = events(trigger)
    assert isinstance(event, TaskSuccessEvent)
    assert trigger.run_id == "r1" and trigger.dag_id == "process_orders", "the run comes from the task instance"


def test_success_waits_for_the_tests_and_passes_with_them() -> None:
    trigger = ScriptedTrigger({**OK, "model__airlock__stg_orders_tests_status": "pass"}, "running", tests=TESTS)
    assert [type(e) for e in events(trigger)] == [TaskSuccessEvent]
    assert "model__airlock__stg_orders_tests_status" in trigger.reads


def test_a_failed_test_fails_the_models_task_with_dbts_message(capfd: pytest.CaptureFixture[str]) -> None:
    xcom = {
        **OK,
        "model__airlock__stg_orders_tests_status": "fail",
        "test__airlock__unique_stg_orders_id__2_dbt_event": {"status": "fail", "msg": "Got 2 results"},
    }
    trigger = ScriptedTrigger(xcom, "failed", tests=TESTS)
    assert [type(e) for e in events(trigger)] == [TaskFailedEvent]
    logged = "".join(capfd.readouterr())  # Airflow's structlog writes to the process's stdout
    assert "test.airlock.unique_stg_orders_id.2 failed: Got 2 results" in logged


def test_tests_never_reported_after_the_producer_ended_do_not_hang() -> None:
    trigger = ScriptedTrigger(OK, "success", tests=TESTS, poke_interval=0)
    assert [type(e) for e in events(trigger)] == [TaskSuccessEvent]


def test_a_skipped_model_is_skipped_in_the_triggerer() -> None:
    xcom = {**STARTUP, "model__airlock__stg_orders_status": {"status": "skipped"}}
    assert [type(e) for e in events(ScriptedTrigger(xcom, "running"))] == [TaskSkippedEvent]


def test_a_failed_model_goes_to_a_worker_where_cosmos_fails_it() -> None:
    xcom = {**STARTUP, "model__airlock__stg_orders_status": {"status": "error"}}
    [event] = events(ScriptedTrigger(xcom, "failed"))
    assert type(event) is TriggerEvent and event.payload[RESUME_ON_WORKER] == "failed"


def test_a_retry_goes_straight_to_a_worker() -> None:
    trigger = ScriptedTrigger(OK, "failed")
    [event] = events(trigger, try_number=2)
    assert type(event) is TriggerEvent and event.payload == {RESUME_ON_WORKER: "retry"}
    assert trigger.reads == [], "a retry does not watch the old producer's results"


def test_the_trigger_serializes_with_its_tests() -> None:
    classpath, kwargs = TriggererConsumerTrigger(MODEL, "p", tests=TESTS).serialize()
    assert classpath == "airlock.watcher_consumers.TriggererConsumerTrigger"
    assert kwargs["tests"] == TESTS and kwargs["model_unique_id"] == MODEL
