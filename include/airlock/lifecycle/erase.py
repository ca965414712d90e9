"""Erase a tenant on request: crypto-shredding, the warehouse, and an audit record of what, when and by whom.

A tenant's snapshots are written with its own KMS key (`AIRLOCK_TENANT_KEY_TEMPLATE`, SSE-KMS), and the raw
bucket's Object Lock keeps every version for years: deleting them is neither possible nor needed. Erasure
disables the tenant's key and schedules its deletion (7-30 days, AWS's window): from that moment S3 can no
longer decrypt a single snapshot object of the tenant (GetObject fails with KMS.DisabledException /
KMSInvalidStateException), and when the window ends the key and with it the data are gone for good. The
rest of the tenant's data is deleted outright: its warehouse schemas and role, its landing and quarantine
objects. Nothing is erased until every snapshot data object is checked to be under the tenant's key; one that
is not (written before per-tenant keys, or by hand) stops the erasure and is named.

The audit record goes to the raw root, `_airlock/audit/erasure/<tenant>-<time>.json`, written create-only
(the bucket's lock keeps it), and is printed; CloudTrail has the KMS calls themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from airlock.errors import AirlockError
from airlock.snapshot import DONE_MARKER, EMITTED_MARKER, MANIFEST, RUN_MARKER, SNAPSHOT_MARKER
from airlock.storage import LocalStorage, S3Storage, Storage, write_json
from airlock.transform.state import STATE_MARKER

AUDIT_PREFIX = "_airlock/audit/erasure/"
_MARKERS = {SNAPSHOT_MARKER, RUN_MARKER, DONE_MARKER, EMITTED_MARKER, MANIFEST, "_REPROCESS.json", STATE_MARKER}
Progress = Callable[[str], None]


class ErasureError(AirlockError):
    """Erasure stopped before erasing anything (or after a step it names); the message says what to do."""


@dataclass
class Inventory:
    """The tenant's objects in the raw root: data under its key, data not under it, and markers."""

    shredded: list[str] = field(default_factory=list)
    unshredded: list[tuple[str, str | None]] = field(default_factory=list)
    markers: int = 0
    bytes: int = 0


def is_marker(key: str) -> bool:
    """Markers and attempt records hold names, hashes and counts, not the tenant's rows (control files are data)."""
    parts = key.split("/")
    return parts[-1] in _MARKERS or "_runs" in parts


def key_arn(kms: Any, key_id: str) -> dict[str, Any]:
    """DescribeKey of the tenant's key (an alias resolves to the key): Arn, KeyId, KeyState, DeletionDate."""
    try:
        return kms.describe_key(KeyId=key_id)["KeyMetadata"]
    except Exception as exc:  # botocore's NotFoundException and friends: say which key, and stop
        raise ErasureError(f"cannot find the tenant's KMS key {key_id}: {exc}") from None


def inventory(raw: Storage, tenant_id: str, key: dict[str, Any] | None, kms: Any = None) -> Inventory:
    """Every object under `<tenant>/` in the raw root; with S3 and a key, which data objects it encrypts.

    One HEAD per data object: S3 names the key that encrypts it (an alias resolves through KMS, once each).
    """
    found = Inventory()
    resolved: dict[str, str | None] = {}

    def key_of(used: str | None) -> str | None:
        if used is None or kms is None:
            return used
        if used not in resolved:
            try:
                resolved[used] = kms.describe_key(KeyId=used)["KeyMetadata"]["KeyId"]
            except Exception:  # a key that is gone or foreign: it is not the tenant's
                resolved[used] = used
        return resolved[used]

    for info in raw.list(f"{tenant_id}/"):
        found.bytes += info.size
        if is_marker(info.key):
            found.markers += 1
            continue
        if key is None or not isinstance(raw, S3Storage):
            found.shredded.append(info.key)
            continue
        used = raw.client.head_object(Bucket=raw.bucket, Key=raw._full(info.key)).get("SSEKMSKeyId")
        if used in (key["Arn"], key["KeyId"]) or key_of(used) == key["KeyId"]:
            found.shredded.append(info.key)
        else:
            found.unshredded.append((info.key, used))
    return found


def delete_prefix(store: Storage, prefix: str) -> int:
    """Delete every object under `prefix` (landing and quarantine hold no lock); return how many."""
    return sum(1 for info in list(store.list(prefix)) if store.delete(info.key))


def shred(kms: Any, key: dict[str, Any], pending_days: int) -> dict[str, Any]:
    """Disable the key now (no decrypt from this moment), and schedule its deletion."""
    kms.disable_key(KeyId=key["KeyId"])
    scheduled = kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=pending_days)
    after = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    deletion = scheduled.get("DeletionDate") or after.get("DeletionDate")
    return {
        "key_arn": key["Arn"],
        "state": after.get("KeyState"),
        "deletion_date": deletion.isoformat() if isinstance(deletion, datetime) else deletion,
        "pending_window_days": pending_days,
    }


def caller(sts: Any | None) -> str | None:
    """Who AWS says is acting (the ARN of the credentials used), for the audit record."""
    if sts is None:
        return None
    try:
        return sts.get_caller_identity().get("Arn")
    except Exception:  # an endpoint without STS: the operator's name still is recorded
        return None


def write_audit(raw: Storage, tenant_id: str, record: dict[str, Any]) -> str:
    """The audit record, create-only under `_airlock/audit/erasure/`; returns its key."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    key = f"{AUDIT_PREFIX}{tenant_id}-{stamp}.json"
    if not write_json(raw, key, record, if_absent=True):
        raise ErasureError(f"{key} exists: run the erasure again for a new record")
    return key


def local_erase(raw: LocalStorage, tenant_id: str) -> int:
    """A folder raw root has no KMS: the tenant's snapshot files are deleted (the embedded default only)."""
    return delete_prefix(raw, f"{tenant_id}/")
