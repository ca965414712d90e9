"""Per-model status as tasks (AIRLOCK_DBT_MODEL_STATUS=tasks): one task per dbt node that never takes a worker.

Each task sits after the build task (trigger rule all_done) and uses Airflow's `start_from_trigger`: the
scheduler hands it straight to the triggerer, whose trigger reads the build's report from XCom once and
ends the task there: success, skipped, or failed with dbt's message in the task's own log. No worker
process, no polling while dbt runs, and no waiting across the build's retries: the tasks start when the
build has its final state (a retry of the build keeps them waiting; clearing the build task with its
downstream re-evaluates them).

Why after the build and not beside it (as Cosmos's WATCHER consumers are): a consumer polling XCom every
second for the whole build costs the triggerer one API read per model per second; here it is one read per
model per run. Live progress is in the build task's log. Measured: bench/results/dbt_overhead.json.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException
from airflow.triggers.base import (
    BaseTrigger,
    StartTriggerArgs,
    TaskFailedEvent,
    TaskSkippedEvent,
    TaskSuccessEvent,
    TriggerEvent,
)

REPORT_KEY = "airlock_dbt_models"
"""XCom key of the build task's per-model report (pushed on success and on failure)."""


class ModelStatusTrigger(BaseTrigger):
    """Ends a model's task in the triggerer with the status the build reported for it.

    Built from `start_trigger_args` when the DAG parses, when the run is unknown: dag_id and run_id come
    from the task instance the triggerer attaches before `run()`.

    :param model_unique_id: the dbt node this task stands for.
    :param build_task_id: the build task whose report is read.
    """

    def __init__(self, model_unique_id: str, build_task_id: str, dag_id: str = "", run_id: str = "") -> None:
        super().__init__()
        self.model_unique_id = model_unique_id
        self.build_task_id = build_task_id
        self.dag_id = dag_id
        self.run_id = run_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{__name__}.{type(self).__name__}", {
            "model_unique_id": self.model_unique_id,
            "build_task_id": self.build_task_id,
            "dag_id": self.dag_id,
            "run_id": self.run_id,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        ti = getattr(self, "task_instance", None)
        if ti is not None and not self.run_id:
            self.dag_id, self.run_id = ti.dag_id, ti.run_id
        report = await self.read_report()
        outcome = (report or {}).get("models", {}).get(self.model_unique_id) if report else None
        if outcome is None:
            yield await self._without_report(report)
            return
        yield self.decide(outcome, str(report.get("outcome")))

    def decide(self, outcome: Mapping[str, Any], build_outcome: str) -> TriggerEvent:
        """The task's end from the model's outcome, with dbt's result in the task log."""
        status = str(outcome.get("status"))
        rows = f", {outcome['rows']} rows" if outcome.get("rows") is not None else ""
        took = f" in {outcome['seconds']:.2f}s" if outcome.get("seconds") is not None else ""
        if status in ("success", "warn"):
            self.log.info("dbt %s: %s%s%s", self.model_unique_id, status, rows, took)
            return TaskSuccessEvent()
        for message in outcome.get("messages") or []:
            self.log.error("dbt %s: %s", self.model_unique_id, message)
        if status == "skipped":
            self.log.warning("dbt %s: skipped (an upstream node failed)", self.model_unique_id)
            return TaskSkippedEvent()
        if status == "not_run" and build_outcome == "success":
            self.log.info("dbt %s: not run by the build (ephemeral or empty)", self.model_unique_id)
            return TaskSuccessEvent()
        if status in ("not_run", "unknown"):
            self.log.error(
                "dbt %s: not built: the build stopped before reaching it (see task %s)",
                self.model_unique_id,
                self.build_task_id,
            )
        else:
            self.log.error(
                "dbt %s: %s (dbt's messages above; build log: task %s)",
                self.model_unique_id,
                status,
                self.build_task_id,
            )
        return TaskFailedEvent()

    async def _without_report(self, report: Mapping[str, Any] | None) -> TriggerEvent:
        state = await self.build_state()
        if state in ("skipped", "upstream_failed"):
            self.log.info("the build task is %s: nothing was built for this run", state)
            return TaskSkippedEvent()
        self.log.error(
            "the build task %s ended %s without a report for %s: see its log",
            self.build_task_id,
            state,
            self.model_unique_id,
        )
        return TaskFailedEvent()

    async def read_report(self) -> dict[str, Any] | None:
        from airflow.sdk.execution_time.xcom import XCom
        from asgiref.sync import sync_to_async

        value = await sync_to_async(XCom.get_one)(
            run_id=self.run_id, key=REPORT_KEY, task_id=self.build_task_id, dag_id=self.dag_id, map_index=-1
        )
        return value if isinstance(value, dict) else None

    async def build_state(self) -> str | None:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
        from asgiref.sync import sync_to_async

        states = await sync_to_async(RuntimeTaskInstance.get_task_states)(
            dag_id=self.dag_id, task_ids=[self.build_task_id], run_ids=[self.run_id]
        )
        state = states.get(self.run_id, {}).get(self.build_task_id)
        return str(state) if state is not None else None


class DbtModelStatusOperator(BaseOperator):
    """A dbt node's status as its own task; it starts and ends in the triggerer, never on a worker.

    :param model_unique_id: the dbt node (`model.<project>.<name>`, a seed or a snapshot).
    :param build_task_id: the run's build task, whose report holds the node's outcome.
    """

    ui_color = "#fdd9d1"

    def __init__(self, *, model_unique_id: str, build_task_id: str, **kwargs: Any) -> None:
        kwargs.setdefault("retries", 0)  # the build retries (and resumes); a status cannot change on its own
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.model_unique_id = model_unique_id
        self.build_task_id = build_task_id
        self.start_from_trigger = True
        self.start_trigger_args = StartTriggerArgs(
            trigger_cls=f"{__name__}.{ModelStatusTrigger.__name__}",
            trigger_kwargs={"model_unique_id": model_unique_id, "build_task_id": build_task_id},
            next_method="execute",
            next_kwargs=None,
            timeout=None,
        )

    def execute(self, context: Any, event: Any = None) -> None:
        raise AirflowException(
            f"{self.task_id} only reports dbt's result for {self.model_unique_id} from the triggerer; "
            f"it never runs on a worker. See task {self.build_task_id}."
        )
