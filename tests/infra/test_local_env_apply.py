"""Apply envs/local to a moto server, prove isolation and encryption, re-plan, destroy.

Enforcement is checked two ways, each where it is real:
- moto's IAM enforcement (identity policies, resource ARNs) for "acme's upload role cannot read or
  write globex's prefix" with credentials of the assumed role;
- a real IAM evaluator (@cloud-copilot/iam-simulate) for the conditions moto ignores
  (aws:SecureTransport, the SSE-KMS header and key id, s3:prefix): on the role policies read back
  from the endpoint and on the bucket policy documents Terraform renders for prod.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from airlock.infra import TerraformRunner, apply_local, local_runner
from airlock.isolation import load_isolation_config
from airlock.settings import load_settings, project_home
from airlock.tenants import load_registry

from .conftest import BackgroundChecks, PolicySimulator

pytestmark = [pytest.mark.infra, pytest.mark.timeout(900)]

ACCOUNT = "123456789012"
A, B = "acme", "globex"


@dataclass
class Stack:
    endpoint: str
    env: dict[str, str]
    outputs: dict[str, Any]
    runner: TerraformRunner
    apply_seconds: float

    def client(self, service: str, **creds: str) -> Any:
        conn = json.loads(self.env["AIRFLOW_CONN_AWS_DEFAULT"])
        return boto3.client(
            service,
            endpoint_url=conn["extra"]["endpoint_url"],
            region_name=conn["extra"]["region_name"],
            aws_access_key_id=creds.get("key", conn["login"]),
            aws_secret_access_key=creds.get("secret", conn["password"]),
            aws_session_token=creds.get("token"),
        )

    @property
    def kit(self) -> dict[str, Any]:
        return self.outputs["airlock"]["value"]


@pytest.fixture(scope="module")
def stack(
    terraform_checks: BackgroundChecks, moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """envs/local applied through airlock.infra.apply_local; destroyed afterwards if a test did not.

    Depends on terraform_checks only to start the static checks first (they overlap with this apply).
    """
    work = tmp_path_factory.mktemp("tf-local")
    started = time.monotonic()
    env = apply_local(moto_endpoint, work_dir=work)
    seconds = time.monotonic() - started
    print(f"\napply of envs/local: {seconds:.0f}s")
    runner = local_runner(moto_endpoint, work_dir=work)
    result = Stack(moto_endpoint, env, runner.output(), runner, seconds)
    yield result
    if runner.state_list():
        runner.destroy()


def test_apply_stays_under_five_minutes(stack: Stack) -> None:
    assert stack.apply_seconds < 300, f"apply took {stack.apply_seconds:.0f}s"


def test_dag_settings_come_from_real_outputs(stack: Stack) -> None:
    settings = load_settings({**stack.env, "AIRLOCK_HOME": str(project_home())})
    registry = load_registry(settings.tenants_dir, settings.dataflows_dir)
    assert (settings.landing_url, settings.raw_url, settings.quarantine_url) == (
        "s3://airlock-local-landing",
        "s3://airlock-local-raw",
        "s3://airlock-local-quarantine",
    )
    s3, sqs = stack.client("s3"), stack.client("sqs")
    for url in (settings.landing_url, settings.raw_url, settings.quarantine_url):
        s3.head_bucket(Bucket=url.removeprefix("s3://"))
    # Every queue the router watches, as the DAGs compute it, is a real queue on the endpoint: the
    # shared one, and one per dedicated tenant of the registry.
    assert set(stack.kit["tenants"]) == set(registry.tenants)
    dedicated = sorted(t.tenant_id for t in registry.tenants.values() if t.isolation_tier == "dedicated")
    assert dedicated and list(settings.dedicated_tenants) == dedicated
    assert list(settings.watched_queues()) == ["sqs_shared", *(f"sqs_{t}" for t in dedicated)]
    for tenant_id in registry.tenants:
        url = settings.queue_url(tenant_id)
        assert url is not None
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        expected = stack.kit["tenants"][tenant_id]["queue_arn"] if tenant_id in dedicated else None
        assert arn.endswith(f":airlock-local-{tenant_id}-landing" if expected else ":airlock-local-shared-landing")
        assert expected in (None, arn)


def test_the_shared_rule_is_the_pattern_the_local_wiring_uses(stack: Stack) -> None:
    """Terraform and airlock.devstack.local_aws route with the same EventBridge patterns."""
    from airlock.triggers.routing import dedicated_pattern, shared_pattern

    events = stack.client("events")
    dedicated = stack.kit["dedicated_tenants"]
    rule = events.describe_rule(Name="airlock-local-landing-shared")
    assert json.loads(rule["EventPattern"]) == shared_pattern("airlock-local-landing", dedicated)
    for tenant_id in dedicated:
        rule = events.describe_rule(Name=f"airlock-local-landing-{tenant_id}")
        assert json.loads(rule["EventPattern"]) == dedicated_pattern("airlock-local-landing", tenant_id)


def test_ecs_settings_point_at_real_resources(stack: Stack) -> None:
    env, ecs, iam, ec2 = stack.env, stack.client("ecs"), stack.client("iam"), stack.client("ec2")
    cluster = ecs.describe_clusters(clusters=[env["AIRLOCK_ECS_CLUSTER"]])["clusters"][0]
    assert cluster["status"] == "ACTIVE"
    taskdef = ecs.describe_task_definition(taskDefinition=env["AIRLOCK_ECS_TASK_DEFINITION"])["taskDefinition"]
    container = taskdef["containerDefinitions"][0]
    assert container["name"] == env["AIRLOCK_ECS_CONTAINER"]
    assert container["logConfiguration"]["options"]["awslogs-group"] == env["AIRLOCK_ECS_LOG_GROUP"]
    subnets = env["AIRLOCK_ECS_SUBNETS"].split(",")
    assert len(ec2.describe_subnets(SubnetIds=subnets)["Subnets"]) == len(subnets)
    ec2.describe_security_groups(GroupIds=env["AIRLOCK_ECS_SECURITY_GROUPS"].split(","))
    settings = load_settings({**env, "AIRLOCK_HOME": str(project_home()), "AIRLOCK_EXECUTION_TARGET": "aws_ecs"})
    isolation = load_isolation_config(settings, {**env, "AIRLOCK_EXECUTION_TARGET": "aws_ecs"})
    assert (isolation.ecs_cluster, isolation.ecs_task_definition) == (cluster["clusterName"], taskdef["family"])
    assert (
        isolation.ecs_log_stream_prefix
        == f"{container['logConfiguration']['options']['awslogs-stream-prefix']}/{container['name']}"
    )
    for tenant_id in stack.kit["tenants"]:
        arn = env["AIRLOCK_ECS_TASK_ROLE_ARN_TEMPLATE"].format(tenant=tenant_id)
        assert iam.get_role(RoleName=arn.rsplit("/", 1)[1])["Role"]["Arn"] == arn


def _drain(sqs: Any, url: str) -> list[str]:
    """Object keys of the "Object Created" events on a queue (deleted once read)."""
    keys: list[str] = []
    for _ in range(3):
        for msg in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            body = json.loads(msg["Body"])
            if body.get("detail-type") == "Object Created":
                keys.append(body["detail"]["object"]["key"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    return keys


def test_uploads_are_encrypted_with_their_tenant_key_and_reach_their_tiers_queue(stack: Stack) -> None:
    s3, sqs = stack.client("s3"), stack.client("sqs")
    tenants = stack.kit["tenants"]
    settings = load_settings({**stack.env, "AIRLOCK_HOME": str(project_home())})
    queues = settings.watched_queues()
    for url in queues.values():
        _drain(sqs, url)
    assert B in settings.dedicated_tenants and A not in settings.dedicated_tenants
    bucket = "airlock-local-landing"
    uploads = {A: f"{A}/orders/20260101/orders.csv", B: f"{B}/orders/20260101/orders.csv"}
    for tenant_id, key in uploads.items():
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=b"order_id,customer_id,ordered_at,amount\n1,c1,2026-01-01,9.50\n",
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=tenants[tenant_id]["kms_key_arn"],
        )
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == tenants[tenant_id]["kms_key_arn"]
    notified = {name: _drain(sqs, url) for name, url in queues.items()}
    # The standard tenant's upload on the shared queue only; the dedicated tenant's on its own only.
    assert notified == {"sqs_shared": [uploads[A]], f"sqs_{B}": [uploads[B]]}


def _reset_auth(endpoint: str, count: str) -> None:
    """moto's switch for IAM enforcement: "0" enforces from the next request, "inf" turns it off."""
    # text/plain: with urllib's default form content type, moto's Flask app would see an empty body.
    req = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth", data=count.encode(), method="POST", headers={"Content-Type": "text/plain"}
    )
    urllib.request.urlopen(req, timeout=10).close()


