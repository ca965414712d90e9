"""The build on MWAA: the runner image as an ECS task, its results read back from the task's log stream.

Cosmos has no watcher for ECS yet (an upstream request is open), so this is the kit's own, with the same
contract as the pod: every line the runner writes reaches CloudWatch Logs through the task definition's
`awslogs` driver, and the operator's log fetcher hands each one to the build's results as it arrives.
The runner's closing summary line says the stream is complete; CloudWatch can lag behind the task's
stop, so the operator reads the stream again until that line is there (at most LOG_SETTLE_S).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from airflow.providers.amazon.aws.hooks.logs import AwsLogsHook
from airflow.providers.amazon.aws.operators.ecs import EcsRunTaskOperator
from airflow.providers.amazon.aws.utils.task_log_fetcher import AwsTaskLogFetcher

from airlock.isolation import IsolationConfig, ecs_cpu_units, ecs_kwargs, ecs_memory_mib
from airlock.transform.operators import DbtBuildMixin
from airlock.transform.results import BuildLog

LOG_SETTLE_S = 60.0
"""How long to wait after the task stopped for its last log lines to reach CloudWatch."""


class FeedingLogFetcher(AwsTaskLogFetcher):
    """The provider's log fetcher, handing each event's message to a sink; what it logs is the sink's text."""

    def __init__(self, *, sink: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sink = sink

    def event_to_str(self, event: dict) -> str:  # type: ignore[override]
        return self.sink(event["message"]) or event["message"]


class EcsDbtBuildOperator(DbtBuildMixin, EcsRunTaskOperator):
    """One `dbt build` of the run as an ECS task of the runner image, under the tenant's processing role.

    The task definition (Terraform modules/ecs) carries the warehouse credentials as `secrets` from
    Secrets Manager and has no task role: each run names its tenant's (`taskRoleArn`).

    :param config: placement (cluster, task definition, container, network, logs, role template, sizes).
    """

    def __init__(self, *, config: IsolationConfig, **kwargs: Any) -> None:
        super().__init__(
            **ecs_kwargs(config),
            container_name=config.ecs_container,
            overrides={},
            awslogs_fetch_interval=timedelta(seconds=2),
            do_xcom_push=False,
            **kwargs,
        )
        self.config = config
        self._build: BuildLog | None = None

    def prepare(self, context: Any, run: Mapping[str, str], payload: Mapping[str, Any]) -> None:
        """Fill in what depends on the run: command, environment, size, the tenant's role, tags."""
        cpu, memory = self.config.size(self.selection.heavy)
        env = {**self.runner_env(context, run, container=True), "HOME": "/tmp"}
        self.overrides = {
            "containerOverrides": [
                {
                    "name": self.config.ecs_container,
                    "command": self.runner_args(payload),  # after the image's ENTRYPOINT
                    "environment": [{"name": k, "value": v} for k, v in sorted(env.items())],
                }
            ],
            # Fargate sizes the task, not the container: a heavy dataflow's build gets a bigger task.
            "cpu": str(ecs_cpu_units(cpu)),
            "memory": str(ecs_memory_mib(memory)),
            "taskRoleArn": self.config.ecs_task_role_arn_template.replace("{tenant}", run["tenant_id"]),
        }
        self.tags = {
            "airlock:tenant": run["tenant_id"],
            "airlock:dataflow": self.selection.dataflow,
            "airlock:batch": run["batch_id"],
        }

    def launch(self, context: Any, run: Mapping[str, str], payload: Mapping[str, Any], build: BuildLog) -> None:
        self.prepare(context, run, payload)
        self._build = build
        try:
            EcsRunTaskOperator.execute(self, context)
        finally:
            self._build = None
            if self.arn and not build.complete:
                self.settle(build)

    def _get_task_log_fetcher(self) -> AwsTaskLogFetcher:
        if not self.awslogs_group:
            raise ValueError("must specify awslogs_group to fetch task logs")
        return FeedingLogFetcher(
            sink=self._feed_line,
            aws_conn_id=self.aws_conn_id,
            region_name=self.resolve_awslogs_region(),
            log_group=self.awslogs_group,
            log_stream_name=self._get_logs_stream_name(),
            fetch_interval=self.awslogs_fetch_interval,
            logger=self.log,
        )

    def _feed_line(self, message: str) -> str:
        return self.feed(self._build, message) if self._build is not None else message

    def settle(self, build: BuildLog, deadline_s: float = LOG_SETTLE_S) -> None:
        """Read the whole stream again until the runner's summary is in it (CloudWatch may lag the stop)."""
        hook = AwsLogsHook(aws_conn_id=self.aws_conn_id, region_name=self.resolve_awslogs_region())
        stream = self._get_logs_stream_name()
        deadline = time.monotonic() + deadline_s
        while True:
            fresh = BuildLog()
            for event in hook.get_log_events(self.awslogs_group, stream):
                fresh.feed(event["message"])
            if fresh.complete or time.monotonic() > deadline:
                break
            time.sleep(2)
        if fresh.complete:
            self.log.info("read the rest of %s: %d lines, the runner's summary included", stream, fresh.lines)
            build.results.update(fresh.results)
            build.summary, build.refusal = fresh.summary, fresh.refusal or build.refusal
        else:
            self.log.warning(
                "%s has no summary from the runner after %.0f s: the build is incomplete", stream, deadline_s
            )
