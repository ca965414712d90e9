"""One lineage graph for every tenant: landing → snapshot → processing DAG → dbt models → marts.

Built from the tenant registry (who delivers what), the asset and DAG names of the contract
(`snapshot/<dataflow>`, `process_<dataflow>`) and the dbt manifest (models, sources and their
dependencies). Rendered as Mermaid text and as a self-contained HTML page whose SVG is laid out
here, because no CDN (mermaid.js) is reachable offline or from a locked-down network.
"""

from __future__ import annotations

import html
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from airlock.errors import AirlockError
from airlock.tenants import Registry

Kind = Literal["landing", "snapshot", "asset", "dag", "source", "model", "mart", "relation"]
_COLUMN = {"landing": 0, "snapshot": 1, "asset": 2, "dag": 3, "source": 4}
_COLORS = {
    "landing": "#e3f2fd", "snapshot": "#e8f5e9", "asset": "#fff8e1", "dag": "#ede7f6",
    "source": "#eceff1", "model": "#f5f5f5", "mart": "#ffe0b2", "relation": "#ffccbc",
}  # fmt: skip


class ManifestError(AirlockError):
    """The dbt manifest is missing or unreadable."""


@dataclass(frozen=True)
class Node:
    id: str
    kind: Kind
    label: str
    tenant_id: str | None = None
    dataflow: str | None = None


@dataclass
class LineageGraph:
    """Nodes and directed edges; ids are stable strings like `landing:acme/orders`."""

    nodes: dict[str, Node] = field(default_factory=dict)
    edges: set[tuple[str, str]] = field(default_factory=set)

    def add(self, node: Node) -> str:
        self.nodes.setdefault(node.id, node)
        return node.id

    def link(self, src: str, dst: str) -> None:
        self.edges.add((src, dst))

    def children(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for src, dst in sorted(self.edges):
            out[src].append(dst)
        return out

    def has_path(self, src: str, dst: str) -> bool:
        """Reachability, for tests and checks: does dst descend from src?"""
        children, seen, stack = self.children(), {src}, [src]
        while stack:
            for nxt in children.get(stack.pop(), []):
                if nxt == dst:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return False

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodes": [vars(n) for n in sorted(self.nodes.values(), key=lambda n: n.id)],
            "edges": [list(e) for e in sorted(self.edges)],
        }


def load_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path}: no dbt manifest. Fix: run `make manifest` (dbt parse) first.") from None
    except (OSError, ValueError) as exc:
        raise ManifestError(
            f"{path}: not a readable dbt manifest ({exc}). Fix: rebuild it with `make manifest`."
        ) from None
    if not isinstance(data, dict) or "nodes" not in data:
        raise ManifestError(f"{path}: no 'nodes' in it; is it a dbt manifest.json?")
    return data


def _tags(node: dict[str, Any]) -> set[str]:
    tags = set(node.get("tags") or [])
    tags.update((node.get("config") or {}).get("tags") or [])
    return tags


def _is_mart(node: dict[str, Any]) -> bool:
    path = str(node.get("original_file_path") or node.get("path") or "")
    return "marts" in (node.get("fqn") or []) or "/marts/" in f"/{path}"


