"""The one `dbt build` of a processing run, wherever it runs: a subprocess, a Kubernetes pod, an ECS task.

Started by the isolation entrypoint with dbt's own interpreter (no Airflow here):
    python -m airlock.isolation airlock.transform.runner:build --payload '{"tenant_id": ..., "selection": [...]}'

What it does, in one process so the project is parsed once:
1. (the isolation entrypoint has already assumed the tenant's processing role in a pod; an ECS task runs
   as it) parses the project with the run's vars, then refuses to build if any node it would write resolves
   outside the tenant's schemas or the target's database: a project without the kit's
   generate_schema_name macro still cannot mix tenants;
2. runs `dbt build` of the dataflow's selection (or, on a retry, of the nodes not yet built) with the
   parsed manifest, writing dbt's events to stdout as JSON lines (`stream_doc`: every node's result and
   dbt's info, warning and error lines, without the START lines);
3. counts the rows of the tables it built where the adapter did not report them;
4. ends with one `{"airlock": "summary", ...}` line: the reader knows the stream is complete.

Warehouse credentials come from the environment (a Kubernetes Secret, the ECS task definition's
`secrets`, the local stack's env): never from the payload, which is visible on the command line.
Exit code: 0 built, 1 dbt reported failures, 2 dbt could not run or the runner refused.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

WRITTEN_TYPES = ("model", "seed", "snapshot")
NOT_STREAMED = frozenset({"LogStartLine"})
"""dbt's "1 of 200 START ..." lines: each node's result line follows (measured: dbt's full JSON log on stdout
made a 200-model build 1.5-3 s slower than a quiet one, and the task reading it slower still)."""
COUNTED_MATERIALIZATIONS = ("table", "incremental", "snapshot")
_print_lock = threading.Lock()


def emit(doc: Mapping[str, Any]) -> None:
    """One `{"airlock": ...}` line on stdout, never interleaved with dbt's own lines."""
    with _print_lock:
        sys.stdout.write(json.dumps(dict(doc), default=str) + "\n")
        sys.stdout.flush()


class Refused(Exception):
    """The run would break tenant isolation or cannot start: say why, build nothing."""


def build(
    *,
    tenant_id: str,
    batch_id: str,
    dataflow: str,
    tenant_schema: str,
    selection: Sequence[str],
    resume: Sequence[str] | None = None,
    **_: Any,
) -> int:
    """Build the run's selection (or resume it) for one tenant; return the exit code (see module doc)."""
    run_vars = {"tenant_id": tenant_id, "batch_id": batch_id, "dataflow": dataflow, "tenant_schema": tenant_schema}
    try:
        project = Path(os.environ.get("AIRLOCK_DBT_PROJECT_DIR") or Path.cwd())
        profiles = Path(os.environ.get("AIRLOCK_DBT_PROFILES_DIR") or project)
        work = Path(tempfile.mkdtemp(prefix=f"airlock-dbt-{tenant_id}-"))
        common = [
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(profiles),
            "--target-path",
            str(work / "target"),
            "--log-path",
            str(work / "logs"),
            "--vars",
            json.dumps(run_vars),
        ]
        for option, variable in (("--profile", "AIRLOCK_DBT_PROFILE"), ("--target", "AIRLOCK_DBT_TARGET")):
            if os.environ.get(variable):
                common += [option, os.environ[variable]]
        if resume is not None and not resume:
            emit({"airlock": "summary", "exit_code": 0, "success": True, "resumed": [], "note": "nothing left"})
            return 0
        code = _build(common, list(selection) if resume is None else ["--select", *resume], tenant_schema)
        if code == 0:  # a failed build keeps its compiled SQL and dbt.log where the log says they are
            shutil.rmtree(work, ignore_errors=True)
        return code
    except Refused as exc:
        emit({"airlock": "refused", "message": str(exc)})
        emit({"airlock": "summary", "exit_code": 2, "success": False, "error": str(exc)})
        return 2


def _build(common: list[str], selection: list[str], tenant_schema: str) -> int:
    from dbt.cli.main import dbtRunner

    seconds: dict[str, float] = {}  # where the run's time went, in the summary: parse, select, build, count
    mark = time.monotonic()

    def lap(phase: str) -> None:
        nonlocal mark
        now = time.monotonic()
        seconds[phase] = round(now - mark, 2)
        mark = now

    parsed = dbtRunner().invoke(["parse", *common, "--log-format", "json", "--log-level", "warn"])
    if not parsed.success or parsed.result is None:
        error = f"dbt could not parse the project: {parsed.exception or 'see the errors above'}"
        emit({"airlock": "summary", "exit_code": 2, "success": False, "error": error})
        return 2
    manifest = parsed.result
    lap("parse")
    listed = dbtRunner(manifest=manifest).invoke(
        ["ls", *common, *selection, "--resource-type", *WRITTEN_TYPES, "--output", "json", "--log-level", "none"]
    )
    selected = {json.loads(item)["unique_id"] for item in (listed.result or [])}
    check_isolation(manifest, selected, tenant_schema, _target_database())
    lap("select")

    def on_event(event: Any) -> None:
        doc = stream_doc(event)
        if doc is not None:
            with _print_lock:
                sys.stdout.write(json.dumps(doc, default=str) + "\n")
                sys.stdout.flush()

    # dbt's console stays silent: every line comes from the callback, in the shape of dbt's JSON log.
    result = dbtRunner(manifest=manifest, callbacks=[on_event]).invoke(
        ["build", *common, *selection, "--log-format", "json", "--log-level", "none"]
    )
    lap("build")
    _count_rows(manifest, getattr(result.result, "results", None) or [])
    lap("count")
    exit_code = 0 if result.success else (2 if result.exception is not None else 1)
    emit(
        {
            "airlock": "summary",
            "exit_code": exit_code,
            "success": bool(result.success),
            "error": str(result.exception) if result.exception is not None else None,
            "selected": len(selected),
            "seconds": seconds,
        }
    )
    return exit_code


