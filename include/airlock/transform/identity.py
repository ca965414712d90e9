"""The run's identity (tenant, batch, dataflow, schema) as dbt receives it, checked against the partition key.

The partition key (`<tenant>|<batch_id>`) is who a run is for; the claim task derives the dbt vars from
it. Checking them again just before dbt starts means a bug or a hand-edited XCom can never point dbt at
another tenant's schema, database or processing role.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from airlock.errors import AirlockError
from airlock.isolation import CLAIM_TASK_ID, RUN_KEYS

_SAFE_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class TenantMismatchError(AirlockError):
    """A dbt step was about to run with vars that are not the run's own tenant and batch."""


def check_run_vars(values: Mapping[str, Any], partition_key: str | None) -> dict[str, str]:
    """Return the four run vars if they are plain identifiers and match the partition key; raise otherwise."""
    missing = [key for key in RUN_KEYS if not values.get(key) or values.get(key) == "None"]
    if missing:
        raise TenantMismatchError(f"dbt vars lack {missing}: the claim task's XCom must return {list(RUN_KEYS)}.")
    bad = {key: values[key] for key in RUN_KEYS if not _SAFE_VALUE.match(str(values[key]))}
    if bad:
        raise TenantMismatchError(f"dbt vars {bad} are not plain identifiers; refusing to run dbt with them.")
    if partition_key:
        tenant_id, _, batch_id = str(partition_key).partition("|")
        if (str(values["tenant_id"]), str(values["batch_id"])) != (tenant_id, batch_id):
            raise TenantMismatchError(
                f"dbt vars are for {values['tenant_id']}|{values['batch_id']} but this run is {partition_key}."
            )
    return {key: str(values[key]) for key in RUN_KEYS}


def partition_key_of(context: Mapping[str, Any]) -> str | None:
    dag_run = context.get("dag_run")
    return getattr(dag_run, "partition_key", None) if dag_run is not None else None


def run_identity(context: Mapping[str, Any], claim_task_id: str = CLAIM_TASK_ID) -> dict[str, Any]:
    """The claim task's XCom for this run, its four run vars checked (other keys, e.g. claimed_at, kept)."""
    claim = context["ti"].xcom_pull(task_ids=claim_task_id) or {}
    return {**claim, **check_run_vars(claim, partition_key_of(context))}
