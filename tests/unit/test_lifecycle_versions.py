"""Code+data versions: what changes a run's output changes its version, and nothing else does."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from airlock.lifecycle.versions import (
    changed_nodes,
    code_version,
    content_hash,
    read_code,
    record_code,
    selected_nodes,
)
from airlock.storage import LocalStorage
from airlock.tenants import load_dataflows

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "dbt_project" / "target" / "manifest.json"


@pytest.fixture(scope="module")
def manifest() -> dict:
    if not MANIFEST.is_file():
        pytest.fail("dbt_project/target/manifest.json is missing: run `make manifest` (make test does)")
    return json.loads(MANIFEST.read_text())


@pytest.fixture(scope="module")
def flows():
    return load_dataflows(REPO / "dags" / "registry" / "dataflows")


def write(tmp_path: Path, manifest: dict, name: str = "manifest.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(manifest))
    return path


def test_content_hash_is_the_files_not_their_order_nor_the_snapshot_time():
    files = [
        {"table": "orders", "file": "o.csv", "sha256": "1"},
        {"table": "customers", "file": "c.csv", "sha256": "2"},
    ]
    a = content_hash({"snapshot_ts": "t1", "files": files})
    assert a == content_hash({"snapshot_ts": "t2", "files": list(reversed(files))})
    assert a != content_hash({"files": [files[0], {**files[1], "sha256": "3"}]})


def test_selection_is_the_processing_dags_own(flows):
    orders = selected_nodes(flows["orders"], MANIFEST)
    assert "model.airlock.fct_orders" in orders and "model.airlock.fct_stock_levels" not in orders
    assert any(uid.startswith("test.") for uid in orders), "the models' tests are part of the run"
    manifest = json.loads(MANIFEST.read_text())
    assert not [u for u in orders if "samples" in manifest["nodes"][u].get("tags", [])]


def test_a_model_change_changes_its_dataflow_only(tmp_path, manifest, flows):
    before = {name: code_version(flow, write(tmp_path, manifest, "a.json")) for name, flow in flows.items()}
    changed = copy.deepcopy(manifest)
    changed["nodes"]["model.airlock.fct_orders"]["checksum"]["checksum"] = "0" * 64
    after = {name: code_version(flow, write(tmp_path, changed, "b.json")) for name, flow in flows.items()}
    assert before["orders"].version != after["orders"].version
    assert before["inventory"].version == after["inventory"].version
    assert changed_nodes(before["orders"].nodes, after["orders"].nodes) == {"model.airlock.fct_orders": "modified"}


def test_an_upstream_seed_and_a_called_macro_count(tmp_path, manifest, flows):
    base = code_version(flows["orders"], write(tmp_path, manifest, "a.json"))
    seed = copy.deepcopy(manifest)
    seed["nodes"]["seed.airlock.country_regions"]["checksum"]["checksum"] = "1" * 64
    assert code_version(flows["orders"], write(tmp_path, seed, "b.json")).version != base.version
    macro = copy.deepcopy(manifest)
    called = manifest["nodes"]["model.airlock.fct_orders"]["depends_on"]["macros"][0]
    macro["macros"][called]["macro_sql"] += "\n-- changed"
    assert code_version(flows["orders"], write(tmp_path, macro, "c.json")).version != base.version


def test_a_config_change_counts(tmp_path, manifest, flows):
    base = code_version(flows["orders"], write(tmp_path, manifest, "a.json"))
    config = copy.deepcopy(manifest)
    config["nodes"]["model.airlock.fct_orders"]["config"]["materialized"] = "view"
    assert code_version(flows["orders"], write(tmp_path, config, "b.json")).version != base.version


def test_fingerprints_are_kept_once_per_version(tmp_path, flows):
    raw = LocalStorage(tmp_path / "raw")
    code = code_version(flows["orders"], MANIFEST)
    record_code(raw, code)
    record_code(raw, code)
    assert read_code(raw, code.version) == code.nodes
    assert read_code(raw, "f" * 64) is None
    assert changed_nodes(None, {"a": "1"}) == {"a": "new"}
    assert changed_nodes({"a": "1", "b": "2"}, {"a": "1"}) == {"b": "removed"}
