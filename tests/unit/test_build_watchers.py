"""The pod and ECS build tasks read dbt's results back from where the container logs: real dbt output, replayed.

The lines are dbt's JSON logs recorded from real runs of the runner (tests/unit/fixtures/dbt_build).
- ECS: moto's ECS and CloudWatch Logs. The test plays the container: it writes the recorded lines to the
  task's log stream as the `awslogs` driver would, then stops the task with the runner's exit code.
  moto 5.2.5 cannot start an awsvpc task (its network interface lacks `private_dns_name`) nor record a
  container's exit: the test adds the one and sets the other, as ECS would.
- Kubernetes: the provider's own PodManager streams the recorded lines (with kubelet's timestamps) through
  the operator's `log_formatter`, as it does for a live pod; there is no cluster here.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

import airflow  # noqa: F401 - before cosmos (FIELD-NOTES: import-order trap)
import boto3
import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException
from kubernetes.client import models as k8s
from moto import mock_aws

from airlock.settings import load_settings
from airlock.tenants import load_dataflows
from airlock.transform.results import BuildLog
from airlock.transform.steps import dbt_steps
from tests.dbt.conftest import run_context

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures" / "dbt_build"
REGION = "eu-west-1"
LOG_GROUP = "/airlock/airlock-prod/ecs/dbt"


def recorded(name: str) -> list[str]:
    return (FIXTURES / f"{name}.jsonl").read_text().splitlines()


def render(env: dict[str, str]) -> Any:
    settings = load_settings(env)
    with DAG("process_inventory", schedule=None, start_date=datetime(2026, 1, 1)):
        return dbt_steps(load_dataflows(settings.dataflows_dir)["inventory"], settings, environ=env).entry


# ---- ECS ---------------------------------------------------------------------------------------------


@pytest.fixture
def ecs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface

    monkeypatch.setattr(NetworkInterface, "private_dns_name", "ip-10-0-1-5.eu-west-1.compute.internal", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", '{"conn_type": "aws", "extra": {"region_name": "eu-west-1"}}')
    monkeypatch.setenv("AIRLOCK_RAW_URL", str(tmp_path / "raw"))
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName="tasks", Description="tasks", VpcId=vpc)["GroupId"]
        client = boto3.client("ecs", region_name=REGION)
        client.create_cluster(clusterName="airlock-prod-transforms")
        client.register_task_definition(
            family="airlock-prod-dbt",
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="1024",
            memory="2048",
            containerDefinitions=[{"name": "dbt", "image": "runner:1", "essential": True, "cpu": 1024, "memory": 2048}],
        )
        boto3.client("logs", region_name=REGION).create_log_group(logGroupName=LOG_GROUP)
        env = {
            "AIRLOCK_HOME": str(REPO),
            "AIRLOCK_EXECUTION_TARGET": "aws_ecs",
            "AIRLOCK_ECS_CLUSTER": "airlock-prod-transforms",
            "AIRLOCK_ECS_TASK_DEFINITION": "airlock-prod-dbt",
            "AIRLOCK_ECS_CONTAINER": "dbt",
            "AIRLOCK_ECS_SUBNETS": subnet,
            "AIRLOCK_ECS_SECURITY_GROUPS": group,
            "AIRLOCK_ECS_LOG_GROUP": LOG_GROUP,
            "AIRLOCK_ECS_LOG_STREAM_PREFIX": "dbt/dbt",
            "AIRLOCK_ECS_TASK_ROLE_ARN_TEMPLATE": "arn:aws:iam::123456789012:role/airlock-prod-{tenant}-processing",
            "AIRLOCK_AWS_REGION": REGION,
        }
        yield env, client


class Container(threading.Thread):
    """Plays the ECS task's container: logs the recorded lines to its stream, then exits with `exit_code`."""

    def __init__(self, client: Any, lines: list[str], exit_code: int, late_lines: int = 0) -> None:
        super().__init__(daemon=True)
        self.client, self.lines, self.exit_code, self.late_lines = client, lines, exit_code, late_lines
        self.task: dict[str, Any] = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.error = exc

    def _run(self) -> None:
        deadline = time.monotonic() + 60
        arns: list[str] = []
        while not arns and time.monotonic() < deadline:
            arns = self.client.list_tasks(cluster="airlock-prod-transforms")["taskArns"]
            time.sleep(0.2)
        assert arns, "the operator started no ECS task within 60 s"
        self.task = self.client.describe_tasks(cluster="airlock-prod-transforms", tasks=arns)["tasks"][0]
        logs = boto3.client("logs", region_name=REGION)
        stream = f"dbt/dbt/{arns[0].split('/')[-1]}"
        logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
        now = int(time.time() * 1000)
        cut = len(self.lines) - self.late_lines
        for start in range(0, cut, 20):  # as the awslogs driver batches them, while the build runs
            events = [
                {"timestamp": now + i, "message": line}
                for i, line in enumerate(self.lines[start : min(start + 20, cut)], start)
            ]
            logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=stream, logEvents=events)
            time.sleep(0.05)
        from moto.ecs.models import ecs_backends

        task = ecs_backends["123456789012"][REGION].tasks["airlock-prod-transforms"][arns[0]]
        for container in task.containers:  # what ECS records when the container exits
            container.last_status, container.exit_code = "STOPPED", self.exit_code
        self.client.stop_task(cluster="airlock-prod-transforms", task=arns[0], reason="Essential container exited")
        if self.late_lines:  # CloudWatch can lag the task's stop: the tail arrives after it
            time.sleep(3)
            events = [{"timestamp": now + cut + i, "message": line} for i, line in enumerate(self.lines[cut:])]
            logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=stream, logEvents=events)


