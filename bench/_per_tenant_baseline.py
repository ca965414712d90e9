"""Today's one-queue-per-tenant design, rebuilt for benchmarks (event_scale, event_latency) to compare against.

Not part of the kit: `per_tenant_wiring` creates a queue (+ DLQ) per tenant and one S3 queue
configuration per prefix on the local endpoint (as airlock.devstack.local_aws did before ADR 0010);
`baseline_dags` copies dags/ and points the router at bench/_per_tenant_landing.py (one stock
MessageQueueTrigger per tenant).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from airlock.devstack.local_aws import MAX_RECEIVE_COUNT, bucket_names, client, queue_name

ROOT = Path(__file__).resolve().parents[1]


def per_tenant_wiring(env_name: str, tenants: list[str]) -> Any:
    """Today's wiring, for the baseline: a queue (+ DLQ) per tenant, one S3 queue configuration per prefix."""

    def provision(endpoint: str) -> dict[str, str]:
        s3, sqs = client("s3", endpoint), client("sqs", endpoint)
        buckets = bucket_names(env_name)
        for bucket in buckets.values():
            s3.create_bucket(Bucket=bucket)
        configs, url = [], ""
        for tenant in tenants:
            name = queue_name(env_name, tenant)
            dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
            dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": json.dumps(redrive)})
            configs.append(
                {
                    "Id": f"{tenant}-landing",
                    "QueueArn": arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": f"{tenant}/"}]}},
                }
            )
        s3.put_bucket_notification_configuration(
            Bucket=buckets["landing"], NotificationConfiguration={"QueueConfigurations": configs}
        )
        template = url.replace(queue_name(env_name, tenants[-1]), queue_name(env_name, "{tenant}"))
        return {"AIRLOCK_BASELINE_QUEUE_URL_TEMPLATE": template}

    return provision


def baseline_dags(folder: Path) -> Path:
    """A copy of dags/ whose router watches one queue per tenant (bench/_per_tenant_landing.py)."""
    dags = folder / "baseline_dags"
    shutil.copytree(ROOT / "dags", dags, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "bench" / "_per_tenant_landing.py", dags / "per_tenant_landing.py")
    router = dags / "airlock_router.py"
    text = router.read_text()
    old = "from airlock.assets import landing_asset, snapshot_asset"
    if old not in text:
        raise RuntimeError(f"{router}: the router no longer imports `{old}`; update bench/event_scale.py")
    new = "from airlock.assets import snapshot_asset\nfrom per_tenant_landing import landing_asset"
    router.write_text(text.replace(old, new))
    return dags
