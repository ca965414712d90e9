"""Defaults every kit DAG shares: ownership, tags, retries.

Retries matter locally too: a task that starts before the API server is ready can fail with
httpx.ReadTimeout (FIELD-NOTES), and every task here is idempotent, so a retry is always safe.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

TAGS = ["airlock"]


def default_args(retries: int = 2) -> dict[str, Any]:
    return {"owner": "airlock", "retries": retries, "retry_delay": timedelta(seconds=5)}
