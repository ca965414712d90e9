"""Datadog monitors as code: static JSON files plus one freshness monitor per tenant x dataflow.

The static files (observability/monitors/*.json) are plain Datadog API monitor bodies, so the
Terraform datadog module reads the same files (templatefile + jsondecode; `${env}` is the one
placeholder). The per-tenant monitors are generated from the registry (the contract's deadline),
never written by hand. Every monitor carries `managed_by:airlock` and `airlock_monitor:<key>`:
the key tag is how `apply` finds the monitor to update, so renames do not create duplicates.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from airlock.errors import AirlockError
from airlock.metrics import METRIC_NAMES, PREFIX
from airlock.tenants import Registry

MANAGED_TAG = "managed_by:airlock"
KEY_TAG = "airlock_monitor"
SUPPORTED_TYPES = frozenset({"metric alert", "query alert"})
_KEY = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
_QUERY = re.compile(
    r"^(?P<agg>avg|sum|min|max|change|pct_change|percentile\(\d{1,2}\))\((?P<window>last_\d+[mhdw])\):"
    r"(?P<expr>.+?)\s*(?P<op>>=|<=|>|<)\s*(?P<threshold>-?\d+(?:\.\d+)?)$"
)
_METRIC = re.compile(r"(?:avg|sum|min|max|count):([A-Za-z][A-Za-z0-9_.]*)\{([^{}]*)\}")
# A timing becomes .avg/.count/.max/.median/.95percentile series in Datadog.
_TIMER_SUFFIX = re.compile(r"\.(avg|count|max|median|95percentile|sum)$")
_PLACEHOLDER = re.compile(r"\$\{([a-z_]+)\}")
_COMPARED_FIELDS = ("name", "type", "query", "message", "tags", "options", "priority")


class MonitorError(AirlockError):
    """A monitor definition is invalid, or the Datadog API refused a change."""


@dataclass
class MonitorDef:
    """One desired monitor: its stable key, the Datadog API body, and where it came from."""

    key: str
    body: dict[str, Any]
    source: str

    @property
    def name(self) -> str:
        return str(self.body.get("name", ""))


@dataclass
class Change:
    action: Literal["create", "update", "delete", "unchanged"]
    key: str
    name: str
    monitor_id: int | None = None
    fields: list[str] = field(default_factory=list)
    body: dict[str, Any] | None = None


def monitors_dir(home: Path) -> Path:
    return home / "observability" / "monitors"


def load_static(directory: Path) -> list[MonitorDef]:
    """Every *.json in the folder; the file name (without .json) is the monitor's key."""
    defs = []
    for path in sorted(directory.glob("*.json")):
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise MonitorError(f"{path}: not valid JSON ({exc}). Fix: check commas and quotes.") from None
        if not isinstance(body, dict):
            raise MonitorError(f"{path}: expected one monitor object (Datadog API format).")
        defs.append(MonitorDef(path.stem, body, str(path)))
    return defs


def freshness_threshold(deadline: timedelta, cadence: timedelta) -> tuple[float, float]:
    """(critical, warning) seconds since the last success: a batch is due every `cadence` and
    may take `deadline` to complete; warn halfway through the deadline."""
    critical = (cadence + deadline).total_seconds()
    return critical, (cadence + deadline / 2).total_seconds()


def freshness_monitors(registry: Registry, cadence: timedelta = timedelta(days=1)) -> list[MonitorDef]:
    """One monitor per tenant x dataflow, threshold from the tenant's contract deadline."""
    defs = []
    for tenant_id, tenant in sorted(registry.tenants.items()):
        for dataflow, contract in sorted(tenant.dataflows.items()):
            critical, warning = freshness_threshold(contract.deadline, cadence)
            key = f"freshness-{tenant_id}-{dataflow}"
            hours = critical / 3600
            body = {
                "name": f"[airlock ${{env}}] {tenant_id}/{dataflow}: no successful batch for {hours:g}h",
                "type": "query alert",
                "query": (
                    f"max(last_10m):max:{PREFIX}.freshness.seconds"
                    f"{{env:${{env}},tenant:{tenant_id},dataflow:{dataflow}}} > {critical:g}"
                ),
                "message": (
                    f"{{{{#is_alert}}}}Tenant **{tenant_id}** has had no successful **{dataflow}** batch for "
                    f"more than {hours:g}h (cadence {cadence} + contract deadline {contract.deadline})."
                    "{{/is_alert}}\n"
                    f"Check `airlock status --tenant {tenant_id}` and the landing zone "
                    f"`{tenant_id}/{dataflow}/`. @airlock-oncall"
                ),
                "tags": [
                    MANAGED_TAG,
                    "env:${env}",
                    f"tenant:{tenant_id}",
                    f"dataflow:{dataflow}",
                    "team:data-platform",
                ],
                "priority": 2,
                "options": {
                    "thresholds": {"critical": critical, "warning": warning},
                    "notify_no_data": False,
                    "require_full_window": False,
                    "renotify_interval": 120,
                    "include_tags": True,
                },
            }
            defs.append(MonitorDef(key, body, f"registry: {tenant_id}/{dataflow} deadline {contract.deadline}"))
    return defs


