"""The tenant registry: typed models of include/tenants/*.yaml and include/dataflows/*.yaml.

Both folders are plain YAML because Terraform reads the same files (yamldecode + fileset).
Everything is validated once, here, and errors name the file, the field and the fix.
"""

from __future__ import annotations

import fnmatch
import os
import re
from datetime import timedelta
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ByteSize, ConfigDict, Field, ValidationError, field_validator, model_validator

from airlock.errors import RegistryError

IDENTIFIER = r"^[a-z][a-z0-9_]{1,31}$"
"""Tenant ids, dataflow and table names: they become S3 prefixes, schema, IAM and queue names."""

BATCH_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
"""Batch ids end up in partition keys (`tenant|batch`), paths and SQL literals: keep them boring."""

COLUMN = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
"""Column names become SQL identifiers in the warehouse: no quoting games."""

Column = Annotated[str, Field(pattern=COLUMN)]

DEFAULT_KEY_PATTERN = r"^(?P<batch_id>[^/]+)/(?P<file>[^/]+)$"

_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(value: Any) -> timedelta:
    """Read '90s', '30m', '2h', '1d' (or a number of seconds) as a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration: write it like 90s, 30m, 2h or 1d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


class FileFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TableSpec(_Strict):
    """A table a dataflow's dbt models read: the canonical columns every tenant must deliver."""

    columns: list[Column] = Field(min_length=1)


class Dataflow(_Strict):
    """A processing pipeline shared by all subscribed tenants: one DAG, one asset, one dbt tag."""

    dataflow: Annotated[str, Field(pattern=IDENTIFIER)]
    description: str = ""
    dbt_tag: str
    tables: dict[str, TableSpec] = Field(min_length=1)

    @property
    def dag_id(self) -> str:
        return f"process_{self.dataflow}"

    @property
    def asset_name(self) -> str:
        return f"snapshot/{self.dataflow}"


class FileContract(_Strict):
    """One file a tenant delivers in every batch of a dataflow."""

    table: Annotated[str, Field(pattern=IDENTIFIER)]
    pattern: str = Field(min_length=1, description="fnmatch glob on the file name")
    format: FileFormat
    required: bool = True
    columns: list[Column] | None = Field(default=None, min_length=1)
    max_bytes: ByteSize = ByteSize(100_000_000)

    @field_validator("pattern")
    @classmethod
    def _no_slash(cls, value: str) -> str:
        if "/" in value or ".." in value:
            raise ValueError("a file pattern matches one file name: no '/' and no '..'")
        return value

    def matches(self, file_name: str) -> bool:
        return fnmatch.fnmatchcase(file_name, self.pattern)


class DataflowContract(_Strict):
    """How one tenant delivers one dataflow: key layout, deadline and files."""

    key_pattern: str = DEFAULT_KEY_PATTERN
    deadline: timedelta = timedelta(hours=2)
    files: list[FileContract] = Field(min_length=1)

    @field_validator("deadline", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)

    @field_validator("key_pattern")
    @classmethod
    def _key_pattern_groups(cls, value: str) -> str:
        try:
            groups = re.compile(value).groupindex
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        missing = {"batch_id", "file"} - set(groups)
        if missing:
            raise ValueError(f"needs the named groups (?P<batch_id>...) and (?P<file>...); missing {missing}")
        return value

    @model_validator(mode="after")
    def _unique_tables(self) -> DataflowContract:
        tables = [f.table for f in self.files]
        duplicated = sorted({t for t in tables if tables.count(t) > 1})
        if duplicated:
            raise ValueError(f"each table is delivered by one file; {duplicated} appear twice")
        return self

    @cached_property
    def key_regex(self) -> re.Pattern[str]:
        return re.compile(self.key_pattern)

    @property
    def required_tables(self) -> frozenset[str]:
        return frozenset(f.table for f in self.files if f.required)

    def contract_for(self, file_name: str) -> FileContract | None:
        return next((f for f in self.files if f.matches(file_name)), None)


class Tenant(_Strict):
    tenant_id: Annotated[str, Field(pattern=IDENTIFIER)]
    name: str
    isolation_tier: Literal["standard", "dedicated"] = "standard"
    warehouse_schema: Annotated[str, Field(pattern=IDENTIFIER)]
    dataflows: dict[str, DataflowContract] = Field(min_length=1)


class Registry(BaseModel):
    """Every tenant and dataflow, cross-checked: a contract may only name known dataflows and tables."""

    model_config = ConfigDict(frozen=True)

    tenants: dict[str, Tenant]
    dataflows: dict[str, Dataflow]

    def tenant(self, tenant_id: str) -> Tenant | None:
        return self.tenants.get(tenant_id)

    def columns(self, tenant_id: str, dataflow: str, table: str) -> list[str]:
        """The columns a tenant's file must carry: its own list, or the dataflow's canonical one."""
        contract = self.tenants[tenant_id].dataflows[dataflow]
        file = next(f for f in contract.files if f.table == table)
        return list(file.columns or self.dataflows[dataflow].tables[table].columns)


