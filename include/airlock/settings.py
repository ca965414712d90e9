"""Deployment settings, read from AIRLOCK_* environment variables.

The deployment target (local, Astro, MWAA) is chosen here, by the environment, never by editing a
DAG. Settings are read from the environment only (no Airflow Variables) so that DAG parsing never
touches the metadata database or the network.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal

from airlock.errors import ConfigError
from airlock.tenants import IDENTIFIER, parse_duration

# The tenant registry ships with the DAG files, so a new tenant is a DAG-only deploy on Astro and a dags/
# sync on MWAA, and Terraform reads the same files from the checkout (docs/adr/0006).
REGISTRY_DIR = "registry"
ExecutionTarget = Literal["local", "kubernetes", "aws_ecs"]
_TARGETS: tuple[ExecutionTarget, ...] = ("local", "kubernetes", "aws_ecs")


def project_home() -> Path:
    """The project root: AIRLOCK_HOME, else the folder that holds include/ (or dags/ on MWAA)."""
    if home := os.environ.get("AIRLOCK_HOME"):
        return Path(home)
    here = Path(__file__).resolve().parent  # .../include/airlock or .../dags/airlock (MWAA)
    return here.parent.parent


@dataclass(frozen=True)
class Settings:
    env: str
    home: Path
    tenants_dir: Path
    dataflows_dir: Path
    landing_url: str
    raw_url: str
    quarantine_url: str
    warehouse_dir: Path
    aws_conn_id: str = "aws_default"
    shared_queue_url: str | None = None
    queue_url_template: str | None = None
    dedicated_tenants: tuple[str, ...] = ()
    watcher_long_poll: int = 20
    watcher_visibility_timeout: int = 60
    reconcile_interval: timedelta = timedelta(seconds=30)
    snapshot_grace: timedelta = timedelta(minutes=5)
    settle_wait: timedelta = timedelta(seconds=30)
    unknown_prefix_sweep: timedelta = timedelta(minutes=5)
    emit_ttl: timedelta = timedelta(minutes=30)
    execution_target: ExecutionTarget = "local"
    processing_max_active_runs: int = 4
    statsd_address: str | None = None
    tenant_key_template: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def tenant_key(self, tenant_id: str) -> str | None:
        """The tenant's own KMS key (ARN or alias) for its snapshots: what erasure shreds (docs/contracts.md)."""
        return self.tenant_key_template.format(tenant=tenant_id) if self.tenant_key_template else None

    def queue_url(self, tenant_id: str) -> str | None:
        """The queue the tenant's landing notifications go to: its own if dedicated, else the shared one.

        None where the landing zone is a folder (no queues).
        """
        if tenant_id in self.dedicated_tenants and self.queue_url_template:
            return self.queue_url_template.format(tenant=tenant_id)
        return self.shared_queue_url

    def watched_queues(self) -> dict[str, str]:
        """Watcher name -> queue URL of every notification queue the router watches.

        `sqs_shared` for the queue the standard tier shares, `sqs_<tenant>` for each dedicated tenant.
        """
        queues = {"sqs_shared": self.shared_queue_url} if self.shared_queue_url else {}
        template = self.queue_url_template or ""
        return queues | {f"sqs_{t}": template.format(tenant=t) for t in self.dedicated_tenants}


def _path(environ: os._Environ[str] | dict[str, str], name: str, default: Path) -> Path:
    return Path(environ[name]) if environ.get(name) else default


