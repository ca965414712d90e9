"""Move a file that breaks its contract to quarantine/<tenant>/<reason>/..., with its reason beside it.

Order matters for "nothing is lost": copy the file, write the reason, and only then delete it
from the landing zone. A crash in between leaves a copy in both places, never in neither, and a
repeat is harmless (the same keys are written again).
"""

from __future__ import annotations

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


def quarantine_key(rejection: Rejection) -> str:
    """Where a rejected file goes. Unsafe keys are flattened into one percent-encoded name."""
    tenant = rejection.tenant_id or UNKNOWN_TENANT_FOLDER
    if rejection.reason is Reason.UNSAFE_KEY or rejection.tenant_id is None:
        original = quote(rejection.key, safe="")
    else:
        original = rejection.key
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
    store.write_bytes(f"{dest}.reason.json", json.dumps(record, indent=2).encode())
    landing.delete(rejection.key)
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