def build_lineage(registry: Registry, manifest: dict[str, Any]) -> LineageGraph:
    """The whole graph: one path per tenant x dataflow, the dbt DAG shared, marts per tenant schema."""
    graph = LineageGraph()
    all_nodes = manifest.get("nodes") or {}
    models = {uid: n for uid, n in all_nodes.items() if n.get("resource_type") == "model"}
    sources = manifest.get("sources") or {}

    for uid, src in sources.items():
        graph.add(Node(uid, "source", f"source {src.get('source_name', '?')}.{src.get('name', uid)}"))
    for uid, model in models.items():
        graph.add(Node(uid, "mart" if _is_mart(model) else "model", str(model.get("name", uid))))
    for uid, model in models.items():
        for parent in (model.get("depends_on") or {}).get("nodes") or []:
            if parent in graph.nodes:
                graph.link(parent, uid)

    for name, flow in sorted(registry.dataflows.items()):
        asset = graph.add(Node(f"asset:{flow.asset_name}", "asset", f"asset {flow.asset_name}", dataflow=name))
        dag = graph.add(Node(f"dag:{flow.dag_id}", "dag", f"DAG {flow.dag_id}", dataflow=name))
        graph.link(asset, dag)
        flow_models = {uid for uid, m in models.items() if flow.dbt_tag in _tags(m)}
        # The DAG loads the raw tables the dataflow's models read, then runs those models.
        for uid in sorted(flow_models):
            parents = (models[uid].get("depends_on") or {}).get("nodes") or []
            for parent in parents:
                if parent in sources:
                    graph.link(dag, parent)
            if not any(p in models and p in flow_models for p in parents) and not any(p in sources for p in parents):
                graph.link(dag, uid)
        for tenant_id, tenant in sorted(registry.tenants.items()):
            if name not in tenant.dataflows:
                continue
            landing = graph.add(Node(f"landing:{tenant_id}/{name}", "landing", f"landing {tenant_id}/{name}/",
                                     tenant_id, name))  # fmt: skip
            raw = graph.add(Node(f"snapshot:{tenant_id}/{name}", "snapshot", f"raw {tenant_id}/{name}/<batch>",
                                 tenant_id, name))  # fmt: skip
            graph.link(landing, raw)
            graph.link(raw, asset)
            for uid in sorted(flow_models):
                if graph.nodes[uid].kind != "mart":
                    continue
                mart_name = str(models[uid].get("alias") or models[uid].get("name"))
                # dbt custom schemas build into <tenant_schema>_<custom> (docs/contracts.md).
                custom = (models[uid].get("config") or {}).get("schema")
                schema = f"{tenant.warehouse_schema}_{custom}" if custom else tenant.warehouse_schema
                rel = graph.add(Node(f"relation:{schema}.{mart_name}", "relation", f"{schema}.{mart_name}",
                                     tenant_id, name))  # fmt: skip
                graph.link(uid, rel)
    return graph


# ---- Mermaid --------------------------------------------------------------------------------
def _mid(node_id: str) -> str:
    return "n_" + re.sub(r"[^A-Za-z0-9_]", "_", node_id)


def _mlabel(text: str) -> str:
    return text.replace('"', "'")


def to_mermaid(graph: LineageGraph) -> str:
    """`flowchart LR` text: tenant-owned nodes in one subgraph per tenant, shared nodes outside."""
    lines = ["flowchart LR"]
    by_tenant: dict[str | None, list[Node]] = defaultdict(list)
    for node in sorted(graph.nodes.values(), key=lambda n: n.id):
        by_tenant[node.tenant_id].append(node)
    shapes = {"asset": ('[("', '")]'), "dag": ('[["', '"]]'), "source": ('[("', '")]')}
    for tenant_id in sorted(by_tenant, key=lambda t: (t is not None, t or "")):
        indent = "    "
        if tenant_id is not None:
            lines.append(f"    subgraph tenant_{tenant_id}[tenant {tenant_id}]")
            indent = "        "
        for node in by_tenant[tenant_id]:
            left, right = shapes.get(node.kind, ('["', '"]'))
            lines.append(f"{indent}{_mid(node.id)}{left}{_mlabel(node.label)}{right}")
        if tenant_id is not None:
            lines.append("    end")
    lines.extend(f"    {_mid(a)} --> {_mid(b)}" for a, b in sorted(graph.edges))
    for kind, color in _COLORS.items():
        lines.append(f"    classDef {kind} fill:{color},stroke:#555")
    for node in sorted(graph.nodes.values(), key=lambda n: n.id):
        lines.append(f"    class {_mid(node.id)} {node.kind}")
    return "\n".join(lines) + "\n"


# ---- SVG / HTML -----------------------------------------------------------------------------
def _columns(graph: LineageGraph) -> dict[str, int]:
    """Column per node: fixed for the pipeline stages, longest-path depth for dbt models."""
    col = {nid: _COLUMN[n.kind] for nid, n in graph.nodes.items() if n.kind in _COLUMN}
    parents: dict[str, list[str]] = defaultdict(list)
    for src, dst in graph.edges:
        parents[dst].append(src)

    def depth(nid: str, trail: frozenset[str] = frozenset()) -> int:
        if nid in col:
            return col[nid]
        if nid in trail:  # a cycle cannot happen in dbt; guard anyway
            return _COLUMN["source"]
        ps = parents.get(nid) or []
        col[nid] = max((depth(p, trail | {nid}) for p in ps), default=_COLUMN["source"]) + 1
        return col[nid]

    for nid in graph.nodes:
        depth(nid)
    return col


