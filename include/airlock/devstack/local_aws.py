"""A local AWS endpoint (moto server) wired like the real landing zone: buckets, queues, notifications.

The wiring mirrors infra/terraform's landing_zone and queues modules (names from docs/contracts.md),
so the DAGs see the same events locally as in AWS: one S3 notification on the landing bucket, one
queue configuration per tenant prefix, one queue (with a DLQ) per tenant.
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

REGION = "us-east-1"
"""us-east-1 needs no LocationConstraint; the region only has to agree between S3, SQS and Airflow."""

ACCESS_KEY = "testing"  # moto accepts any credentials; these never leave the machine
SECRET_KEY = "testing"  # noqa: S105 - a dummy for the local endpoint
MAX_RECEIVE_COUNT = 5
"""Receives before a message moves to the DLQ: a filtered or poisoned message must not cycle forever."""


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
    return f"airlock-{env_name}-{tenant_id}-landing"


def _queue_policy(queue_arn: str, bucket: str) -> str:
    """Least privilege, as in Terraform: only S3, only SendMessage, only from our landing bucket."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "LandingBucketNotifies",
                    "Effect": "Allow",
                    "Principal": {"Service": "s3.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}},
                }
            ],
        }
    )


def wire_landing_zone(
    endpoint_url: str, env_name: str, tenant_ids: Iterable[str], *, region: str = REGION
) -> dict[str, str]:
    """Create buckets, per-tenant queues with DLQs and policies, and the landing bucket's notification.

    Idempotent (create calls on existing resources are no-ops in moto), so it can re-run against a
    live endpoint after adding a tenant. Returns the environment that points airlock and Airflow at
    the endpoint: AIRLOCK_* roots and queue template, AWS credentials, AIRFLOW_CONN_AWS_DEFAULT.
    """
    tenants = sorted(set(tenant_ids))
    s3 = client("s3", endpoint_url, region)
    sqs = client("sqs", endpoint_url, region)
    buckets = bucket_names(env_name)
    for bucket in buckets.values():
        s3.create_bucket(Bucket=bucket)
    landing = buckets["landing"]

    queue_configs = []
    queue_urls: dict[str, str] = {}
    for tenant in tenants:
        name = queue_name(env_name, tenant)
        dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sqs.set_queue_attributes(
            QueueUrl=url,
            Attributes={
                "Policy": _queue_policy(arn, landing),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
                ),
            },
        )
        queue_urls[tenant] = url
        queue_configs.append(
            {
                "Id": f"{tenant}-landing",
                "QueueArn": arn,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": f"{tenant}/"}]}},
            }
        )
    # One notification configuration per bucket (a second put replaces the first): all tenants at once.
    s3.put_bucket_notification_configuration(
        Bucket=landing, NotificationConfiguration={"QueueConfigurations": queue_configs}
    )
    return aws_env(endpoint_url, env_name, queue_urls, region=region)


def queue_url_template(queue_urls: dict[str, str], env_name: str) -> str:
    """`{tenant}` template from real queue URLs (as the endpoint returns them: host, port, account)."""
    if not queue_urls:
        return ""
    tenant, url = next(iter(queue_urls.items()))
    template = url.replace(queue_name(env_name, tenant), queue_name(env_name, "{tenant}"))
    for tenant, url in queue_urls.items():
        if template.format(tenant=tenant) != url:
            raise ProcessError(f"queue URL {url} does not follow the template {template}")
    return template


def aws_env(endpoint_url: str, env_name: str, queue_urls: dict[str, str], *, region: str = REGION) -> dict[str, str]:
    """The environment for the local endpoint: AIRLOCK_* settings, AWS credentials, Airflow connection.

    AIRFLOW_CONN_AWS_DEFAULT carries endpoint_url and region_name in its extra: the SQS watcher
    (aiobotocore) and S3 hooks read them from there; the watcher is given the queue URL as moto
    returns it, which `MessageQueueTrigger(scheme="sqs", sqs_queue=...)` accepts (only the
    deprecated `queue=` form insists on an amazonaws.com URL).
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
    }
    if template := queue_url_template(queue_urls, env_name):
        env["AIRLOCK_QUEUE_URL_TEMPLATE"] = template
    return env