def test_upload_role_cannot_write_or_read_another_tenant_prefix(stack: Stack) -> None:
    s3, sts = stack.client("s3"), stack.client("sts")
    tenants = stack.kit["tenants"]
    bucket, other_key = "airlock-local-landing", f"{B}/orders/20260101/orders.jsonl"
    s3.put_object(
        Bucket=bucket,
        Key=other_key,
        Body=b"{}\n",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=tenants[B]["kms_key_arn"],
    )
    creds = sts.assume_role(RoleArn=tenants[A]["upload_role_arn"], RoleSessionName="acme-uploader")["Credentials"]
    as_acme = stack.client("s3", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=creds["SessionToken"])
    _reset_auth(stack.endpoint, "0")
    try:
        as_acme.put_object(
            Bucket=bucket,
            Key=f"{A}/orders/20260102/orders.csv",
            Body=b"x\n",
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=tenants[A]["kms_key_arn"],
        )  # control: its own prefix is writable
        with pytest.raises(ClientError, match="AccessDenied"):
            as_acme.put_object(
                Bucket=bucket,
                Key=f"{B}/orders/20260102/orders.jsonl",
                Body=b"x\n",
                ServerSideEncryption="aws:kms",
                SSEKMSKeyId=tenants[A]["kms_key_arn"],
            )
        with pytest.raises(ClientError, match="AccessDenied"):
            as_acme.get_object(Bucket=bucket, Key=other_key)
    finally:
        _reset_auth(stack.endpoint, "inf")


