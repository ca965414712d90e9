"""`airlock lineage`: every tenant's path from landing to its marts, every dbt model, offline HTML."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest

from airlock import cli
from airlock.observability.lineage import ManifestError, build_lineage, load_manifest, to_html, to_mermaid
from airlock.observability.sample import write_registry
from airlock.tenants import Registry, load_registry

SUBSCRIPTIONS = {"acme": ["orders", "inventory"], "globex": ["orders"], "initech": ["inventory"]}


def _model(name: str, layer: str, tag: str, parents: list[str], schema: str | None = None) -> dict:
    return {
        "resource_type": "model", "name": name, "alias": name, "tags": [tag],
        "fqn": ["airlock", layer, tag, name], "original_file_path": f"models/{layer}/{name}.sql",
        "depends_on": {"nodes": parents}, "config": {"tags": [tag], "schema": schema},
    }  # fmt: skip


def _source(table: str, source_name: str) -> dict:
    return {"resource_type": "source", "name": table, "source_name": source_name, "identifier": table}


@pytest.fixture
def manifest() -> dict:
    """A small dbt manifest with the shape `dbt parse` writes: staging -> intermediate -> marts."""
    src = "source.airlock."
    nodes = {
        "model.airlock.stg_orders": _model("stg_orders", "staging", "orders", [f"{src}orders_raw.orders"]),
        "model.airlock.stg_customers": _model("stg_customers", "staging", "orders", [f"{src}orders_raw.customers"]),
        "model.airlock.fct_orders": _model(
            "fct_orders", "marts", "orders", ["model.airlock.stg_orders", "model.airlock.stg_customers"]
        ),
        "model.airlock.customer_value": _model(
            "customer_value", "marts", "orders", ["model.airlock.fct_orders"], schema="analytics"
        ),
        "model.airlock.stg_stock": _model("stg_stock", "staging", "inventory", [f"{src}inventory_raw.stock"]),
        "model.airlock.int_stock_latest": _model(
            "int_stock_latest", "intermediate", "inventory", ["model.airlock.stg_stock"]
        ),
        "model.airlock.fct_stock_levels": _model(
            "fct_stock_levels", "marts", "inventory", ["model.airlock.int_stock_latest"]
        ),
        "test.airlock.not_null_fct_orders_order_id": {"resource_type": "test", "name": "not_null", "depends_on": {}},
    }
    sources = {
        f"{src}orders_raw.orders": _source("orders", "orders_raw"),
        f"{src}orders_raw.customers": _source("customers", "orders_raw"),
        f"{src}inventory_raw.stock": _source("stock", "inventory_raw"),
    }
    return {"metadata": {"dbt_version": "1.11.0"}, "nodes": nodes, "sources": sources}


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return load_registry(*write_registry(tmp_path / "registry", SUBSCRIPTIONS))


MARTS = {"orders": ["fct_orders", "customer_value"], "inventory": ["fct_stock_levels"]}


def test_graph_has_every_tenants_path_and_every_model(registry: Registry, manifest: dict) -> None:
    graph = build_lineage(registry, manifest)
    models = [uid for uid, n in manifest["nodes"].items() if n["resource_type"] == "model"]
    assert set(models) <= set(graph.nodes)
    assert "test.airlock.not_null_fct_orders_order_id" not in graph.nodes

    for tenant_id, flows in SUBSCRIPTIONS.items():
        for flow in flows:
            landing, raw = f"landing:{tenant_id}/{flow}", f"snapshot:{tenant_id}/{flow}"
            chain = [landing, raw, f"asset:snapshot/{flow}", f"dag:process_{flow}"]
            for a, b in itertools.pairwise(chain):
                assert (a, b) in graph.edges, (a, b)
            for mart in MARTS[flow]:
                schema = f"tenant_{tenant_id}" + ("_analytics" if mart == "customer_value" else "")
                relation = f"relation:{schema}.{mart}"
                assert graph.nodes[relation].tenant_id == tenant_id
                assert graph.has_path(landing, f"model.airlock.{mart}")
                assert graph.has_path(landing, relation), (landing, relation)
    # Every model of a dataflow is reached from that dataflow's DAG.
    for uid in models:
        flow = manifest["nodes"][uid]["tags"][0]
        assert graph.has_path(f"dag:process_{flow}", uid), uid
    # A tenant's landing never leads to another dataflow's models (initech has no orders).
    assert not graph.has_path("landing:initech/inventory", "model.airlock.fct_orders")
    assert "relation:tenant_initech.fct_orders" not in graph.nodes


def test_mermaid_lists_every_node_and_edge(registry: Registry, manifest: dict) -> None:
    graph = build_lineage(registry, manifest)
    text = to_mermaid(graph)
    assert text.startswith("flowchart LR\n")
    for tenant_id in SUBSCRIPTIONS:
        assert f"subgraph tenant_{tenant_id}[tenant {tenant_id}]" in text
    assert len(re.findall(r" --> ", text)) == len(graph.edges)
    ids = re.findall(r"^\s+(n_\w+)[\[(]", text, flags=re.M)
    assert len(ids) == len(set(ids)) == len(graph.nodes)


def test_html_is_self_contained_with_an_svg_of_every_node(registry: Registry, manifest: dict) -> None:
    graph = build_lineage(registry, manifest)
    page = to_html(graph)
    assert "<svg" in page and page.count('<g class="node') == len(graph.nodes)
    assert page.count('<path class="edge"') == len(graph.edges)
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)  # nothing loaded from elsewhere
    assert 'class="mermaid"' in page  # the Mermaid source rides along for docs and diffs
    for tenant_id in SUBSCRIPTIONS:
        assert f'<option value="{tenant_id}">' in page


def test_cli_writes_mermaid_html_and_json(tmp_path: Path, manifest: dict, monkeypatch, capsys) -> None:
    tenants, dataflows = write_registry(tmp_path / "registry", SUBSCRIPTIONS)
    monkeypatch.setenv("AIRLOCK_TENANTS_DIR", str(tenants))
    monkeypatch.setenv("AIRLOCK_DATAFLOWS_DIR", str(dataflows))
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    out = tmp_path / "out"

    assert cli.main(["lineage", "--manifest", str(path), "--out", str(out)]) == 0
    assert "3 tenant(s)" in capsys.readouterr().out
    assert (out / "lineage.mmd").read_text().startswith("flowchart LR")
    assert "<svg" in (out / "lineage.html").read_text()
    data = json.loads((out / "lineage.json").read_text())
    assert {"landing:acme/orders", "relation:tenant_globex.fct_orders"} <= {n["id"] for n in data["nodes"]}

    assert cli.main(["lineage", "--manifest", str(path), "--stdout", "mermaid"]) == 0
    assert capsys.readouterr().out.startswith("flowchart LR")

    assert cli.main(["lineage", "--manifest", str(tmp_path / "missing.json")]) == 2
    assert "make manifest" in capsys.readouterr().err


def test_a_broken_manifest_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "manifest.json"
    bad.write_text("{}")
    with pytest.raises(ManifestError, match="no 'nodes'"):
        load_manifest(bad)
