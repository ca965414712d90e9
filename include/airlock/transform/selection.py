"""A dataflow's dbt nodes, read from the prebuilt manifest with Cosmos's selector (no dbt at parse time).

The same selection goes to dbt at run time (`--select`/`--selector`, `--exclude`), so the models Airflow
shows are the models the build runs. A selection that matches no model is refused here, naming the
dataflow and the fix: an empty processing DAG would mark every batch done without building anything.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airlock.errors import ConfigError
from airlock.transform.config import HEAVY_TAG

if TYPE_CHECKING:
    from airlock.tenants import Dataflow

BUILT_TYPES = ("model", "seed", "snapshot")
"""Node types a `dbt build` materializes: each gets a status (and, in events mode, an asset)."""
ALWAYS_EXCLUDED: tuple[str, ...] = ()
"""Nothing by default: the kit's demo seeds are disabled unless `load_samples` is set."""


@dataclass(frozen=True)
class Node:
    """One model, seed or snapshot of the selection, with the tests dbt runs on it."""

    unique_id: str
    name: str
    resource_type: str
    depends_on: tuple[str, ...]
    tags: tuple[str, ...]
    materialized: str | None
    tests: tuple[str, ...] = ()


@dataclass(frozen=True)
class Selection:
    """What one dataflow builds: the dbt selection arguments and the nodes they match."""

    dataflow: str
    project_name: str
    select: tuple[str, ...] = ()
    selector: str | None = None
    exclude: tuple[str, ...] = ALWAYS_EXCLUDED
    nodes: dict[str, Node] = field(default_factory=dict)

    @property
    def heavy(self) -> bool:
        """A model tagged `heavy` makes the whole build bigger (CPU, memory), never a separate task."""
        return any(HEAVY_TAG in node.tags for node in self.nodes.values() if node.resource_type == "model")

    @property
    def models(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.resource_type == "model"]

    def describe(self) -> str:
        what = f"selector {self.selector}" if self.selector else f"--select {' '.join(self.select)}"
        return f"{what} --exclude {' '.join(self.exclude)}" if self.exclude else what

    def dbt_args(self) -> list[str]:
        """The selection as dbt arguments (the runner adds them to `dbt build`)."""
        args = ["--selector", self.selector] if self.selector else ["--select", *self.select]
        return [*args, "--exclude", *self.exclude] if self.exclude else args


def _manifest_metadata(manifest: Path) -> dict[str, Any]:
    return _read_manifest(str(manifest), manifest.stat().st_mtime_ns).get("metadata") or {}


@functools.lru_cache(maxsize=4)
def _read_manifest(path: str, mtime_ns: int) -> dict[str, Any]:
    """One JSON read per manifest version per process: every dataflow of the DAG file shares it."""
    with Path(path).open(encoding="utf-8") as handle:
        return json.load(handle)


def select_nodes(dataflow: Dataflow, manifest: Path, project_dir: Path) -> Selection:
    """The dataflow's nodes per the manifest; ConfigError naming the dataflow and the fix if there are none."""
    import airflow  # noqa: F401 - must precede cosmos.constants: cosmos registers a policy hook (FIELD-NOTES)
    from cosmos.config import ExecutionConfig, ProjectConfig, RenderConfig
    from cosmos.constants import LoadMode
    from cosmos.dbt.graph import CosmosLoadDbtException, DbtGraph

    selector = getattr(dataflow, "dbt_selector", None)
    select = () if selector else (f"tag:{dataflow.dbt_tag}",)
    project_name = str(_manifest_metadata(manifest).get("project_name") or project_dir.name)
    project_config = ProjectConfig(manifest_path=manifest, project_name=project_name)
    # Cosmos wraps the path in ObjectStoragePath, whose first open() loads every Airflow plugin for hook
    # lineage (about 0.2 s CPU per parse process). The manifest is a local file: read it as one.
    project_config.manifest_path = manifest
    graph = DbtGraph(
        project=project_config,
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            select=list(select),
            exclude=list(ALWAYS_EXCLUDED),
            selector=selector,
        ),
        execution_config=ExecutionConfig(dbt_project_path=project_dir),
    )
    graph._load_manifest_from_file = lambda path: _read_manifest(str(path), Path(path).stat().st_mtime_ns)  # type: ignore[method-assign]
    try:
        graph.load(method=LoadMode.DBT_MANIFEST)
    except CosmosLoadDbtException as exc:
        raise ConfigError(f"dataflow {dataflow.dataflow}: {exc}. Fix: check dbt_selector in its YAML.") from None
    selection = Selection(
        dataflow=dataflow.dataflow,
        project_name=project_name,
        select=select,
        selector=selector,
        nodes=_nodes(graph),
    )
    if not selection.models:
        raise ConfigError(
            f"dataflow {dataflow.dataflow}: dbt selection `{selection.describe()}` matches no model in {manifest}. "
            f"Fix: tag the dataflow's models `{dataflow.dbt_tag}` (e.g. `+tags: [{dataflow.dbt_tag}]` in "
            "dbt_project.yml) or set `dbt_selector` in its dags/registry/dataflows YAML to a selector of your "
            "selectors.yml, then rebuild the manifest."
            if not selector
            else f"dataflow {dataflow.dataflow}: dbt selector `{selector}` matches no model in {manifest}. "
            "Fix: correct the selector in selectors.yml (or `dbt_selector` in the dataflow's YAML), then rebuild "
            "the manifest."
        )
    return selection


def _nodes(graph: Any) -> dict[str, Node]:
    built = {uid: node for uid, node in graph.filtered_nodes.items() if node.resource_type.value in BUILT_TYPES}
    return {
        uid: Node(
            unique_id=uid,
            name=uid.split(".")[2],
            resource_type=node.resource_type.value,
            depends_on=tuple(d for d in node.depends_on if d in built),
            tags=tuple(node.tags),
            materialized=node.config.get("materialized"),
            tests=tuple(sorted(graph.tests_per_model.get(uid, []))),
        )
        for uid, node in built.items()
    }
