"""`airlock lineage`: landing → snapshot → DAG → dbt models → marts for every tenant, as Mermaid and HTML."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from airlock.observability.lineage import build_lineage, load_manifest, to_html, to_mermaid
from airlock.settings import load_settings
from airlock.tenants import load_registry


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "lineage",
        help="render the lineage of every tenant and dataflow (Mermaid + a self-contained HTML page)",
        description="Build the graph from the tenant registry, the contract's asset and DAG names and the dbt "
        "manifest. Without --stdout, writes <out>/lineage.mmd, lineage.html and lineage.json.",
    )
    parser.add_argument("--manifest", type=Path, default=None,
                        help="dbt manifest (default: $AIRLOCK_HOME/dbt_project/target/manifest.json)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: $AIRLOCK_DATA_DIR/lineage)")
    parser.add_argument("--stdout", choices=("mermaid", "html", "json"), default=None,
                        help="print one format to stdout instead of writing files")  # fmt: skip
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    registry = load_registry(settings.tenants_dir, settings.dataflows_dir)
    manifest = load_manifest(args.manifest or settings.home / "dbt_project" / "target" / "manifest.json")
    graph = build_lineage(registry, manifest)
    rendered = {
        "mermaid": to_mermaid(graph),
        "html": to_html(graph),
        "json": json.dumps(graph.to_dict(), indent=2) + "\n",
    }
    if args.stdout:
        sys.stdout.write(rendered[args.stdout])
        return 0
    out = args.out or Path(os.environ.get("AIRLOCK_DATA_DIR") or settings.home / "var") / "lineage"
    out.mkdir(parents=True, exist_ok=True)
    for fmt, suffix in (("mermaid", "mmd"), ("html", "html"), ("json", "json")):
        (out / f"lineage.{suffix}").write_text(rendered[fmt], encoding="utf-8")
    print(f"lineage: {len(registry.tenants)} tenant(s), {len(graph.nodes)} nodes, {len(graph.edges)} edges "
          f"-> {out}/lineage.html (and .mmd, .json)")  # fmt: skip
    return 0
