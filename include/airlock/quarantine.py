"""Move a file that breaks its contract to quarantine/<tenant>/<reason>/..., with its reason beside it.

Order matters for "nothing is lost": copy the file, write the reason, and only then delete it
from the landing zone. A crash in between leaves a copy in both places, never in neither, and a
repeat is harmless (the same keys are written again).
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from urllib.parse import quote

from airlock.errors import StorageError
from airlock.landing import Reason, Rejection
from airlock.metrics import metrics
from airlock.storage import Storage

log = logging.getLogger(__name__)

UNKNOWN_TENANT_FOLDER = "_unknown"
REASON_SUFFIX = ".reason.json"


MAX_FLAT_NAME = 200
"""Bytes of a flattened name: one path segment on a disk (255 at most), and room under S3's 1,024."""


def flatten(key: str) -> str:
    """One safe file name for any key: percent-encoded, never '.', '..' or hidden, never too long.

    A name that would be too long keeps its start and gets a hash of the whole key; the original
    key is always in the `.reason.json` beside it.
    """
    # surrogateescape: a folder landing zone may hold file names that are not UTF-8
    raw = key.encode("utf-8", "surrogateescape")
    flat = quote(raw, safe="")
    if flat.startswith("."):  # '.', '..', or a hidden (or airlock temp) file name
        flat = "%2E" + flat[1:]
    if flat.endswith(REASON_SUFFIX):  # only reason files end in .reason.json
        flat = flat.removesuffix(REASON_SUFFIX) + "%2E" + REASON_SUFFIX[1:]
    if len(flat) > MAX_FLAT_NAME:
        head = flat[: MAX_FLAT_NAME - 24]
        head = head[: head.rfind("%")] if "%" in head[-2:] else head  # never cut an escape in two
        flat = f"{head}~{hashlib.sha256(raw).hexdigest()[:16]}"
    return flat


def quarantine_key(rejection: Rejection) -> str:
    """Where a rejected file goes: `<tenant or _unknown>/<reason>/<original key>`.

    Only a file of a batch keeps its path (`acme/wrong_columns/acme/orders/20261120/orders.csv`):
    its depth is fixed by the contract, so two such paths never need a file and a folder at the
    same place. Every other key (unsafe, no tenant, no batch) is flattened into one percent-encoded
    name, which holds a '%2F' and so can never be a tenant's folder: on a folder quarantine root,
    `acme/orders` and later `acme/orders/x` both fit. A key ending in `.reason.json` is flattened
    too, so that it cannot overwrite another file's reason.
    """
    tenant = rejection.tenant_id or UNKNOWN_TENANT_FOLDER
    structured = (
        rejection.batch_id is not None
        and rejection.reason is not Reason.UNSAFE_KEY
        and not rejection.key.endswith(REASON_SUFFIX)
    )
    original = rejection.key if structured else flatten(rejection.key)
    return f"{tenant}/{rejection.reason.value}/{original}"


def quarantine(rejection: Rejection, landing: Storage, store: Storage) -> str:
    """Move one rejected file out of the landing zone; return its quarantine key."""
    dest = quarantine_key(rejection)
    record = {
        "reason": rejection.reason.value,
        "detail": rejection.detail,
        "original_key": rejection.key,
        "tenant_id": rejection.tenant_id,
        "dataflow": rejection.dataflow,
        "batch_id": rejection.batch_id,
        "size": rejection.info.size,
        "landed_at": rejection.info.last_modified.isoformat(),
        "quarantined_at": datetime.now(UTC).isoformat(),
    }
    try:
        store.copy_from(landing, rejection.key, dest)
    except StorageError:
        if landing.head(rejection.key) is not None:
            raise
        log.info("%s was already moved to quarantine (%s) by a concurrent run", rejection.key, dest)
        return dest
    store.write_bytes(f"{dest}{REASON_SUFFIX}", json.dumps(record, indent=2).encode())
    # Only the version that was judged: a file re-uploaded meanwhile stays, to be judged itself.
    landing.delete(rejection.key, if_etag=rejection.info.etag)
    tenant_metrics = metrics.for_tenant(rejection.tenant_id or UNKNOWN_TENANT_FOLDER, rejection.dataflow or "unknown")
    tenant_metrics.file_quarantined(rejection.reason.value)
    log.warning(
        "quarantined %r -> %s: %s (%s). Tell the tenant; a corrected upload will complete the batch.",
        rejection.key,
        dest,
        rejection.reason.value,
        rejection.detail,
    )
    return dest
