"""The tenant registry: typed models of dags/registry/tenants/*.yaml and dags/registry/dataflows/*.yaml.

Both folders are plain YAML because Terraform reads the same files (yamldecode + fileset).
Everything is validated once, here, and errors name the file, the field and the fix.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
from collections.abc import Iterable
from datetime import timedelta
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ByteSize,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from airlock.errors import RegistryError

log = logging.getLogger(__name__)

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


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
"""A duration field written like 90s, 30m, 2h, 1d (or seconds)."""


class FileFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TableSpec(_Strict):
    """A table a dataflow's dbt models read: the canonical columns every tenant must deliver."""

    columns: list[Column] = Field(min_length=1)


class Dataflow(_Strict):
    """A processing pipeline shared by all subscribed tenants: one DAG, one asset, one dbt selection.

    The selection is a dbt tag (`dbt_tag`) or, for a project of your own, a YAML selector of its
    selectors.yml (`dbt_selector`): docs/byo-dbt-project.md.
    """

    dataflow: Annotated[str, Field(pattern=IDENTIFIER)]
    description: str = ""
    dbt_tag: str | None = None
    dbt_selector: str | None = None
    tables: dict[str, TableSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_selection(self) -> Dataflow:
        if (self.dbt_tag is None) == (self.dbt_selector is None):
            raise ValueError("set exactly one of dbt_tag (a dbt tag) or dbt_selector (a selector of selectors.yml)")
        return self

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

    @property
    def is_glob(self) -> bool:
        """Whether several files of a batch can match (then only a rule tells when the last one is in)."""
        return any(ch in self.pattern for ch in "*?[")


CompletionRule = Literal["settle", "control_file", "count"]
DEFAULT_SETTLE = timedelta(minutes=5)
RESERVED_FILE_NAMES = frozenset({"_MANIFEST.json", "_SNAPSHOT.json", "_RUN.json", "_DONE.json", "_EMITTED.json"})


class Completion(_Strict):
    """When a batch is complete: the rule, and the one setting it takes (docs/tenants.md#completion).

    - settle (the default): every required file is in and no file arrived for `settle`; at once
      when every file the contract names is in and none is a glob (nothing more can come);
    - control_file: the tenant uploads `control_file` last (`_SUCCESS`); with `manifest: true`
      it lists the batch's files and their sha256, and the batch is exactly those files;
    - count: `expected` files per table (a table not listed: 1 if required, 0 if optional).
    """

    rule: CompletionRule = "settle"
    settle: Duration = DEFAULT_SETTLE
    control_file: str = "_SUCCESS"
    manifest: bool = False
    expected: dict[str, Annotated[int, Field(ge=0, le=10_000)]] = Field(default_factory=dict)

    @field_validator("control_file")
    @classmethod
    def _control_name(cls, value: str) -> str:
        if not value or "/" in value or value in (".", "..") or any(ch in value for ch in "*?["):
            raise ValueError("the control file is one exact file name: no '/', no glob characters")
        if value in RESERVED_FILE_NAMES:
            raise ValueError(f"{value} is a name airlock writes itself; choose another, e.g. _SUCCESS")
        return value

    @model_validator(mode="before")
    @classmethod
    def _settings_fit_the_rule(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        rule = data.get("rule", "settle")
        allowed = {"settle": {"settle"}, "control_file": {"control_file", "manifest"}, "count": {"expected"}}
        if rule in allowed and (stray := sorted(set(data) - {"rule"} - allowed[rule])):
            raise ValueError(f"{stray} do not apply to rule {rule!r}; it takes {sorted(allowed[rule])}")
        if rule == "count" and not data.get("expected"):
            raise ValueError("rule 'count' needs `expected`, e.g. expected: {stock: 2}")
        if rule == "settle" and "settle" in data and parse_duration(data["settle"]) < timedelta(0):
            raise ValueError("settle must not be negative")
        return data


class DataflowContract(_Strict):
    """How one tenant delivers one dataflow: key layout, deadline, files and when a batch is complete."""

    key_pattern: str = DEFAULT_KEY_PATTERN
    deadline: Duration = timedelta(hours=2)
    files: list[FileContract] = Field(min_length=1)
    completion: Completion = Completion()

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

    @model_validator(mode="after")
    def _completion_fits_the_files(self) -> DataflowContract:
        rule = self.completion
        by_table = {f.table: f for f in self.files}
        if rule.rule == "count":
            if unknown := sorted(set(rule.expected) - set(by_table)):
                raise ValueError(f"completion.expected names {unknown}, which are not tables of this contract")
            if fixed := sorted(t for t, n in rule.expected.items() if n > 1 and not by_table[t].is_glob):
                raise ValueError(
                    f"completion.expected asks for several files of {fixed}, whose pattern names one file; "
                    "use a glob pattern (stock_*.csv) or expect 1"
                )
            if zero := sorted(t for t, n in rule.expected.items() if n == 0 and by_table[t].required):
                raise ValueError(f"completion.expected is 0 for required table(s) {zero}; expect at least 1")
        if rule.rule == "control_file" and (clash := [f.pattern for f in self.files if f.matches(rule.control_file)]):
            raise ValueError(
                f"the control file {rule.control_file!r} matches the file pattern(s) {clash}: it would be "
                "read as data. Choose a name no pattern matches, e.g. _SUCCESS"
            )
        return self

    @cached_property
    def key_regex(self) -> re.Pattern[str]:
        return re.compile(self.key_pattern)

    @property
    def required_tables(self) -> frozenset[str]:
        return frozenset(f.table for f in self.files if f.required)

    def expected_count(self, table: str) -> int:
        """Files of `table` the count rule waits for (1 for a required table it does not list, else 0)."""
        default = 1 if any(f.table == table and f.required for f in self.files) else 0
        return self.completion.expected.get(table, default)

    def is_control_file(self, file_name: str) -> bool:
        return self.completion.rule == "control_file" and file_name == self.completion.control_file

    def contract_for(self, file_name: str) -> FileContract | None:
        return next((f for f in self.files if f.matches(file_name)), None)


class Tenant(_Strict):
    tenant_id: Annotated[str, Field(pattern=IDENTIFIER)]
    name: str
    isolation_tier: Literal["standard", "dedicated"] = "standard"
    warehouse_schema: Annotated[str, Field(pattern=IDENTIFIER)]
    retention_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    """Days the tenant's snapshots and quarantined files are kept (S3 lifecycle rules, per tenant prefix);
    None: the environment's default. Read by Terraform from this file (docs/operations.md)."""
    dataflows: dict[str, DataflowContract] = Field(min_length=1)


class Registry(BaseModel):
    """Every tenant and dataflow, cross-checked: a contract may only name known dataflows and tables."""

    model_config = ConfigDict(frozen=True)

    tenants: dict[str, Tenant]
    dataflows: dict[str, Dataflow]
    disabled: dict[str, str] = Field(default_factory=dict)
    """Tenants whose file is invalid: tenant id -> the error. Their landing files wait, untouched."""
    offboarded: frozenset[str] = frozenset()
    """Tenants that left (`registry/offboarded/<id>.yaml`): not processed, and their prefix is no stranger's."""

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
    return "correct the value as described in docs/tenants.md"


def _read_yaml(path: Path, raw: bytes | None = None) -> dict[str, Any]:
    """The file's mapping; `raw`: its bytes, already read (decoded as read_text would: UTF-8, universal newlines)."""
    try:
        text = path.read_text(encoding="utf-8") if raw is None else raw.decode("utf-8")
        if raw is not None and "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        # libyaml's loader where available: about 6x faster, which `airlock status` at 1,000 tenants feels.
        data = yaml.load(text, Loader=_SafeLoader)  # noqa: S506 (a safe loader)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RegistryError(f"{path}: not valid YAML ({exc}). Fix: check indentation and quoting.") from None
    if not isinstance(data, dict):
        raise RegistryError(f"{path}: expected a mapping at the top level. Fix: see dags/registry/tenants/acme.yaml.")
    return data


def _load_model(path: Path, model: type[BaseModel], raw: bytes | None = None) -> Any:
    try:
        return model.model_validate(_read_yaml(path, raw))
    except ValidationError as exc:
        raise RegistryError(_format_error(path, exc)) from None


def _cross_check(path: Path, tenant: Tenant, dataflows: dict[str, Dataflow]) -> list[str]:
    problems = []
    if tenant.tenant_id != path.stem:
        taken = path.with_name(f"{tenant.tenant_id}{TENANT_SUFFIX}")
        if taken.exists():  # a copied file: renaming it onto the original is never the fix
            fix = f"set tenant_id: {path.stem} ({taken.name} already holds tenant {tenant.tenant_id!r})"
        else:
            fix = f"rename the file to {taken.name} or set tenant_id: {path.stem}"
        problems.append(f"tenant_id: {tenant.tenant_id!r} differs from the file name. Fix: {fix}.")
    for name, contract in tenant.dataflows.items():
        flow = dataflows.get(name)
        if flow is None:
            problems.append(
                f"dataflows.{name}: no such dataflow. Fix: use one of {sorted(dataflows)} or add "
                f"dags/registry/dataflows/{name}.yaml."
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


TENANT_SUFFIX = ".yaml"


def _misnamed(path: Path) -> str | None:
    """A file that looks like a tenant file but would be skipped (`acme.yml`, `acme.YAML`): say why."""
    if path.name.startswith(("_", ".")) or path.suffix == TENANT_SUFFIX or path.suffix.lower() not in (".yml", ".yaml"):
        return None
    proper = path.with_name(path.stem + TENANT_SUFFIX)
    if proper.exists():
        return (
            f"{path}: ignored, tenant files end in {TENANT_SUFFIX} and {proper.name} exists. Fix: delete {path.name}."
        )
    return f"{path}: tenant files end in {TENANT_SUFFIX}. Fix: rename it to {proper.name}."


def tenant_ids(tenants_dir: Path) -> list[str]:
    """The registered tenant ids, from file names alone: cheap enough for DAG parse time.

    Reading 1,000 YAML files costs about a second, so parse-time code (the router's one SQS watcher
    per tenant) uses this listing; the contents are validated at run time by `load_registry`.
    """
    with os.scandir(tenants_dir) as entries:
        return sorted(
            e.name.removesuffix(TENANT_SUFFIX)
            for e in entries
            if e.name.endswith(TENANT_SUFFIX) and not e.name.startswith(("_", "."))
        )


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


def _load_tenant(path: Path, dataflows: dict[str, Dataflow], raw: bytes | None = None) -> Tenant:
    tenant: Tenant = _load_model(path, Tenant, raw)
    if found := _cross_check(path, tenant, dataflows):
        raise RegistryError(f"{path}: {len(found)} problem(s)\n" + "\n".join(f"  - {p}" for p in found))
    return tenant


_validated: dict[Path, tuple[dict[str, Dataflow], dict[str, tuple[bytes, Tenant]]]] = {}
"""Per tenants folder: the dataflows its tenants were checked against, and each valid file's bytes and Tenant.

Why: a long-lived process (the api-server's status page, refreshed every 30 s; a worker running many
tasks) re-reads the registry each time, and parsing and validating 1,000 files costs 0.35 s or more
while reading their bytes costs 0.02 s. A file is re-validated whenever its bytes differ (not its
mtime: an edit inside the clock's tick keeps it), and all of them when any dataflow changed. Only
valid files are kept: an invalid one is read and reported afresh every time, with today's message.
"""


def _load_tenants(
    tenants_dir: Path, dataflows: dict[str, Dataflow], problems: dict[str, str], only: frozenset[str] | None = None
) -> dict[str, Tenant]:
    """Every valid tenant file of the folder (its problems into `problems`), validating only what changed.

    `only`: the files of these tenant ids alone (the folder is still listed, so a misnamed file of one
    of them is reported as usual); the cache keeps what it knew of the others.
    """
    key = tenants_dir.resolve()
    known_flows, known = _validated.get(key, ({}, {}))
    if known_flows != dataflows:
        known = {}
    tenants: dict[str, Tenant] = {}
    valid: dict[str, tuple[bytes, Tenant]] = (
        {} if only is None else {name: hit for name, hit in known.items() if Path(name).stem not in only}
    )
    for path in sorted(tenants_dir.iterdir()):
        if only is not None and path.stem not in only:
            continue
        if problem := _misnamed(path):
            problems.setdefault(path.stem, problem)
            continue
        if path.suffix != TENANT_SUFFIX or path.name.startswith(("_", ".")):
            continue
        try:
            raw = path.read_bytes()
            hit = known.get(path.name)
            tenant = hit[1] if hit is not None and hit[0] == raw else _load_tenant(path, dataflows, raw)
        except RegistryError as exc:
            problems[path.stem] = str(exc)
            continue
        tenants[path.stem] = tenant
        valid[path.name] = (raw, tenant)
    _validated[key] = (dataflows, valid)
    return tenants


OFFBOARDED = "offboarded"
"""The registry folder beside `tenants/` that keeps the files of tenants that left (airlock tenant offboard)."""


def offboarded_ids(tenants_dir: Path) -> frozenset[str]:
    """Ids of the tenants that left, from the file names in `<registry>/offboarded/` (cheap, like tenant_ids)."""
    folder = tenants_dir.parent / OFFBOARDED
    return frozenset(tenant_ids(folder)) if folder.is_dir() else frozenset()


def load_registry(
    tenants_dir: Path, dataflows_dir: Path, *, strict: bool = True, only: Iterable[str] | None = None
) -> Registry:
    """Read and cross-check every tenant and dataflow.

    strict (CLI checks, CI, Terraform's view): raise RegistryError listing every problem.
    Not strict (the DAGs' tasks, status): a tenant whose file is invalid is *disabled*, its error in
    `Registry.disabled`, and every other tenant works. One tenant's typo must not stop the others.
    A dataflow file's error still raises: it shapes DAGs every subscribed tenant shares.

    `only`: read just these tenants' files (a task that serves one tenant, the router's hinted ones).
    Validating every file costs a fresh task process 0.19 s at 1,000 tenants and 2.75 s at 10,000;
    a tenant outside `only` is absent from the registry returned, as an unknown one would be.
    """
    dataflows = load_dataflows(dataflows_dir)
    problems: dict[str, str] = {}
    tenants = _load_tenants(tenants_dir, dataflows, problems, None if only is None else frozenset(only))
    strays = [text for tenant_id, text in problems.items() if tenant_id in tenants]  # acme.yml beside acme.yaml
    problems = {tenant_id: text for tenant_id, text in problems.items() if tenant_id not in tenants}
    if (problems or strays) and strict:
        raise RegistryError("\n".join([*problems.values(), *strays]))
    for text in strays:
        log.warning("%s", text)
    for tenant_id, text in problems.items():
        log.error("tenant %s is disabled until its file is fixed:\n%s", tenant_id, text)
    return Registry(tenants=tenants, dataflows=dataflows, disabled=problems, offboarded=offboarded_ids(tenants_dir))