def render(defn: MonitorDef, variables: dict[str, str]) -> MonitorDef:
    """Substitute `${name}` placeholders everywhere and add the key tag; the input is not changed."""

    def sub(value: Any) -> Any:
        if isinstance(value, str):
            return _PLACEHOLDER.sub(lambda m: variables.get(m.group(1), m.group(0)), value)
        if isinstance(value, list):
            return [sub(v) for v in value]
        if isinstance(value, dict):
            return {k: sub(v) for k, v in value.items()}
        return value

    body = sub(copy.deepcopy(defn.body))
    tags = [t for t in body.get("tags", []) if not str(t).startswith(f"{KEY_TAG}:")]
    body["tags"] = sorted({*tags, f"{KEY_TAG}:{defn.key}"})
    return MonitorDef(defn.key, body, defn.source)


def _known_metric(name: str) -> bool:
    if not name.startswith(f"{PREFIX}."):
        return True  # Airflow's and AWS's metrics are checked by shape only
    bare = name[len(PREFIX) + 1 :]
    return bare in METRIC_NAMES or _TIMER_SUFFIX.sub("", bare) in METRIC_NAMES


def validate(defn: MonitorDef) -> list[str]:
    """Every problem with one rendered monitor, each naming the field and the fix (offline)."""
    where, body, problems = f"{defn.source} [{defn.key}]", defn.body, []
    if not _KEY.match(defn.key):
        problems.append(f"{where}: key {defn.key!r}: use lowercase letters, digits, '-', '_' or '.'")
    for name in ("name", "type", "query", "message", "tags", "options"):
        if not body.get(name):
            problems.append(f"{where}: {name}: missing or empty. Fix: add it (Datadog API monitor format).")
    if "id" in body:
        problems.append(f"{where}: id: remove it; monitors are matched by the {KEY_TAG}:<key> tag.")
    if unresolved := sorted(set(_PLACEHOLDER.findall(json.dumps(body)))):
        problems.append(f"{where}: unresolved placeholder(s) {unresolved}. Fix: pass them (--env) or remove them.")
    if body.get("type") not in SUPPORTED_TYPES:
        problems.append(f"{where}: type {body.get('type')!r}: use one of {sorted(SUPPORTED_TYPES)}.")
    tags = body.get("tags") or []
    if MANAGED_TAG not in tags:
        problems.append(f"{where}: tags: add {MANAGED_TAG!r}, which is how apply finds the monitors it owns.")
    if any(not isinstance(t, str) or t != t.strip() or "," in t for t in tags):
        problems.append(f"{where}: tags: each tag is one string without commas or surrounding spaces.")
    if (priority := body.get("priority")) and priority not in (1, 2, 3, 4, 5):
        problems.append(f"{where}: priority {priority!r}: use 1 (highest) to 5.")
    problems.extend(_validate_query(where, str(body.get("query", "")), body.get("options") or {}))
    problems.extend(_validate_schema(where, body))
    return problems


def _validate_schema(where: str, body: dict[str, Any]) -> list[str]:
    """Check field types against the Datadog API client's own Monitor model (offline)."""
    try:
        from datadog_api_client import Configuration
        from datadog_api_client.model_utils import validate_and_convert_types
        from datadog_api_client.v1.model.monitor import Monitor
    except ImportError:  # the client is optional for plan; apply needs it
        return []
    try:
        validate_and_convert_types(copy.deepcopy(body), (Monitor,), ["monitor"], True, True, Configuration())
    except (TypeError, ValueError) as exc:  # the client's ApiTypeError/ApiValueError derive from these
        return [f"{where}: does not fit the Datadog Monitor schema: {exc}"]
    return []


