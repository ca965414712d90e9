"""plugins/: the dbt docs entry never opens a raw 404, the status plugin is a React app entry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import importlib.util, json, os, sys
spec = importlib.util.spec_from_file_location("airlock_dbt_docs", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
plugin = module.AirlockDbtDocsPlugin
from fastapi.testclient import TestClient
page = TestClient(plugin.fastapi_apps[0]["app"]).get("/").text if plugin.fastapi_apps else None
print(json.dumps({"env": os.environ.get("AIRFLOW__COSMOS__DBT_DOCS_PROJECTS"),
                  "views": plugin.external_views, "page": page}))
"""


def _load(docs: Path | str, tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__COSMOS__")}
    env.update(AIRLOCK_DBT_DOCS_DIR=str(docs), AIRFLOW_HOME=str(tmp_path / "airflow"),
               PYTHONPATH=str(ROOT / "include"))  # fmt: skip
    done = subprocess.run([sys.executable, "-c", PROBE, str(ROOT / "plugins" / "airlock_dbt_docs.py")], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_before_make_dbt_docs_the_menu_opens_a_page_that_says_what_to_run(tmp_path: Path) -> None:
    got = _load(tmp_path / "docs", tmp_path)
    assert got["env"] is None  # Cosmos's own entry (and its raw 404) is not registered
    assert [(v["name"], v["href"], v["category"]) for v in got["views"]] == [
        ("dbt Docs (airlock)", "airlock/dbt-docs/", "browse")
    ]
    assert "make dbt-docs" in got["page"] and "index.html" in got["page"]


def test_once_the_docs_exist_cosmos_serves_them(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.html").write_text("<html>dbt</html>")
    got = _load(docs, tmp_path)
    assert json.loads(got["env"])["airlock"]["dir"] == str(docs)
    assert got["views"] == [] and got["page"] is None


def test_a_remote_location_is_handed_to_cosmos_unchecked(tmp_path: Path) -> None:
    got = _load("s3://bucket/docs", tmp_path)
    assert json.loads(got["env"])["airlock"]["dir"] == "s3://bucket/docs" and got["views"] == []
