"""A local AWS endpoint (moto server) wired like the real landing zone: buckets, queues, event routing.

The wiring mirrors infra/terraform's landing_zone and tenant modules (names from docs/contracts.md),
so the DAGs see the same events locally as in AWS: the landing bucket sends its events to
EventBridge, one rule feeds the shared queue of the standard tier, one rule per dedicated tenant
feeds that tenant's own queue; every queue has a DLQ.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Iterable
from typing import Any

import boto3
import httpx

from airlock.devstack.processes import ProcessError, Supervisor, python, tail
from airlock.triggers.routing import dedicated_pattern, shared_pattern

REGION = "us-east-1"
"""us-east-1 needs no LocationConstraint; the region only has to agree between S3, SQS and Airflow."""

ACCESS_KEY = "testing"  # moto accepts any credentials; these never leave the machine
SECRET_KEY = "testing"  # noqa: S105 - a dummy for the local endpoint
MAX_RECEIVE_COUNT = 5
"""Receives before a message that cannot be parsed moves to the DLQ (Terraform: max_receive_count)."""
VISIBILITY_TIMEOUT = 60
"""Seconds a received message stays hidden: after a triggerer crash, SQS redelivers within this time."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now (the OS picks it), for servers that need a fixed port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def start_moto(supervisor: Supervisor, *, port: int | None = None, timeout: float = 30.0) -> str:
    """Start `moto.server` on 127.0.0.1 under `supervisor`; return its endpoint URL once it answers."""
    port = port or free_port()
    if port_in_use(port):
        raise ProcessError(f"port {port} is in use: choose another for the local AWS endpoint")
    # Tier 0: stopped last, once nothing polls it. It holds no state worth a long goodbye.
    proc = supervisor.start(
        "moto",
        [python(), "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        tier=0,
        escalation=((signal.SIGINT, 3.0), (signal.SIGKILL, 3.0)),
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            code = proc.popen.returncode
            raise ProcessError(f"moto server exited with code {code}:\n{tail(proc.log_path)}")
        try:
            # moto's own reset/health endpoint; any HTTP answer means the server is serving.
            httpx.get(f"{endpoint}/moto-api/", timeout=1.0)
            return endpoint
        except httpx.HTTPError:
            time.sleep(0.1)
    raise ProcessError(f"moto server did not answer on {endpoint} within {timeout:.0f}s:\n{tail(proc.log_path)}")


def client(service: str, endpoint_url: str, region: str = REGION) -> Any:
    """A boto3 client for the local endpoint, independent of whatever AWS_* the caller's shell has."""
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


def bucket_names(env_name: str) -> dict[str, str]:
    """The bucket of each storage root (docs/contracts.md)."""
    return {root: f"airlock-{env_name}-{root}" for root in ("landing", "raw", "quarantine")}


def queue_name(env_name: str, tenant_id: str) -> str:
    """A dedicated tenant's queue (docs/contracts.md); its DLQ adds `-dlq`."""
    return f"airlock-{env_name}-{tenant_id}-landing"


def shared_queue_name(env_name: str) -> str:
    """The standard tier's queue. Tenant ids have no '-', so no tenant's queue can take this name."""
    return f"airlock-{env_name}-shared-landing"


def rule_name(env_name: str, tenant_id: str | None = None) -> str:
    """EventBridge rule routing landing events to the shared queue (no tenant) or a dedicated tenant's."""
    return f"airlock-{env_name}-landing-{tenant_id or 'shared'}"


def _queue_policy(queue_arn: str, rule_arn: str) -> str:
    """Least privilege, as in Terraform: only EventBridge, only SendMessage, only from our own rule."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "LandingRuleOnly",
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                }
            ],
        }
    )


def _queue_with_dlq(sqs: Any, name: str) -> tuple[str, str]:
    """Create (idempotently) a queue and its DLQ with the redrive policy; return the queue's URL and ARN."""
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
    sqs.set_queue_attributes(
        QueueUrl=url, Attributes={"RedrivePolicy": json.dumps(redrive), "VisibilityTimeout": str(VISIBILITY_TIMEOUT)}
    )
    return url, arn


def _route(events: Any, sqs: Any, name: str, pattern: dict[str, Any], queue_url: str, queue_arn: str) -> None:
    """One EventBridge rule with the queue as its only target; the queue accepts only that rule."""
    rule_arn = events.put_rule(Name=name, EventPattern=json.dumps(pattern), State="ENABLED")["RuleArn"]
    events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": queue_arn}])
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": _queue_policy(queue_arn, rule_arn)})


def wire_landing_zone(
    endpoint_url: str,
    env_name: str,
    tenant_ids: Iterable[str],
    *,
    dedicated: Iterable[str] = (),
    region: str = REGION,
) -> dict[str, str]:
    """Create buckets, the shared queue, each dedicated tenant's queue, and the EventBridge routing.

    As in Terraform (landing_zone and tenant modules): the landing bucket sends its events to
    EventBridge; one rule sends every tenant's uploads except the dedicated tenants' to the shared
    queue, and one rule per dedicated tenant sends its prefix to its own queue. A standard tenant
    therefore needs nothing here: `tenant_ids` only matter for which of them are dedicated.

    Idempotent: re-run it against a live endpoint after adding a tenant (`airlock dev` does); rules
    of tenants no longer dedicated are removed. Returns the environment that points airlock and
    Airflow at the endpoint: AIRLOCK_* roots and queues, AWS credentials, AIRFLOW_CONN_AWS_DEFAULT.
    """
    dedicated_ids = sorted(set(dedicated) & set(tenant_ids))
    s3 = client("s3", endpoint_url, region)
    sqs = client("sqs", endpoint_url, region)
    events = client("events", endpoint_url, region)
    buckets = bucket_names(env_name)
    for bucket in buckets.values():
        s3.create_bucket(Bucket=bucket)
    landing = buckets["landing"]
    # One notification configuration per bucket: everything goes to EventBridge, the rules route it.
    s3.put_bucket_notification_configuration(Bucket=landing, NotificationConfiguration={"EventBridgeConfiguration": {}})

    shared_url, shared_arn = _queue_with_dlq(sqs, shared_queue_name(env_name))
    _route(events, sqs, rule_name(env_name), shared_pattern(landing, dedicated_ids), shared_url, shared_arn)
    for tenant in dedicated_ids:
        url, arn = _queue_with_dlq(sqs, queue_name(env_name, tenant))
        _route(events, sqs, rule_name(env_name, tenant), dedicated_pattern(landing, tenant), url, arn)
    _tenant_keys(client("kms", endpoint_url, region), env_name, tenant_ids)
    wanted = {rule_name(env_name)} | {rule_name(env_name, t) for t in dedicated_ids}
    for rule in events.list_rules(NamePrefix=f"airlock-{env_name}-landing-").get("Rules", []):
        if rule["Name"] not in wanted:  # a tenant that left the dedicated tier: its uploads go to the shared queue
            events.remove_targets(Rule=rule["Name"], Ids=["queue"])
            events.delete_rule(Name=rule["Name"])
    env = aws_env(endpoint_url, env_name, shared_url, dedicated_ids, region=region)
    env["AIRLOCK_TENANT_KEY_TEMPLATE"] = f"alias/airlock-{env_name}-{{tenant}}"
    return env


def _tenant_keys(kms: Any, env_name: str, tenant_ids: Iterable[str]) -> None:
    """Each tenant's own KMS key and alias, as the tenant module makes them (its snapshots use it); idempotent."""
    pages = kms.get_paginator("list_aliases").paginate()
    existing = {alias["AliasName"] for page in pages for alias in page.get("Aliases", [])}
    for tenant in tenant_ids:
        alias = f"alias/airlock-{env_name}-{tenant}"
        if alias not in existing:
            tags = [{"TagKey": "airlock:tenant", "TagValue": tenant}]
            key = kms.create_key(Description=f"airlock {tenant}", Tags=tags)
            kms.create_alias(AliasName=alias, TargetKeyId=key["KeyMetadata"]["KeyId"])


def aws_env(
    endpoint_url: str,
    env_name: str,
    shared_queue_url: str | None = None,
    dedicated: Iterable[str] = (),
    *,
    region: str = REGION,
) -> dict[str, str]:
    """The environment for the local endpoint: AIRLOCK_* settings, AWS credentials, Airflow connection.

    AIRFLOW_CONN_AWS_DEFAULT carries endpoint_url and region_name in its extra: the queue watchers
    (aiobotocore) and S3 hooks read them from there. Queue URLs are as moto returns them; the
    dedicated tier's template is derived from the shared queue's URL (same endpoint and account).
    """
    buckets = bucket_names(env_name)
    connection = {
        "conn_type": "aws",
        "login": ACCESS_KEY,
        "password": SECRET_KEY,
        "extra": {"endpoint_url": endpoint_url, "region_name": region},
    }
    env = {
        "AIRLOCK_ENV": env_name,
        "AIRLOCK_LANDING_URL": f"s3://{buckets['landing']}",
        "AIRLOCK_RAW_URL": f"s3://{buckets['raw']}",
        "AIRLOCK_QUARANTINE_URL": f"s3://{buckets['quarantine']}",
        "AIRLOCK_AWS_CONN_ID": "aws_default",
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": region,
        "AWS_ENDPOINT_URL": endpoint_url,  # boto3 >= 1.28 honours it: plain boto3 code hits moto too
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection),
        # A watcher's message must be stored within its visibility timeout, or SQS hands it out again
        # (a harmless duplicate); Airflow's default ack timeout is 300 s.
        "AIRFLOW__TRIGGERER__SHARED_STREAM_ACK_TIMEOUT": str(VISIBILITY_TIMEOUT),
    }
    if shared_queue_url:
        env["AIRLOCK_SHARED_QUEUE_URL"] = shared_queue_url
        env["AIRLOCK_QUEUE_URL_TEMPLATE"] = shared_queue_url.replace(
            shared_queue_name(env_name), queue_name(env_name, "{tenant}")
        )
        env["AIRLOCK_DEDICATED_TENANTS"] = ",".join(sorted(dedicated))
    return env