def stream_doc(event: Any) -> dict[str, Any] | None:
    """One dbt event as the line the build task reads, in the shape of dbt's JSON log, with only what it reads.

    `NodeFinished` (debug level: the per-node result) with the node and its run result; every info, warn
    and error event but the START lines, as its level and text. dbt's own JSON line for an event carries
    its whole node, timing and thread info: for 200 models, ~1,200 lines that cost dbt and the reader time.
    """
    info = event.info
    if info.name == "NodeFinished":
        node, run = event.data.node_info, event.data.run_result
        response = run.adapter_response
        return {
            "info": {"name": info.name, "level": info.level, "msg": info.msg},
            "data": {
                "node_info": {
                    "unique_id": node.unique_id,
                    "resource_type": node.resource_type,
                    "node_status": node.node_status,
                    "node_relation": {"relation_name": node.node_relation.relation_name},
                },
                "run_result": {
                    "status": run.status,
                    "message": run.message,
                    "execution_time": run.execution_time,
                    "adapter_response": {"rows_affected": response["rows_affected"]}
                    if "rows_affected" in response
                    else {},
                },
            },
        }
    if info.level in ("info", "warn", "error") and info.name not in NOT_STREAMED:
        return {"info": {"name": info.name, "level": info.level, "msg": info.msg}}
    return None


def check_isolation(manifest: Any, selected: set[str], tenant_schema: str, database: str | None) -> None:
    """Refuse if a node the build writes lands outside `<tenant_schema>[_*]` or the target's database.

    The kit's generate_schema_name already builds every relation into the tenant's schemas; this check
    holds for any project (a team's own macros, a hard-coded `schema` or `database` config), after dbt
    has resolved the names with this run's vars, before anything is written.
    """
    prefix = tenant_schema.lower()
    outside = []
    for unique_id in sorted(selected):
        node = manifest.nodes.get(unique_id)
        if node is None or getattr(node.config, "materialized", None) == "ephemeral":
            continue
        schema = str(node.schema or "").lower()
        in_schema = schema == prefix or schema.startswith(prefix + "_")
        in_database = database is None or str(node.database or "").lower() == database.lower()
        if not (in_schema and in_database):
            outside.append(f"{unique_id} → {node.database}.{node.schema}")
    if outside:
        raise Refused(
            f"{len(outside)} node(s) would be written outside tenant schema {tenant_schema}[_*]"
            f"{f' of database {database}' if database else ''}: {', '.join(outside[:5])}. Fix: build every "
            "relation into var('tenant_schema') (the kit's macros/generate_schema_name.sql does; or set the "
            "profile's `schema: \"{{ var('tenant_schema') }}\"` and drop hard-coded schema/database configs)."
        )


def _target_database() -> str | None:
    """The database the profile's target writes to (after parse, dbt's adapter holds the credentials)."""
    from dbt.adapters.factory import FACTORY

    for adapter in FACTORY.adapters.values():
        database = getattr(adapter.config.credentials, "database", None)
        if database:
            return str(database)
    return None


def _count_rows(manifest: Any, results: Sequence[Any]) -> None:
    """Rows of each table the build made, where the adapter's response did not carry them (DuckDB)."""
    from dbt.adapters.factory import FACTORY

    adapters = list(FACTORY.adapters.values())
    if not adapters:
        return
    adapter = adapters[0]
    todo = []
    for result in results:
        node = manifest.nodes.get(getattr(result.node, "unique_id", ""))
        response = getattr(result, "adapter_response", None) or {}
        if (
            node is not None
            and str(result.status) == "success"
            and node.config.materialized in COUNTED_MATERIALIZATIONS
            and response.get("rows_affected") is None
            and node.relation_name
        ):
            todo.append(node)
    if not todo:
        return
    try:
        with adapter.connection_named("airlock_row_counts"):
            for node in todo:
                # relation_name is dbt's own quoted name of a node it just built, not input from a user
                _, table = adapter.execute(f"select count(*) from {node.relation_name}", fetch=True)  # noqa: S608
                emit({"airlock": "rows", "unique_id": node.unique_id, "rows": int(table.rows[0][0])})
    except Exception as exc:  # a count is a nicety: never fail a built run over it
        emit({"airlock": "note", "message": f"row counts skipped: {exc}"})