def _validate_query(where: str, query: str, options: dict[str, Any]) -> list[str]:
    match = _QUERY.match(query.strip())
    if not match:
        return [f"{where}: query {query!r}: expected '<agg>(last_<n><m|h|d|w>):<metric query> <op> <threshold>'."]
    problems = []
    expr = match.group("expr")
    if expr.count("(") != expr.count(")") or expr.count("{") != expr.count("}"):
        problems.append(f"{where}: query: unbalanced parentheses or braces in {expr!r}.")
    metrics = _METRIC.findall(expr)
    if not metrics:
        problems.append(f"{where}: query: no '<space_agg>:<metric>{{<scope>}}' in {expr!r}.")
    for metric, scope in metrics:
        if not _known_metric(metric):
            problems.append(f"{where}: query: {metric!r} is not a metric airlock emits (airlock.metrics).")
        if not scope.strip():
            problems.append(f"{where}: query: empty scope in {metric}{{}}: write {{*}} or tags.")
    thresholds = options.get("thresholds") or {}
    critical = thresholds.get("critical")
    threshold = float(match.group("threshold"))
    if not isinstance(critical, int | float) or isinstance(critical, bool) or not math.isfinite(critical):
        problems.append(f"{where}: options.thresholds.critical: missing or not a number.")
        return problems
    if float(critical) != threshold:
        problems.append(f"{where}: options.thresholds.critical={critical} differs from the query's {threshold:g}; "
                        "Datadog rejects that. Fix: make them equal.")  # fmt: skip
    above = match.group("op") in (">", ">=")
    for name, value in thresholds.items():
        if name == "critical" or value is None:
            continue
        if not isinstance(value, int | float) or isinstance(value, bool):
            problems.append(f"{where}: options.thresholds.{name}: not a number.")
            continue
        if name == "warning" and (value >= critical if above else value <= critical):
            problems.append(
                f"{where}: options.thresholds.warning={value} must be "
                f"{'below' if above else 'above'} critical={critical} for '{match.group('op')}'."
            )
        if name == "critical_recovery" and (value >= critical if above else value <= critical):
            problems.append(f"{where}: options.thresholds.critical_recovery={value} must be on the recovered "
                            f"side of critical={critical}.")  # fmt: skip
    return problems


def desired_monitors(
    home: Path, registry: Registry, env: str, cadence: timedelta = timedelta(days=1), directory: Path | None = None
) -> list[MonitorDef]:
    """Static + generated monitors, rendered for one env and validated; raise listing every problem."""
    defs = load_static(directory or monitors_dir(home)) + freshness_monitors(registry, cadence)
    rendered = [render(d, {"env": env}) for d in defs]
    problems = [p for d in rendered for p in validate(d)]
    keys = [d.key for d in rendered]
    problems += [f"key {k!r} is defined twice" for k in sorted({k for k in keys if keys.count(k) > 1})]
    if problems:
        raise MonitorError(f"{len(problems)} problem(s) in the monitor definitions:\n  - " + "\n  - ".join(problems))
    return rendered


# ---- plan / apply ---------------------------------------------------------------------------
def _key_of(monitor: dict[str, Any]) -> str | None:
    for tag in monitor.get("tags") or []:
        if str(tag).startswith(f"{KEY_TAG}:"):
            return str(tag).split(":", 1)[1]
    return None


