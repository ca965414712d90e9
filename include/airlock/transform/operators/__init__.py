"""The build task: one isolated `dbt build` per processing run, the same on every target.

`DbtBuildMixin` is the Airflow side every target shares: it reads the run's identity from the claim task,
resumes from what earlier tries built, hands the runner its payload, reads dbt's JSON stream back into
per-node results, reports them (task log, XCom, Datadog, asset events) and decides what a failure is:
- a failed data test fails the task for good (AirflowFailException): retrying cannot change the data;
- a model error, a dbt crash or a lost container fails the try: Airflow retries, and the retry resumes;
- a refusal (tenant isolation, configuration) fails for good, with the runner's reason.

Where the runner runs is the subclass's only concern (`launch`): a subprocess in dbt's venv (local), a
Kubernetes pod (Astro), an ECS task (MWAA). `build_task` picks one by AIRLOCK_EXECUTION_TARGET.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airlock.isolation import CLAIM_TASK_ID, RUN_KEYS, entrypoint_args
from airlock.transform.identity import partition_key_of, run_identity
from airlock.transform.model_tasks import REPORT_KEY
from airlock.transform.results import BuildLog, ModelOutcome, NodeResult, model_outcome, resume_select
from airlock.transform.selection import Selection

if TYPE_CHECKING:
    from airlock.isolation import IsolationConfig
    from airlock.settings import Settings
    from airlock.transform.config import DbtRuntime

RUNNER = "airlock.transform.runner:build"
log = logging.getLogger(__name__)


def model_asset(project_name: str, model_name: str) -> Any:
    """The asset a model's events go to: one per model, partitioned by `<tenant>|<batch_id>` like the run."""
    from airflow.sdk import Asset

    name = f"dbt/{project_name}/{model_name}"
    return Asset(name=name, uri=f"airlock://{name}")


