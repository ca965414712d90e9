"""What a processing run's output depends on: the snapshot's content and the code that transforms it.

Two runs of one batch with the same content hash and the same code version leave the warehouse in the
same state, so the second is skipped unless forced (code+data versioning, as Dagster's "skip runs if input
data and code have not changed").

- Content hash: sha256 over the manifest's `(table, file, sha256)` entries, i.e. the bytes a run loads.
  It does not include `snapshot_ts`: a re-delivery of identical files hashes the same.
- Code version: sha256 over the airlock version and one fingerprint per dbt node the dataflow builds.
  A node's fingerprint covers what dbt's `state:modified` looks at for it: the file checksum dbt records in
  the manifest, its config, and the SQL of the macros it calls (closure, with adapter-dispatch variants);
  the dataflow's nodes include their upstream nodes in the project (a changed seed or parent model changes
  the dataflow). Node fingerprints are kept per version (`_airlock/code/<version>.json` in the raw root),
  so `airlock reprocess --changed` can say which nodes changed since the version a batch last ran with.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airlock import __version__
from airlock.errors import AirlockError, StorageError
from airlock.storage import Storage, read_json, write_json

if TYPE_CHECKING:
    from airlock.settings import Settings
    from airlock.tenants import Dataflow, Registry

log = logging.getLogger(__name__)

CODE_PREFIX = "_airlock/code/"


def content_hash(manifest: dict[str, Any]) -> str:
    """sha256 of the snapshot's files as the run loads them (table, name, sha256), order-independent."""
    entries = sorted((str(f.get("table")), str(f.get("file")), str(f.get("sha256"))) for f in manifest.get("files", []))
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()


@dataclass(frozen=True)
class CodeVersion:
    """The code a dataflow's run executes: one hash, and the node fingerprints it was made from."""

    dataflow: str
    version: str
    airlock_version: str
    nodes: dict[str, str] = field(default_factory=dict)

    @property
    def short(self) -> str:
        return self.version[:12]

    def as_record(self) -> dict[str, Any]:
        return {
            "dataflow": self.dataflow,
            "version": self.version,
            "airlock_version": self.airlock_version,
            "nodes": self.nodes,
        }


@functools.lru_cache(maxsize=4)
def _read_manifest(path: str, mtime_ns: int) -> dict[str, Any]:
    """One JSON read per manifest version per process (a worker runs many claims)."""
    with Path(path).open(encoding="utf-8") as handle:
        return json.load(handle)


def load_manifest(path: Path) -> dict[str, Any]:
    return _read_manifest(str(path), path.stat().st_mtime_ns)


def selected_nodes(dataflow: Dataflow, manifest: Path) -> set[str]:
    """The nodes a run of the dataflow builds and tests: the processing DAG's own selection (transform.selection)."""
    from airlock.transform.selection import select_nodes

    selection = select_nodes(dataflow, manifest, manifest.parent.parent)
    return set(selection.nodes) | {test for node in selection.nodes.values() for test in node.tests}


def _closure(start: set[str], edges: dict[str, list[str]]) -> set[str]:
    seen, todo = set(start), list(start)
    while todo:
        for parent in edges.get(todo.pop(), []):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def _macro_closure(names: list[str], macros: dict[str, Any]) -> list[str]:
    """The macros a node calls, transitively, with their adapter-dispatch implementations (`*__<name>`)."""
    by_suffix: dict[str, list[str]] = {}
    for uid, macro in macros.items():
        if "__" in macro.get("name", ""):
            by_suffix.setdefault(macro["name"].split("__", 1)[1], []).append(uid)
    seen: set[str] = set()
    todo = list(names)
    while todo:
        uid = todo.pop()
        if uid in seen or uid not in macros:
            continue
        seen.add(uid)
        todo.extend(macros[uid].get("depends_on", {}).get("macros", []))
        todo.extend(by_suffix.get(macros[uid].get("name", ""), []))
    return sorted(seen)


def _fingerprint(node: dict[str, Any], macros: dict[str, Any]) -> str:
    used = _macro_closure(node.get("depends_on", {}).get("macros", []), macros)
    material = {
        "checksum": (node.get("checksum") or {}).get("checksum"),
        "config": node.get("config"),
        "macros": {uid: hashlib.sha256(macros[uid].get("macro_sql", "").encode()).hexdigest() for uid in used},
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def code_version(dataflow: Dataflow, manifest_path: Path) -> CodeVersion:
    """The dataflow's code version from the prebuilt manifest (the one the deployment runs)."""
    manifest = load_manifest(manifest_path)
    nodes = manifest.get("nodes", {})
    parents = {uid: list(node.get("depends_on", {}).get("nodes", [])) for uid, node in nodes.items()}
    wanted = {uid for uid in _closure(selected_nodes(dataflow, manifest_path), parents) if uid in nodes}
    macros = manifest.get("macros", {})
    prints = {uid: _fingerprint(nodes[uid], macros) for uid in sorted(wanted)}
    material = json.dumps({"airlock": __version__, "nodes": prints}, sort_keys=True)
    return CodeVersion(dataflow.dataflow, hashlib.sha256(material.encode()).hexdigest(), __version__, prints)


def record_code(raw: Storage, code: CodeVersion) -> None:
    """Keep the version's node fingerprints once (create-only), for `reprocess --changed` to compare."""
    write_json(raw, f"{CODE_PREFIX}{code.version}.json", code.as_record(), if_absent=True)


def read_code(raw: Storage, version: str) -> dict[str, str] | None:
    """The node fingerprints of a recorded version, or None if it was never recorded."""
    record = read_json(raw, f"{CODE_PREFIX}{version}.json")
    return record.get("nodes") if record else None


def changed_nodes(before: dict[str, str] | None, after: dict[str, str]) -> dict[str, str]:
    """node id -> `modified` | `new` | `removed` between two fingerprint maps (None: unknown, all `new`)."""
    before = before or {}
    out = {uid: "new" for uid in after if uid not in before}
    out.update({uid: "modified" for uid in after if uid in before and before[uid] != after[uid]})
    out.update({uid: "removed" for uid in before if uid not in after})
    return dict(sorted(out.items()))


def deployed_manifest(settings: Settings) -> Path:
    """The manifest the deployment runs (the dbt runtime's project: AIRLOCK_DBT_PROJECT_DIR or dbt_project/)."""
    from airlock.transform.config import load_dbt_runtime

    return load_dbt_runtime(settings).project.manifest_path


def run_code_version(settings: Settings, registry: Registry, dataflow: str, raw: Storage) -> CodeVersion | None:
    """The code version a processing run records, its fingerprints kept; None (never skip) without a manifest."""
    try:
        code = code_version(registry.dataflows[dataflow], deployed_manifest(settings))
    except (OSError, ValueError, AirlockError) as exc:
        log.warning("no code version for %s (%s): this run is never skipped as unchanged", dataflow, exc)
        return None
    try:
        record_code(raw, code)
    except StorageError as exc:  # the fingerprints only explain `reprocess --changed`; the run goes on
        log.warning("could not keep the fingerprints of code version %s: %s", code.short, exc)
    return code