def to_svg(graph: LineageGraph, *, width: int = 210, height: int = 34, gap_x: int = 60, gap_y: int = 12) -> str:
    """A layered left-to-right SVG: one column per stage, edges as curves, no external assets."""
    cols = _columns(graph)
    by_col: dict[int, list[Node]] = defaultdict(list)
    for node in sorted(graph.nodes.values(), key=lambda n: (n.tenant_id or "", n.dataflow or "", n.id)):
        by_col[cols[node.id]].append(node)
    pos: dict[str, tuple[int, int]] = {}
    for c, nodes in by_col.items():
        for i, node in enumerate(nodes):
            pos[node.id] = (20 + c * (width + gap_x), 20 + i * (height + gap_y))
    total_w = 40 + (max(by_col, default=0) + 1) * (width + gap_x)
    total_h = 40 + max((len(v) for v in by_col.values()), default=1) * (height + gap_y)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{total_h}" '
           f'viewBox="0 0 {total_w} {total_h}" font-family="sans-serif" font-size="12">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#90a4ae"/></marker></defs>']  # fmt: skip
    for src, dst in sorted(graph.edges):
        (x1, y1), (x2, y2) = pos[src], pos[dst]
        x1, y1, y2 = x1 + width, y1 + height // 2, y2 + height // 2
        mid = (x1 + x2) // 2
        tenant = graph.nodes[src].tenant_id or graph.nodes[dst].tenant_id or ""
        out.append(f'<path class="edge" data-tenant="{html.escape(tenant)}" d="M{x1},{y1} C{mid},{y1} {mid},{y2} '
                   f'{x2},{y2}" fill="none" stroke="#90a4ae" marker-end="url(#arrow)"/>')  # fmt: skip
    for nid, node in sorted(graph.nodes.items()):
        x, y = pos[nid]
        label = node.label if len(node.label) <= 32 else node.label[:31] + "…"
        out.append(
            f'<g class="node {node.kind}" data-id="{html.escape(nid)}" '
            f'data-tenant="{html.escape(node.tenant_id or "")}">'
            f"<title>{html.escape(nid)}</title>"
            f'<rect x="{x}" y="{y}" width="{width}" height="{height}" rx="6" fill="{_COLORS[node.kind]}" '
            f'stroke="#546e7a"/><text x="{x + 8}" y="{y + height // 2 + 4}">{html.escape(label)}</text></g>'
        )
    out.append("</svg>")
    return "\n".join(out)


def to_html(graph: LineageGraph, title: str = "airlock lineage") -> str:
    """A standalone page: the SVG, a tenant filter, and the Mermaid source for docs and diffs."""
    tenants = sorted({n.tenant_id for n in graph.nodes.values() if n.tenant_id})
    options = "".join(f'<option value="{html.escape(t)}">{html.escape(t)}</option>' for t in tenants)
    legend = "".join(f'<span style="background:{c}">{k}</span>' for k, c in _COLORS.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body{{font-family:sans-serif;margin:1em}} .legend span{{padding:2px 6px;margin-right:4px;border:1px solid #999}}
.dim{{opacity:.12}} #graph{{overflow:auto;border:1px solid #ddd}} pre{{background:#f7f7f7;padding:1em}}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{len(tenants)} tenant(s), {len(graph.nodes)} nodes, {len(graph.edges)} edges.
Tenant: <select id="tenant"><option value="">all</option>{options}</select></p>
<p class="legend">{legend}</p>
<div id="graph">{to_svg(graph)}</div>
<details><summary>Mermaid source</summary><pre class="mermaid">{html.escape(to_mermaid(graph))}</pre></details>
<script>
document.getElementById('tenant').addEventListener('change', function (e) {{
  var t = e.target.value;
  document.querySelectorAll('[data-tenant]').forEach(function (el) {{
    var own = el.getAttribute('data-tenant');
    el.classList.toggle('dim', t !== '' && own !== '' && own !== t);
  }});
}});
</script>
</body></html>
"""
