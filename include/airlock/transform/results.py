"""dbt's JSON log stream → per-node results, what kind of failure it was, and where a retry resumes.

The runner (airlock.transform.runner) writes one JSON object per line wherever it runs: dbt's events in the
shape of dbt's JSON log (`runner.stream_doc`: every `NodeFinished`, which dbt logs at debug level, and the
info, warning and error lines; runners before it wrote dbt's full JSON log, read alike) and the runner's
`{"airlock": ...}` lines (row counts, refusals, and the closing summary). The same parser reads a
subprocess's stdout, a pod's log and an ECS task's CloudWatch stream, so the three targets report alike.

Plain Python: no Airflow, no dbt. Tested on dbt output recorded from a real run (tests/unit/fixtures).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

SUCCESS = frozenset({"success", "pass", "warn"})
FAILED = frozenset({"error", "fail", "runtime error"})
SKIPPED = frozenset({"skipped"})
MESSAGE_LIMIT = 2000
"""dbt's message per node is kept to this many characters (a SQL error can carry the whole query)."""
RESUME_SELECT_LIMIT = 3000
"""Above this many characters of node names, a retry rebuilds the whole selection (ECS overrides are 8 KiB)."""
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}

Outcome = Literal["success", "test_failure", "error", "refused", "incomplete"]


@dataclass(frozen=True)
class NodeResult:
    """One node's result as dbt reported it (`NodeFinished`), plus the rows the runner counted."""

    unique_id: str
    status: str
    resource_type: str = ""
    message: str | None = None
    rows: int | None = None
    execution_time: float | None = None
    relation: str | None = None

    @property
    def name(self) -> str:
        parts = self.unique_id.split(".")
        return parts[2] if len(parts) > 2 else self.unique_id

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> NodeResult:
        return cls(**{k: doc[k] for k in cls.__dataclass_fields__ if k in doc})


@dataclass(frozen=True)
class ModelOutcome:
    """A model and its tests, as one status: what a model's task or asset event reports."""

    unique_id: str
    status: str  # success | warn | error | fail | skipped | not_run
    rows: int | None = None
    execution_time: float | None = None
    messages: tuple[str, ...] = ()

    @property
    def succeeded(self) -> bool:
        return self.status in ("success", "warn")


