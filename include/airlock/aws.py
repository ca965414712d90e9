"""AWS clients, always through the Airflow AWS connection.

One way to reach AWS everywhere (tasks, triggers, CLI): the connection named by
AIRLOCK_AWS_CONN_ID. On MWAA and Astro it resolves to the execution role / workload identity;
locally AIRFLOW_CONN_AWS_DEFAULT carries the local endpoint in its extra. Without a connection
the hook falls back to boto3's default credential chain.
"""

from __future__ import annotations

import os
from typing import Any


def client(service: str, conn_id: str | None = None) -> Any:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    conn_id = conn_id or os.environ.get("AIRLOCK_AWS_CONN_ID", "aws_default")
    return AwsBaseHook(aws_conn_id=conn_id, client_type=service).get_conn()
