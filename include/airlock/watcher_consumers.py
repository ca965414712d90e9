"""WATCHER mode as the kit runs it: one `dbt build`, one task per model (its tests included), no worker per model.

In Cosmos's WATCHER mode one producer task runs a single `dbt build` and every model is still an Airflow
task (a consumer sensor) that reports the model's status. Stock consumers start on a worker, defer, and
resume on a worker: two task processes per model. On two cores that was ~0.8 s per model and 11.7x a plain
`dbt build` for 200 models (bench/results/dbt_overhead.json before this module).

What `adapt_watcher_group` changes, after Cosmos has rendered the group:
- Consumers use Airflow's `start_from_trigger`: the scheduler defers them straight to the triggerer, whose
  trigger (Cosmos's WatcherTrigger, subclassed) ends the task there with TaskSuccessEvent/TaskSkippedEvent.
- A model's task also stands for its tests, as with TestBehavior.BUILD in the other modes (same graph in
  every mode): the producer's `dbt build` keeps the tests Cosmos would exclude under TestBehavior.NONE, and
  the trigger fails the model's task (TaskFailedEvent, so retries apply) when Cosmos's aggregated test
  status for the model is `fail`, logging dbt's message for each failed test.
- Unhappy paths go to a worker and run Cosmos's own `execute()`: a failed model is failed there with dbt's
  error; a retry (try_number > 1) runs that model again on the worker, as `dbt build` so its tests run too.

What is lost on the happy path: the model's compiled SQL in the "Rendered Template" tab (it stays in the
producer's XCom). dbt's result line for the model is still in the task log (the triggerer logs it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any

import airflow  # noqa: F401 - must precede cosmos imports: cosmos registers a policy hook (FIELD-NOTES)
from airflow.triggers.base import (
    StartTriggerArgs,
    TaskFailedEvent,
    TaskSkippedEvent,
    TaskSuccessEvent,
    TriggerEvent,
)
from cosmos.listeners.dag_run_listener import EventStatus
from cosmos.operators._watcher.aggregation import get_tests_status_xcom_key
from cosmos.operators._watcher.base import BaseConsumerSensor
from cosmos.operators._watcher.state import (
    PRODUCER_FINAL_STATES,
    DbtTestStatus,
    get_dbt_event_xcom_key,
)
from cosmos.operators._watcher.triggerer import WatcherTrigger
from cosmos.operators.watcher import DbtProducerWatcherOperator

POKE_INTERVAL_S = 1.0
"""How often a waiting consumer re-reads the producer's XCom (Cosmos's default is 10 s per model)."""

MESSAGE_WAIT_S = 60.0
"""How long a model whose tests failed waits for dbt's messages before failing without them."""

RESUME_ON_WORKER = "airlock_resume_on_worker"
"""Payload key of an event that hands the task to a worker, whose `execute()` decides as Cosmos does."""


