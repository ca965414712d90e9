"""AWS clients, always through the Airflow AWS connection.

One way to reach AWS everywhere (tasks, triggers, CLI): the connection named by
AIRLOCK_AWS_CONN_ID. On MWAA and Astro it resolves to the execution role / workload identity;
locally AIRFLOW_CONN_AWS_DEFAULT carries the local endpoint in its extra. Without a connection
the hook falls back to boto3's default credential chain.
"""

from __future__ import annotations

import os
import threading
from typing import Any

_clients: dict[tuple[str, str, str | None], Any] = {}
_lock = threading.Lock()


def client(service: str, conn_id: str | None = None) -> Any:
    """A boto3 client for `service`, one per process and connection.

    Why cached: each new client costs a connection lookup, a boto3 session and its service model
    (0.1-0.25 s), and the router's task used to build three (landing, raw, quarantine) on the path
    from upload to processing run. boto3 clients are thread-safe, and a role's credentials refresh
    inside the client. Keyed by the connection's environment value too: a process whose connection
    changes (a test's new endpoint) gets a new client.
    """
    conn_id = conn_id or os.environ.get("AIRLOCK_AWS_CONN_ID", "aws_default")
    key = (service, conn_id, os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}"))
    with _lock:
        if key not in _clients:
            from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

            _clients[key] = AwsBaseHook(aws_conn_id=conn_id, client_type=service).get_conn()
        return _clients[key]