def _normalize(value: Any) -> Any:
    """Compare like Datadog stores: numbers as floats, tags as sets (order is not meaningful)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):
        return {k: _normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    return value


def _differs(desired: dict[str, Any], existing: dict[str, Any]) -> list[str]:
    changed = []
    for name in _COMPARED_FIELDS:
        want, have = desired.get(name), existing.get(name)
        if name == "tags":
            if set(want or []) != set(have or []):
                changed.append(name)
        elif name == "options":
            # Datadog adds defaults to options; only the keys we set are ours to compare.
            have = have or {}
            if any(_normalize(v) != _normalize(have.get(k)) for k, v in (want or {}).items()):
                changed.append(name)
        elif want is not None and _normalize(want) != _normalize(have):
            changed.append(name)
    return changed


def plan(desired: list[MonitorDef], existing: list[dict[str, Any]] | None, prune: bool = False) -> list[Change]:
    """What apply would do. existing=None means offline: every monitor is shown as a create."""
    if existing is None:
        return [Change("create", d.key, d.name, body=d.body) for d in desired]
    by_key: dict[str, dict[str, Any]] = {}
    for monitor in existing:
        if MANAGED_TAG in (monitor.get("tags") or []) and (key := _key_of(monitor)):
            by_key.setdefault(key, monitor)
    changes = []
    for d in desired:
        current = by_key.pop(d.key, None)
        if current is None:
            changes.append(Change("create", d.key, d.name, body=d.body))
        elif fields := _differs(d.body, current):
            changes.append(Change("update", d.key, d.name, int(current["id"]), fields, d.body))
        else:
            changes.append(Change("unchanged", d.key, d.name, int(current["id"])))
    if prune:
        changes += [Change("delete", k, str(m.get("name", "")), int(m["id"])) for k, m in sorted(by_key.items())]
    return changes


class DatadogMonitors:
    """The few Monitors API calls airlock needs, through datadog-api-client."""

    def __init__(self, api_key: str, app_key: str, host: str) -> None:
        from datadog_api_client import ApiClient, Configuration
        from datadog_api_client.v1.api.monitors_api import MonitorsApi

        self._config = Configuration(host=host)
        self._config.api_key["apiKeyAuth"] = api_key
        self._config.api_key["appKeyAuth"] = app_key
        self._client = ApiClient(self._config)
        self.api = MonitorsApi(self._client)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> DatadogMonitors:
        """DD_API_KEY, DD_APP_KEY and DD_HOST (or DD_SITE, default datadoghq.com)."""
        env = dict(os.environ if environ is None else environ)
        api_key = env.get("DD_API_KEY") or env.get("DATADOG_API_KEY")
        app_key = env.get("DD_APP_KEY") or env.get("DATADOG_APP_KEY")
        if not api_key or not app_key:
            raise MonitorError("DD_API_KEY and DD_APP_KEY must be set to reach Datadog. "
                               "Fix: export them (an application key with monitors_write).")  # fmt: skip
        host = env.get("DD_HOST") or f"https://api.{env.get('DD_SITE', 'datadoghq.com')}"
        return cls(api_key, app_key, host)

    def list_managed(self) -> list[dict[str, Any]]:
        return [m.to_dict() for m in self.api.list_monitors_with_pagination(monitor_tags=MANAGED_TAG, page_size=1000)]

    def _model(self, body: dict[str, Any], model: type) -> Any:
        from datadog_api_client.model_utils import validate_and_convert_types

        return validate_and_convert_types(copy.deepcopy(body), (model,), ["body"], True, True, self._config)

    def create(self, body: dict[str, Any]) -> int:
        from datadog_api_client.v1.model.monitor import Monitor

        return int(self.api.create_monitor(body=self._model(body, Monitor)).id)

    def update(self, monitor_id: int, body: dict[str, Any]) -> None:
        from datadog_api_client.v1.model.monitor_update_request import MonitorUpdateRequest

        self.api.update_monitor(monitor_id, body=self._model(body, MonitorUpdateRequest))

    def delete(self, monitor_id: int) -> None:
        self.api.delete_monitor(monitor_id)

    def close(self) -> None:
        self._client.close()


def apply(changes: list[Change], api: DatadogMonitors) -> dict[str, int]:
    """Carry out a plan; return how many monitors each action touched."""
    from datadog_api_client.exceptions import ApiException

    done = {"create": 0, "update": 0, "delete": 0, "unchanged": 0}
    for change in changes:
        try:
            if change.action == "create" and change.body is not None:
                change.monitor_id = api.create(change.body)
            elif change.action == "update" and change.body is not None and change.monitor_id is not None:
                api.update(change.monitor_id, change.body)
            elif change.action == "delete" and change.monitor_id is not None:
                api.delete(change.monitor_id)
        except ApiException as exc:
            raise MonitorError(f"Datadog refused to {change.action} monitor {change.key!r}: "
                               f"HTTP {exc.status} {str(exc.body)[:300]}") from None  # fmt: skip
        done[change.action] += 1
    return done


def format_plan(changes: list[Change]) -> str:
    marks = {"create": "+", "update": "~", "delete": "-", "unchanged": "="}
    lines = []
    for c in changes:
        suffix = f" ({', '.join(c.fields)})" if c.fields else ""
        ident = f" #{c.monitor_id}" if c.monitor_id else ""
        lines.append(f"  {marks[c.action]} {c.key}{ident}: {c.name}{suffix}")
    counts = {a: sum(1 for c in changes if c.action == a) for a in marks}
    lines.append(", ".join(f"{n} to {a}" if a != "unchanged" else f"{n} unchanged" for a, n in counts.items()))
    return "\n".join(lines)