def _policy(stack: Stack) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The landing bucket policy, acme's upload and processing role policies, and raw's policy.

    Role policies are read back from the endpoint (applied). Bucket policies come from the env's
    bucket_policies output: the exact documents prod attaches, left unattached on moto because it
    applies Deny statements without their conditions (see envs/local/main.tf).
    """
    iam = stack.client("iam")
    documents = stack.outputs["bucket_policies"]["value"]
    landing = json.loads(documents["landing"])
    upload = iam.get_role_policy(RoleName=f"airlock-local-{A}-upload", PolicyName="write-own-prefix")["PolicyDocument"]
    processing = iam.get_role_policy(RoleName=f"airlock-local-{A}-processing", PolicyName="read-own-snapshots")
    return landing, upload, {"processing": processing["PolicyDocument"], "raw": json.loads(documents["raw"])}


def _request(principal: str, action: str, resource: str, **context: str | list[str]) -> dict[str, Any]:
    return {
        "principal": principal,
        "action": action,
        "resource": {"resource": resource, "accountId": ACCOUNT},
        "contextVariables": context,
    }


def test_applied_policies_refuse_plain_http_unencrypted_and_foreign_puts(
    stack: Stack, policy_simulator: PolicySimulator
) -> None:
    landing, upload, other = _policy(stack)
    keys = {t: v["kms_key_arn"] for t, v in stack.kit["tenants"].items()}
    role = stack.kit["tenants"][A]["upload_role_arn"]
    obj = f"arn:aws:s3:::airlock-local-landing/{A}/orders/1/orders.csv"
    kms = {"s3:x-amz-server-side-encryption": "aws:kms", "s3:x-amz-server-side-encryption-aws-kms-key-id": keys[A]}

    def put(resource: str = obj, **ctx: str) -> dict[str, Any]:
        return {
            "request": _request(role, "s3:PutObject", resource, **ctx),
            "identityPolicies": [{"name": "write-own-prefix", "policy": upload}],
            "resourcePolicy": landing,
        }

    cases = {
        "own prefix, TLS, own key": (put(**{"aws:SecureTransport": "true", **kms}), "Allowed"),
        "plain HTTP": (put(**{"aws:SecureTransport": "false", **kms}), "ExplicitlyDenied"),
        "no encryption header": (put(**{"aws:SecureTransport": "true"}), "ExplicitlyDenied"),
        "SSE-S3": (
            put(**{"aws:SecureTransport": "true", "s3:x-amz-server-side-encryption": "AES256"}),
            "ExplicitlyDenied",
        ),
        "another tenant's key": (
            put(
                **{
                    "aws:SecureTransport": "true",
                    "s3:x-amz-server-side-encryption": "aws:kms",
                    "s3:x-amz-server-side-encryption-aws-kms-key-id": keys[B],
                }
            ),
            "ExplicitlyDenied",
        ),
        "another tenant's prefix": (
            put(
                f"arn:aws:s3:::airlock-local-landing/{B}/orders/1/orders.jsonl",
                **{
                    "aws:SecureTransport": "true",
                    "s3:x-amz-server-side-encryption": "aws:kms",
                    "s3:x-amz-server-side-encryption-aws-kms-key-id": keys[B],
                },
            ),
            "ImplicitlyDenied",
        ),
        "read another tenant's file": (
            {
                "request": _request(
                    role, "s3:GetObject", f"arn:aws:s3:::airlock-local-landing/{B}/x", **{"aws:SecureTransport": "true"}
                ),
                "identityPolicies": [{"name": "write-own-prefix", "policy": upload}],
                "resourcePolicy": landing,
            },
            "ImplicitlyDenied",
        ),
        "list another tenant's prefix": (
            {
                "request": _request(
                    role,
                    "s3:ListBucket",
                    "arn:aws:s3:::airlock-local-landing",
                    **{"aws:SecureTransport": "true", "s3:prefix": f"{B}/"},
                ),
                "identityPolicies": [{"name": "write-own-prefix", "policy": upload}],
                "resourcePolicy": landing,
            },
            "ImplicitlyDenied",
        ),
        "list own prefix": (
            {
                "request": _request(
                    role,
                    "s3:ListBucket",
                    "arn:aws:s3:::airlock-local-landing",
                    **{"aws:SecureTransport": "true", "s3:prefix": f"{A}/"},
                ),
                "identityPolicies": [{"name": "write-own-prefix", "policy": upload}],
                "resourcePolicy": landing,
            },
            "Allowed",
        ),
        "processing reads own snapshot": (
            {
                "request": _request(
                    stack.kit["tenants"][A]["processing_role_arn"],
                    "s3:GetObject",
                    f"arn:aws:s3:::airlock-local-raw/{A}/orders/1/20260101T000000000000Z/orders.csv",
                    **{"aws:SecureTransport": "true"},
                ),
                "identityPolicies": [{"name": "read-own-snapshots", "policy": other["processing"]}],
                "resourcePolicy": other["raw"],
            },
            "Allowed",
        ),
        "processing reads another tenant's snapshot": (
            {
                "request": _request(
                    stack.kit["tenants"][A]["processing_role_arn"],
                    "s3:GetObject",
                    f"arn:aws:s3:::airlock-local-raw/{B}/orders/1/20260101T000000000000Z/orders.csv",
                    **{"aws:SecureTransport": "true"},
                ),
                "identityPolicies": [{"name": "read-own-snapshots", "policy": other["processing"]}],
                "resourcePolicy": other["raw"],
            },
            "ImplicitlyDenied",
        ),
    }
    # Snapshot writes into raw (the Airflow workers): each tenant's files under its own key, named by the
    # alias ARN of AIRLOCK_TENANT_KEY_TEMPLATE; markers without a header (the bucket's storage key).
    writer = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]}
    template = stack.env["AIRLOCK_TENANT_KEY_TEMPLATE"]

    def snapshot(tenant: str, key: str | None, name: str = "orders.csv") -> dict[str, Any]:
        ctx: dict[str, str] = {"aws:SecureTransport": "true"}
        if key is not None:
            ctx.update(
                {"s3:x-amz-server-side-encryption": "aws:kms", "s3:x-amz-server-side-encryption-aws-kms-key-id": key}
            )
        resource = f"arn:aws:s3:::airlock-local-raw/{tenant}/orders/1/20260101T000000000000Z/{name}"
        return {
            "request": _request(role, "s3:PutObject", resource, **ctx),
            "identityPolicies": [{"name": "airflow-writer", "policy": writer}],
            "resourcePolicy": other["raw"],
        }

    cases.update(
        {
            "snapshot under its tenant's key (alias)": (snapshot(A, template.format(tenant=A)), "Allowed"),
            "snapshot under its tenant's key (ARN)": (snapshot(A, keys[A]), "Allowed"),
            "snapshot under another tenant's key": (snapshot(A, template.format(tenant=B)), "ExplicitlyDenied"),
            "a marker under the bucket key": (snapshot(A, None, "_RUN.json"), "Allowed"),
        }
    )
    results = policy_simulator.evaluate([sim for sim, _ in cases.values()])
    got = dict(zip(cases, results, strict=True))
    assert got == {name: expected for name, (_, expected) in cases.items()}


def test_second_plan_has_nothing_to_do(stack: Stack) -> None:
    assert stack.runner.plan(detailed=True) is False, "re-applying envs/local would change something"


def test_destroy_leaves_nothing_behind(stack: Stack) -> None:
    started = time.monotonic()
    stack.runner.destroy()
    print(f"\ndestroy of envs/local: {time.monotonic() - started:.0f}s")
    assert stack.runner.state_list() == []
    s3, sqs = stack.client("s3"), stack.client("sqs")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("airlock-local-")] == []
    assert sqs.list_queues(QueueNamePrefix="airlock-local-").get("QueueUrls", []) == []


def test_registry_is_the_only_tenant_source() -> None:
    """No tenant id is written in any .tf file: onboarding is a YAML file, not a .tf edit."""
    root = project_home() / "infra" / "terraform"
    ids = [p.stem for p in (project_home() / "dags" / "registry" / "tenants").glob("*.yaml")]
    for tf in root.rglob("*.tf"):
        text = tf.read_text(encoding="utf-8")
        assert not any(re.search(rf"\b{i}\b", text) for i in ids), f"{tf} names a tenant"
    # One for_each over the registry: its tenants, plus the offboarded ones that keep their key until erased.
    assert Path(root / "envs" / "local" / "main.tf").read_text().count("for_each = module.registry.keyed_tenants") == 1
