"""Which landing events go to which queue: the EventBridge patterns of the standard and dedicated tiers.

Terraform (modules landing_zone and tenant) writes the same patterns with jsonencode, and the local
endpoint's wiring (airlock.devstack.local_aws) uses these; tests/infra compares the two.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def _object_created(bucket: str, key: list[Any] | None) -> dict[str, Any]:
    detail: dict[str, Any] = {"bucket": {"name": [bucket]}}
    if key is not None:
        detail["object"] = {"key": key}
    return {"source": ["aws.s3"], "detail-type": ["Object Created"], "detail": detail}


def shared_pattern(bucket: str, dedicated: Iterable[str]) -> dict[str, Any]:
    """Every upload to the landing bucket except under a dedicated tenant's prefix (those have their own queue)."""
    prefixes = sorted(f"{t}/" for t in dedicated)
    return _object_created(bucket, [{"anything-but": {"prefix": prefixes}}] if prefixes else None)


def dedicated_pattern(bucket: str, tenant_id: str) -> dict[str, Any]:
    """Uploads under one dedicated tenant's prefix."""
    return _object_created(bucket, [{"prefix": f"{tenant_id}/"}])