def load_settings(environ: os._Environ[str] | dict[str, str] | None = None) -> Settings:
    """Build Settings from the environment; raise ConfigError naming the variable and the fix."""
    environ = os.environ if environ is None else environ
    home = project_home() if environ is os.environ else Path(environ.get("AIRLOCK_HOME") or project_home())
    var = _path(environ, "AIRLOCK_DATA_DIR", home / "var")
    target = environ.get("AIRLOCK_EXECUTION_TARGET", "local")
    if target not in _TARGETS:
        raise ConfigError(f"AIRLOCK_EXECUTION_TARGET={target!r}: use one of {', '.join(_TARGETS)}.")
    template, dedicated = _queue_settings(environ)
    key_template = environ.get("AIRLOCK_TENANT_KEY_TEMPLATE") or None
    if key_template and "{tenant}" not in key_template:
        raise ConfigError(
            "AIRLOCK_TENANT_KEY_TEMPLATE must contain '{tenant}', e.g. alias/airlock-prod-{tenant} "
            "(Terraform's kit settings output has it)"
        )
    try:
        return Settings(
            env=environ.get("AIRLOCK_ENV", "local"),
            home=home,
            tenants_dir=_path(environ, "AIRLOCK_TENANTS_DIR", home / "dags" / REGISTRY_DIR / "tenants"),
            dataflows_dir=_path(environ, "AIRLOCK_DATAFLOWS_DIR", home / "dags" / REGISTRY_DIR / "dataflows"),
            landing_url=environ.get("AIRLOCK_LANDING_URL") or str(var / "landing"),
            raw_url=environ.get("AIRLOCK_RAW_URL") or str(var / "raw"),
            quarantine_url=environ.get("AIRLOCK_QUARANTINE_URL") or str(var / "quarantine"),
            warehouse_dir=_path(environ, "AIRLOCK_WAREHOUSE_DIR", var / "warehouse"),
            aws_conn_id=environ.get("AIRLOCK_AWS_CONN_ID", "aws_default"),
            shared_queue_url=environ.get("AIRLOCK_SHARED_QUEUE_URL") or None,
            queue_url_template=template,
            dedicated_tenants=dedicated,
            watcher_long_poll=int(environ.get("AIRLOCK_WATCHER_LONG_POLL", "20")),
            watcher_visibility_timeout=int(environ.get("AIRLOCK_WATCHER_VISIBILITY_TIMEOUT", "60")),
            reconcile_interval=parse_duration(environ.get("AIRLOCK_RECONCILE_INTERVAL", "30s")),
            snapshot_grace=parse_duration(environ.get("AIRLOCK_SNAPSHOT_GRACE", "5m")),
            settle_wait=parse_duration(environ.get("AIRLOCK_SETTLE_WAIT", "30s")),
            unknown_prefix_sweep=parse_duration(environ.get("AIRLOCK_UNKNOWN_PREFIX_SWEEP", "5m")),
            emit_ttl=parse_duration(environ.get("AIRLOCK_EMIT_TTL", "30m")),
            execution_target=target,  # type: ignore[arg-type]
            processing_max_active_runs=int(environ.get("AIRLOCK_PROCESSING_MAX_ACTIVE_RUNS", "4")),
            statsd_address=environ.get("AIRLOCK_STATSD_ADDRESS") or None,
            tenant_key_template=key_template,
        )
    except ValueError as exc:
        raise ConfigError(f"invalid AIRLOCK_* setting: {exc}") from None


def _queue_settings(environ: os._Environ[str] | dict[str, str]) -> tuple[str | None, tuple[str, ...]]:
    """AIRLOCK_QUEUE_URL_TEMPLATE and AIRLOCK_DEDICATED_TENANTS: the dedicated tier's queues.

    Both come from the same `terraform apply` that creates the queues (output `airlock`), so the
    router watches exactly the queues that exist; standard tenants share AIRLOCK_SHARED_QUEUE_URL.
    """
    template = environ.get("AIRLOCK_QUEUE_URL_TEMPLATE") or None
    if template and "{tenant}" not in template:
        raise ConfigError(
            "AIRLOCK_QUEUE_URL_TEMPLATE must contain '{tenant}', e.g. "
            "https://sqs.eu-west-1.amazonaws.com/123456789012/airlock-prod-{tenant}-landing"
        )
    dedicated = tuple(sorted({t.strip() for t in environ.get("AIRLOCK_DEDICATED_TENANTS", "").split(",") if t.strip()}))
    if bad := [t for t in dedicated if not re.match(IDENTIFIER, t)]:
        raise ConfigError(f"AIRLOCK_DEDICATED_TENANTS: {bad} are not tenant ids (write: acme,globex)")
    if dedicated and not template:
        raise ConfigError(
            "AIRLOCK_DEDICATED_TENANTS needs AIRLOCK_QUEUE_URL_TEMPLATE (their queues' URLs with '{tenant}'): "
            "take both from `airlock infra output`."
        )
    return template, dedicated