def _format_error(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: {exc.error_count()} problem(s)"]
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  - {field}: {err['msg']}. Fix: {_fix_hint(err)}")
    return "\n".join(lines)


def _fix_hint(err: Any) -> str:
    kind = err["type"]
    if kind == "missing":
        return "add this field"
    if kind == "extra_forbidden":
        return "remove it, or check its spelling against docs/tenants.md"
    if kind == "string_pattern_mismatch":
        return "use lowercase letters, digits and '_', starting with a letter (2-32 chars)"
    if kind.startswith("enum") or kind == "literal_error":
        return "use one of the values listed"
    return "correct the value as described"


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        # libyaml's loader where available: about 6x faster, which `airlock status` at 1,000 tenants feels.
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SafeLoader)  # noqa: S506 (a safe loader)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RegistryError(f"{path}: not valid YAML ({exc}). Fix: check indentation and quoting.") from None
    if not isinstance(data, dict):
        raise RegistryError(f"{path}: expected a mapping at the top level. Fix: see include/tenants/acme.yaml.")
    return data


def _load_model(path: Path, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate(_read_yaml(path))
    except ValidationError as exc:
        raise RegistryError(_format_error(path, exc)) from None


def _cross_check(path: Path, tenant: Tenant, dataflows: dict[str, Dataflow]) -> list[str]:
    problems = []
    if tenant.tenant_id != path.stem:
        problems.append(
            f"tenant_id: {tenant.tenant_id!r} differs from the file name. Fix: rename the file "
            f"to {tenant.tenant_id}.yaml or correct tenant_id."
        )
    for name, contract in tenant.dataflows.items():
        flow = dataflows.get(name)
        if flow is None:
            problems.append(
                f"dataflows.{name}: no such dataflow. Fix: use one of {sorted(dataflows)} or add "
                f"include/dataflows/{name}.yaml."
            )
            continue
        for i, file in enumerate(contract.files):
            spec = flow.tables.get(file.table)
            if spec is None:
                problems.append(
                    f"dataflows.{name}.files[{i}].table: {file.table!r} is not a table of {name}. "
                    f"Fix: use one of {sorted(flow.tables)}."
                )
            elif file.columns is not None and (gone := [c for c in spec.columns if c not in file.columns]):
                problems.append(
                    f"dataflows.{name}.files[{i}].columns: lacks {gone}, which {name}'s models "
                    "need. Fix: add them, or drop `columns` to use the dataflow's list."
                )
    return problems


def tenant_ids(tenants_dir: Path) -> list[str]:
    """The registered tenant ids, from file names alone: cheap enough for DAG parse time.

    Reading 1,000 YAML files costs about a second, so parse-time code (the router's one SQS watcher
    per tenant) uses this listing; the contents are validated at run time by `load_registry`.
    """
    with os.scandir(tenants_dir) as entries:
        return sorted(e.name[:-5] for e in entries if e.name.endswith(".yaml") and not e.name.startswith("_"))


def load_dataflows(dataflows_dir: Path) -> dict[str, Dataflow]:
    flows: dict[str, Dataflow] = {}
    for path in sorted(dataflows_dir.glob("*.yaml")):
        flow: Dataflow = _load_model(path, Dataflow)
        if flow.dataflow != path.stem:
            raise RegistryError(
                f"{path}: dataflow: {flow.dataflow!r} differs from the file name. "
                f"Fix: rename the file to {flow.dataflow}.yaml."
            )
        flows[flow.dataflow] = flow
    return flows


def load_registry(tenants_dir: Path, dataflows_dir: Path) -> Registry:
    """Read and cross-check every tenant and dataflow; raise RegistryError listing every problem."""
    dataflows = load_dataflows(dataflows_dir)
    tenants: dict[str, Tenant] = {}
    problems: list[str] = []
    for path in sorted(tenants_dir.glob("*.yaml")):
        if path.name.startswith("_"):
            continue
        try:
            tenant: Tenant = _load_model(path, Tenant)
        except RegistryError as exc:
            problems.append(str(exc))
            continue
        if found := _cross_check(path, tenant, dataflows):
            problems.append(f"{path}: {len(found)} problem(s)\n" + "\n".join(f"  - {p}" for p in found))
            continue
        tenants[tenant.tenant_id] = tenant
    if problems:
        raise RegistryError("\n".join(problems))
    return Registry(tenants=tenants, dataflows=dataflows)
