"""Structured logs: tenant, dataflow and batch as fields on every line, JSON lines on disk.

Inside an Airflow 3 task, `batch_context()` binds structlog context variables; Airflow's task
log pipeline merges them into each record (structlog.contextvars.merge_contextvars) so the task
log's JSON lines carry `tenant_id`, `dataflow` and `batch_id` for the Datadog agent or Forwarder
to facet on. Outside Airflow (the `airlock` CLI, the local stack), `JsonLinesFormatter` writes
the same fields with Datadog's reserved attribute names.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

BATCH_FIELDS = ("tenant_id", "dataflow", "batch_id", "snapshot_ts", "run_id")
_RECORD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


@contextmanager
def batch_context(tenant_id: str, dataflow: str, batch_id: str | None = None, **extra: Any) -> Iterator[None]:
    """Tag every log line written inside the block with the batch it is about."""
    fields = {"tenant_id": tenant_id, "dataflow": dataflow, **({"batch_id": batch_id} if batch_id else {}), **extra}
    tokens = structlog.contextvars.bind_contextvars(**fields)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line, with Datadog's names: `status`, `message`, `logger.name`, `service`."""

    def __init__(self, service: str = "airlock", env: str | None = None) -> None:
        super().__init__()
        self.service, self.env = service, env

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "status": record.levelname.lower(),
            "message": record.getMessage(),
            "logger": {"name": record.name},
            "service": self.service,
        }
        if self.env:
            data["env"] = self.env
        data.update(structlog.contextvars.get_contextvars())
        data.update({k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS and not k.startswith("_")})
        if record.exc_info:
            data["error"] = {"kind": record.exc_info[0].__name__ if record.exc_info[0] else None,
                             "stack": self.formatException(record.exc_info)}  # fmt: skip
        return json.dumps(data, default=str)


def configure_json_logging(
    path: Path | None = None, level: int = logging.INFO, env: str | None = None
) -> logging.Handler:
    """Send the `airlock` loggers to JSON lines (a file, or stderr); return the handler added."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    handler: logging.Handler = logging.FileHandler(path, encoding="utf-8") if path else logging.StreamHandler()
    handler.setFormatter(JsonLinesFormatter(env=env))
    logger = logging.getLogger("airlock")
    logger.addHandler(handler)
    logger.setLevel(level)
    return handler