def run_on_ecs(env: dict[str, str], client: Any, name: str, exit_code: int, tenant: str, **kwargs: Any) -> Any:
    """Run the build task's execute() while a thread plays its container; return the task's report."""
    operator = render(env)
    operator.waiter_delay = 1
    container = Container(client, recorded(name), exit_code, **kwargs)
    container.start()
    try:
        return operator.execute(run_context(tenant))
    finally:
        container.join(timeout=90)
        assert container.error is None, container.error
        assert container.task["overrides"]["taskRoleArn"].endswith(f"airlock-prod-{tenant}-processing")


def test_ecs_build_reads_a_successful_builds_results_from_its_log_stream(ecs: Any) -> None:
    env, client = ecs
    report = run_on_ecs(env, client, "acme_success", 0, "acme")
    assert report["outcome"] == "success"
    fct = report["models"]["model.airlock.fct_stock_levels"]
    assert (fct["status"], fct["rows"]) == ("success", 4) and fct["seconds"] > 0


def test_ecs_build_with_a_failed_data_test_fails_for_good_with_dbts_message(ecs: Any) -> None:
    env, client = ecs
    with pytest.raises(AirflowFailException, match="not_negative_stg_stock_quantity: Got 1 result"):
        run_on_ecs(env, client, "initech_test_failure", 1, "initech")


def test_ecs_build_waits_for_log_lines_that_reach_cloudwatch_after_the_task_stopped(ecs: Any) -> None:
    env, client = ecs
    report = run_on_ecs(env, client, "acme_success", 0, "acme", late_lines=5)
    assert report["outcome"] == "success", "the summary arrived after the stop and was waited for"


# ---- Kubernetes ----------------------------------------------------------------------------------------


def test_pod_build_reads_results_from_the_pods_log_through_the_providers_pod_manager(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow.providers.cncf.kubernetes.utils.pod_manager import PodManager

    env = {
        "AIRLOCK_HOME": str(REPO),
        "AIRLOCK_EXECUTION_TARGET": "kubernetes",
        "AIRLOCK_K8S_TENANT_ROLE_ARN_TEMPLATE": "arn:aws:iam::123456789012:role/airlock-prod-{tenant}-processing",
    }
    operator = render(env)
    lines = recorded("globex_sql_error")
    stream = [f"2026-11-27T10:00:{i // 1000:02d}.{i % 1000:06d}Z {line}\n".encode() for i, line in enumerate(lines)]
    manager = PodManager(kube_client=mock.MagicMock())
    monkeypatch.setattr(manager, "read_pod_logs", lambda **_: iter(stream))
    monkeypatch.setattr(manager, "container_is_running", lambda *a, **k: False)
    pod = k8s.V1Pod(metadata=k8s.V1ObjectMeta(name="airlock-dbt-inventory-x1", namespace="astro-airlock"))
    build = BuildLog()
    operator._build = build
    shown: list[str] = []
    original = operator.log_formatter
    operator.log_formatter = lambda container, message: shown.append(original(container, message)) or shown[-1]
    manager.fetch_container_logs(pod, "base", follow=True, log_formatter=operator.log_formatter)
    assert build.complete and build.outcome() == "error"
    assert "Binder Error" in build.failure_message()
    assert build.results["seed.airlock.stock_status_bands"].rows == 4
    assert "Running with dbt=1.11.16" in shown, "the task log shows dbt's text, not its JSON"