class TriggererConsumerTrigger(WatcherTrigger):
    """Cosmos's WatcherTrigger, started by the scheduler, that finishes its task in the triggerer.

    Built from `start_trigger_args` at parse time, when the run is unknown: dag_id, run_id and map_index
    come from the task instance the triggerer attaches before `run()`. `tests` are the unique ids of the
    model's tests (Cosmos's `tests_per_model`); the task succeeds only once they have passed.
    """

    def __init__(
        self,
        model_unique_id: str,
        producer_task_id: str,
        poke_interval: float = POKE_INTERVAL_S,
        is_test_sensor: bool = False,
        tests: list[str] | None = None,
        dag_id: str = "",
        run_id: str = "",
        map_index: int | None = -1,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            model_unique_id=model_unique_id,
            producer_task_id=producer_task_id,
            dag_id=dag_id,
            run_id=run_id,
            map_index=map_index,
            poke_interval=poke_interval,
            is_test_sensor=is_test_sensor,
            **kwargs,
        )
        self.tests = list(tests or [])

    def serialize(self) -> tuple[str, dict[str, Any]]:
        _, kwargs = super().serialize()
        return f"{__name__}.{type(self).__name__}", {**kwargs, "tests": self.tests}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        ti = getattr(self, "task_instance", None)
        if ti is not None and not self.run_id:
            self.dag_id, self.run_id, self.map_index = ti.dag_id, ti.run_id, ti.map_index
        if ti is not None and (ti.try_number or 1) > 1:
            # A retry: Cosmos's execute() runs this one model on the worker (or keeps waiting for a live
            # producer). Nothing to watch here.
            yield TriggerEvent({RESUME_ON_WORKER: "retry"})
            return
        async for event in super().run():
            status = event.payload.get("status")
            if status == EventStatus.SKIPPED:
                await self._log_model_result("skipped")
                yield TaskSkippedEvent()
            elif status != EventStatus.SUCCESS:  # failed model or producer: execute() fails it with dbt's error
                yield TriggerEvent({**event.payload, RESUME_ON_WORKER: str(status)})
            elif await self._tests_failed():
                yield TaskFailedEvent()
            else:
                await self._log_model_result("success")
                yield TaskSuccessEvent()
            return

    async def _tests_failed(self) -> bool:
        """Wait for the producer's aggregated result of this model's tests; log dbt's message if they failed."""
        if not self.tests:
            return False
        key = get_tests_status_xcom_key(self.model_unique_id)
        while (status := await self.get_xcom_val(key)) is None:
            if await self._get_producer_task_status() in PRODUCER_FINAL_STATES:
                status = await self.get_xcom_val(key)  # pushed just before the producer finished?
                break
            await asyncio.sleep(self.poke_interval)
        if status != DbtTestStatus.FAIL:
            return False
        messages = await self._test_messages()
        for test, message in messages.items():
            self.log.error("dbt %s failed: %s", test, message)
        if not messages:
            self.log.error("dbt gave no message for the failed tests yet: see task %s's log.", self.producer_task_id)
        self.log.error("dbt tests of %s failed: see dbt's messages above.", self.model_unique_id)
        return True

    async def _test_messages(self) -> dict[str, str]:
        """dbt's messages for this model's failed tests (`Got 1 result, configured to fail if != 0`).

        dbt may report them only in its end-of-run summary, after the aggregated status: wait for them
        until the producer has ended, at most MESSAGE_WAIT_S.
        """
        deadline = asyncio.get_running_loop().time() + MESSAGE_WAIT_S
        while True:
            producer_done = await self._get_producer_task_status() in PRODUCER_FINAL_STATES
            messages = {}
            for test in self.tests:
                event = await self.get_xcom_val(get_dbt_event_xcom_key(test))
                if isinstance(event, dict) and event.get("msg"):
                    messages[test] = str(event["msg"])
            if messages or producer_done or asyncio.get_running_loop().time() > deadline:
                return messages
            await asyncio.sleep(self.poke_interval)

    async def _log_model_result(self, status: str) -> None:
        """dbt's result for the model (status, timing, message if any), into the task log.

        The producer pushes a node's status before its event details, so the details may not be there yet:
        the status (known to the caller) is logged regardless.
        """
        event = await self.get_xcom_val(get_dbt_event_xcom_key(self.model_unique_id))
        event = event if isinstance(event, dict) else {}
        took = f" ({event['start_time']} .. {event['finish_time']})" if event.get("finish_time") else ""
        message = f": {event['msg']}" if event.get("msg") else ""
        self.log.info(f"dbt {self.model_unique_id}: {status}{took}{message}")


def adapt_watcher_group(tasks: Iterable[Any], poke_interval: float = POKE_INTERVAL_S) -> int:
    """Apply the module's WATCHER changes to a rendered Cosmos group's tasks; return the consumers changed.

    `next_method="execute"`: when the trigger hands a task to a worker, Cosmos's own `execute()` runs (it
    re-reads the status from XCom, so the event's payload is informational only).
    """
    tasks = list(tasks)
    tests_per_model: dict[str, list[str]] = {}
    for task in tasks:
        if isinstance(task, DbtProducerWatcherOperator):
            tests_per_model = task.tests_per_model
            task.dbt_cmd_flags = _without_resource_type_filter(task.dbt_cmd_flags)
    changed = 0
    for task in tasks:
        if not isinstance(task, BaseConsumerSensor) or task.is_test_sensor:
            continue
        tests = sorted(tests_per_model.get(task.model_unique_id, []))
        if tests:
            task.base_cmd = ["build"]  # a retry on the worker rebuilds the model and runs its tests
        task.start_from_trigger = True
        task.start_trigger_args = StartTriggerArgs(
            trigger_cls=f"{__name__}.{TriggererConsumerTrigger.__name__}",
            trigger_kwargs={
                "model_unique_id": task.model_unique_id,
                "producer_task_id": task.producer_task_id,
                "poke_interval": poke_interval,
                "is_test_sensor": False,
                "tests": tests,
            },
            next_method="execute",
            next_kwargs=None,
            timeout=task.execution_timeout,
        )
        changed += 1
    return changed


def _without_resource_type_filter(flags: list[str]) -> list[str]:
    """Drop the `--resource-type X` pairs Cosmos adds under TestBehavior.NONE, so `dbt build` runs tests."""
    kept: list[str] = []
    skip_next = False
    for flag in flags:
        if skip_next:
            skip_next = False
        elif flag == "--resource-type":
            skip_next = True
        else:
            kept.append(flag)
    return kept