class DbtBuildMixin(BaseOperator):
    """What every target's build task does around the runner (see the module docstring).

    A BaseOperator itself so Airflow's default-argument handling wraps its `__init__`; the target classes
    put it first (`class PodDbtBuildOperator(DbtBuildMixin, KubernetesPodOperator)`).

    :param selection: the dataflow's nodes and dbt selection (airlock.transform.selection).
    :param runtime: how dbt runs here (airlock.transform.config).
    :param model_status: ``events`` (emit one asset event per model) or ``tasks`` (model tasks read the result).
    :param claim_task_id: the task whose XCom holds the run's identity.
    """

    ui_color = "#ff694a"
    template_fields: Sequence[str] = ()

    def __init__(
        self,
        *,
        selection: Selection,
        runtime: DbtRuntime,
        model_status: str = "events",
        claim_task_id: str = CLAIM_TASK_ID,
        **kwargs: Any,
    ) -> None:
        if model_status == "events":
            kwargs.setdefault("outlets", [model_asset(selection.project_name, m.name) for m in selection.models])
        super().__init__(**kwargs)
        self.selection = selection
        self.runtime = runtime
        self.model_status = model_status
        self.claim_task_id = claim_task_id

    # ---- the subclass's part -------------------------------------------------------------------------

    def launch(self, context: Any, run: Mapping[str, str], payload: Mapping[str, Any], build: BuildLog) -> None:
        """Run the runner with `payload` where this target runs it; feed every output line to `feed`."""
        raise NotImplementedError

    def runner_args(self, payload: Mapping[str, Any]) -> list[str]:
        """`airlock.transform.runner:build --payload …`, after `python -m airlock.isolation`: the same everywhere."""
        return entrypoint_args(RUNNER, payload)

    def runner_env(self, context: Any, run: Mapping[str, str], *, container: bool) -> dict[str, str]:
        """What the runner reads from its environment besides credentials (never secrets: see docs/deploy.md)."""
        project = self.runtime.project
        ti = context["ti"]
        return {
            "AIRLOCK_DBT_PROJECT_DIR": self.runtime.container_project_dir if container else str(project.project_dir),
            "AIRLOCK_DBT_PROFILES_DIR": self.runtime.container_profiles_dir if container else str(project.profiles_dir),
            "AIRLOCK_DBT_PROFILE": project.profile,
            "AIRLOCK_DBT_TARGET": project.target,
            "AIRLOCK_TENANT_ID": run["tenant_id"],
            "AIRLOCK_BATCH_ID": run["batch_id"],
            # The cost-attribution comment on every statement (dbt_project/macros/query_comment.sql).
            "AIRFLOW_CTX_DAG_ID": str(ti.dag_id),
            "AIRFLOW_CTX_DAG_RUN_ID": str(ti.run_id),
            "AIRFLOW_CTX_TASK_ID": str(ti.task_id),
            "AIRFLOW_CTX_TRY_NUMBER": str(ti.try_number),
            "DO_NOT_TRACK": "1",
        }

    def feed(self, build: BuildLog, line: str) -> str:
        """One line of the runner's output: parsed into `build`; returns the text to show in the task log."""
        shown = build.feed(line)
        return shown[1] if shown is not None else ""

    # ---- the shared part -----------------------------------------------------------------------------

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowException, AirflowFailException

        from airlock.settings import load_settings
        from airlock.storage import open_storage
        from airlock.transform.state import load_done, save_done

        run = run_identity(context, self.claim_task_id)
        raw = open_storage(load_settings().raw_url)
        done = load_done(raw, run)
        names = {uid: node.name for uid, node in self.selection.nodes.items()}
        tests = {uid: node.tests for uid, node in self.selection.nodes.items()}
        resume = resume_select(names, tests, done)
        if resume is not None:
            self.log.info("resuming: %d node(s) built by earlier tries are kept; building %s", len(done), resume)
        payload = {**{k: run[k] for k in RUN_KEYS}, "selection": self.selection.dbt_args(), "resume": resume}
        build = BuildLog()
        launch_error: BaseException | None = None
        try:
            self.launch(context, run, payload, build)
        except Exception as exc:  # a non-zero exit, a lost container, an API error: the log says which
            launch_error = exc
        finally:
            results = {**done, **build.results}
            if build.results:
                save_done(raw, run, results, int(context["ti"].try_number))
        outcomes = {
            uid: model_outcome(uid, node.tests, results, build.complete) for uid, node in self.selection.nodes.items()
        }
        report = self.report(context, run, build, outcomes)
        if self.model_status == "tasks":  # read by the model tasks, on success and on failure alike
            context["ti"].xcom_push(key=REPORT_KEY, value=report)
        kind = build.outcome()
        if kind == "incomplete" and launch_error is None and resume == []:
            kind = "success"  # an earlier try built everything; nothing was left to run
        if kind == "success" and launch_error is None:
            self.emit_events(context, run, outcomes)
            return report
        where = f"dbt build of {self.selection.dataflow} for {run['tenant_id']}|{run['batch_id']}"
        if kind == "test_failure":
            raise AirflowFailException(
                f"{where}: data tests failed: {build.failure_message()}. A failed data test is not retried: fix "
                "the data or the test, then clear this task (it resumes from the failure)."
            )
        if kind == "refused":
            raise AirflowFailException(f"{where} refused: {build.failure_message()}")
        if kind == "success":  # dbt succeeded but the platform reported an error afterwards
            raise AirflowException(f"{where}: dbt succeeded but the task failed: {launch_error}") from launch_error
        raise AirflowException(f"{where} failed: {build.failure_message()}") from launch_error

    def report(
        self, context: Any, run: Mapping[str, str], build: BuildLog, outcomes: Mapping[str, ModelOutcome]
    ) -> dict[str, Any]:
        """Log each model's outcome, send it to Datadog, and return it (the task's XCom, read by model tasks)."""
        from airlock.metrics import metrics

        # dbt's own line for every node is already in the log above: repeat only what did not succeed, with
        # dbt's messages, and one line of totals (200 lines more per run cost the log pipeline, not the reader).
        by_status: dict[str, int] = {}
        for outcome in outcomes.values():
            by_status[outcome.status] = by_status.get(outcome.status, 0) + 1
            if outcome.succeeded:
                continue
            level = logging.WARNING if outcome.status in ("not_run", "unknown", "skipped") else logging.ERROR
            detail = f": {'; '.join(outcome.messages)}" if outcome.messages else ""
            self.log.log(level, "model %s: %s%s", outcome.unique_id, outcome.status, detail)
        rows = sum(o.rows or 0 for o in outcomes.values())
        self.log.info("dbt nodes of %s: %s; %d rows in the tables built", self.selection.dataflow, by_status, rows)
        tenant_metrics = metrics.for_tenant(run["tenant_id"], self.selection.dataflow)
        built_now = {uid: outcomes[uid] for uid in build.results if uid in outcomes}
        tenant_metrics.dbt_models(built_now.values())
        return {
            "outcome": build.outcome(),
            "models": {uid: _outcome_doc(o) for uid, o in outcomes.items()},
        }

    def emit_events(self, context: Any, run: Mapping[str, str], outcomes: Mapping[str, ModelOutcome]) -> None:
        """Events mode: one event per model on its asset, partitioned like the run, with status and rows."""
        if self.model_status != "events":
            return
        partition_key = partition_key_of(context) or f"{run['tenant_id']}|{run['batch_id']}"
        outlet_events = context["outlet_events"]
        for node in self.selection.models:
            outcome = outcomes[node.unique_id]
            accessor = outlet_events[model_asset(self.selection.project_name, node.name)]
            accessor.extra = {
                "tenant_id": run["tenant_id"],
                "batch_id": run["batch_id"],
                "model": node.unique_id,
                **_outcome_doc(outcome),
            }
            if partition_key_of(context) is None:  # a manual run has no key: give the event the run's
                accessor.add_partitions([partition_key])


def _outcome_doc(outcome: ModelOutcome) -> dict[str, Any]:
    doc: dict[str, Any] = {"status": outcome.status}
    if outcome.rows is not None:
        doc["rows"] = outcome.rows
    if outcome.execution_time is not None:
        doc["seconds"] = outcome.execution_time
    if outcome.messages:
        doc["messages"] = list(outcome.messages)
    return doc


def build_task(
    task_id: str,
    selection: Selection,
    runtime: DbtRuntime,
    settings: Settings,
    config: IsolationConfig | None,
    **kwargs: Any,
) -> BaseOperator:
    """The dataflow's build task for AIRLOCK_EXECUTION_TARGET: local subprocess, Kubernetes pod or ECS task."""
    common = {"task_id": task_id, "selection": selection, "runtime": runtime, **kwargs}
    if settings.execution_target == "kubernetes" and config is not None:
        from airlock.transform.operators.pod import PodDbtBuildOperator

        return PodDbtBuildOperator(config=config, **common)
    if settings.execution_target == "aws_ecs" and config is not None:
        from airlock.transform.operators.ecs import EcsDbtBuildOperator

        return EcsDbtBuildOperator(config=config, **common)
    from airlock.transform.operators.local import SubprocessDbtBuildOperator

    return SubprocessDbtBuildOperator(**common)


__all__ = ["DbtBuildMixin", "NodeResult", "build_task", "model_asset"]