@dataclass
class BuildLog:
    """Reads the runner's output line by line: results as they arrive, human text for Airflow's log."""

    results: dict[str, NodeResult] = field(default_factory=dict)
    summary: dict[str, Any] | None = None
    refusal: str | None = None
    lines: int = 0

    def feed(self, line: str) -> tuple[int, str] | None:
        """Take one line; return (logging level, text) to show in the task log, or None for a blank line.

        A line that is not JSON (a Python traceback, a platform message) is shown as it is.
        """
        line = line.strip()
        if not line:
            return None
        self.lines += 1
        try:
            doc = json.loads(line)
        except ValueError:
            return logging.INFO, line
        if not isinstance(doc, dict):
            return logging.INFO, line
        if "airlock" in doc:
            return self._airlock_line(doc)
        info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
        if info.get("name") == "NodeFinished":
            result = self._node_finished(doc.get("data") or {})
            return (logging.DEBUG, f"dbt {result.unique_id}: {result.status}") if result else None
        message = _ANSI.sub("", str(info.get("msg", ""))).rstrip()
        if not message:
            return None
        return _LEVELS.get(str(info.get("level")), logging.INFO), message

    def feed_all(self, lines: Iterable[str]) -> BuildLog:
        for line in lines:
            self.feed(line)
        return self

    def _node_finished(self, data: Mapping[str, Any]) -> NodeResult | None:
        node = data.get("node_info") or {}
        run = data.get("run_result") or {}
        unique_id = node.get("unique_id")
        if not unique_id:
            return None
        adapter = run.get("adapter_response") or {}
        rows = adapter.get("rows_affected")
        previous = self.results.get(unique_id)
        result = self.results[unique_id] = NodeResult(
            unique_id=unique_id,
            status=str(run.get("status") or node.get("node_status") or "unknown"),
            resource_type=str(node.get("resource_type") or ""),
            message=_clip(run.get("message")),
            rows=int(rows) if isinstance(rows, int | float) else (previous.rows if previous else None),
            execution_time=round(float(run["execution_time"]), 3) if run.get("execution_time") is not None else None,
            relation=(node.get("node_relation") or {}).get("relation_name") or None,
        )
        return result

    def _airlock_line(self, doc: Mapping[str, Any]) -> tuple[int, str] | None:
        kind = doc.get("airlock")
        if kind == "rows" and doc.get("unique_id") in self.results:
            result = self.results[doc["unique_id"]]
            self.results[result.unique_id] = NodeResult(**{**asdict(result), "rows": int(doc.get("rows") or 0)})
            return logging.DEBUG, f"dbt {result.unique_id}: {doc.get('rows')} rows"
        if kind == "refused":
            self.refusal = str(doc.get("message"))
            return logging.ERROR, f"airlock refused to run dbt: {self.refusal}"
        if kind == "summary":
            self.summary = dict(doc)
            seconds = doc.get("seconds") or {}
            spent = f"; seconds: {', '.join(f'{k} {v}' for k, v in seconds.items())}" if seconds else ""
            return (
                logging.INFO,
                f"airlock: dbt finished with exit code {doc.get('exit_code')} ({len(self.results)} nodes{spent})",
            )
        return logging.INFO, f"airlock: {doc.get('message') or kind}"

    # ---- what the build amounts to --------------------------------------------------------------------

    @property
    def complete(self) -> bool:
        """The runner's summary line arrived: every node it ran has reported."""
        return self.summary is not None

    def failed(self) -> list[NodeResult]:
        return [r for r in self.results.values() if r.status in FAILED]

    def outcome(self) -> Outcome:
        """success, test_failure (only data tests failed: retrying cannot help), refused, error or incomplete."""
        if self.refusal is not None:
            return "refused"
        if self.summary is None:
            return "incomplete"
        failed = self.failed()
        if self.summary.get("exit_code") == 0 and not failed:
            return "success"
        if failed and all(r.resource_type == "test" and r.status == "fail" for r in failed):
            return "test_failure"
        return "error"

    def failure_message(self, limit: int = 5) -> str:
        """dbt's own messages for the failed nodes (what the failed task's summary shows)."""
        if self.refusal:
            return self.refusal
        failed = self.failed()
        if not failed:
            if self.summary is None:
                return "the dbt build stopped before it reported a result (see its log above)"
            return str(self.summary.get("error") or f"dbt exited with code {self.summary.get('exit_code')}")
        shown = "; ".join(f"{r.resource_type or 'node'} {r.name}: {r.message or r.status}" for r in failed[:limit])
        more = f" (and {len(failed) - limit} more)" if len(failed) > limit else ""
        return shown + more


def _clip(message: Any) -> str | None:
    if message is None:
        return None
    text = _ANSI.sub("", str(message)).strip()
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def model_outcome(
    unique_id: str, tests: Iterable[str], results: Mapping[str, NodeResult], complete: bool
) -> ModelOutcome:
    """A model and its tests as one status, with dbt's messages for whatever failed."""
    model = results.get(unique_id)
    if model is None:
        return ModelOutcome(unique_id, "not_run" if complete else "unknown")
    base = {"rows": model.rows, "execution_time": model.execution_time}
    if model.status in FAILED:
        return ModelOutcome(unique_id, "error", messages=(model.message or model.status,), **base)
    if model.status in SKIPPED:
        return ModelOutcome(unique_id, "skipped", messages=("skipped by dbt: an upstream node failed",), **base)
    test_results = [results[t] for t in tests if t in results]
    failed = [t for t in test_results if t.status in FAILED]
    if failed:
        return ModelOutcome(
            unique_id, "fail", messages=tuple(f"{t.name}: {t.message or t.status}" for t in failed), **base
        )
    status = "warn" if any(t.status == "warn" for t in test_results) else "success"
    return ModelOutcome(unique_id, status, **base)


def resume_select(
    nodes: Mapping[str, Any], tests: Mapping[str, Iterable[str]], done: Mapping[str, NodeResult]
) -> list[str] | None:
    """Where a retry resumes: the names of the nodes that have not succeeded yet, or None for a full build.

    `nodes` maps the selection's built nodes to their names; `tests` each node to its tests; `done` the
    results of the earlier tries. A node that succeeded keeps its relation and is not built again; a failed
    or never-reached node is selected by name (dbt adds its tests). The children of a failed node were
    skipped, so they are selected too. An empty list means nothing is left to build.
    """
    if not done:
        return None
    pending: list[str] = []
    for unique_id, name in nodes.items():
        ok = done.get(unique_id)
        tests_ok = all(t in done and done[t].status in SUCCESS for t in tests.get(unique_id, ()))
        if ok is None or ok.status not in SUCCESS or not tests_ok:
            pending.append(name)
    if len(" ".join(pending)) > RESUME_SELECT_LIMIT:
        return None
    return sorted(pending)
