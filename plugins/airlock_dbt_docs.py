"""Point Cosmos's dbt docs page (Airflow 3 UI, Browse menu) at the kit's dbt project.

Cosmos ships the page as an entry-point plugin configured by `[cosmos] dbt_docs_projects`. Airflow loads
this folder's plugins before entry-point ones, so setting the option here (unless the deployment already
set it) is early enough, and no deployment has to spell out the JSON.
The docs themselves come from `make dbt-docs` (local) or the image build
(`dbt docs generate --target-path target/docs`). Before they exist, Cosmos's page would answer a raw
404: then the project is not registered, and Browse > dbt Docs opens a page that says how to make them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from airflow.configuration import conf
from airflow.plugins_manager import AirflowPlugin
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

DOCS_SLUG = "airlock"
DOCS_ENV = "AIRFLOW__COSMOS__DBT_DOCS_PROJECTS"
MENU_NAME = "dbt Docs (airlock)"


def docs_dir() -> str:
    """Where `dbt docs generate` wrote index.html: AIRLOCK_DBT_DOCS_DIR, else <home>/dbt_project/target/docs.

    An s3:// location works too (Cosmos reads it through Airflow's object storage with AIRLOCK_AWS_CONN_ID).
    """
    if explicit := os.environ.get("AIRLOCK_DBT_DOCS_DIR"):
        return explicit
    home = Path(os.environ.get("AIRLOCK_HOME") or Path(__file__).resolve().parent.parent)
    return str(home / "dbt_project" / "target" / "docs")


def docs_projects() -> dict[str, dict[str, str | None]]:
    """The value of `[cosmos] dbt_docs_projects` for the kit's one dbt project."""
    location = docs_dir()
    conn_id = os.environ.get("AIRLOCK_AWS_CONN_ID", "aws_default") if location.startswith("s3://") else None
    return {DOCS_SLUG: {"dir": location, "conn_id": conn_id, "index": "index.html", "name": MENU_NAME}}


def docs_missing() -> bool:
    """True when the docs are a local folder without index.html (an s3:// location is not checked here)."""
    location = docs_dir()
    return "://" not in location and not (Path(location) / "index.html").is_file()


def not_generated_app() -> FastAPI:
    """The page Browse > dbt Docs opens while there are no docs: what to run, not a 404."""
    app = FastAPI(title="airlock dbt docs", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/", response_class=HTMLResponse)
    async def not_generated() -> str:
        return (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>dbt Docs</title></head>"
            "<body style='font-family:system-ui,sans-serif;margin:24px;max-width:46em'>"
            "<h2>The dbt docs have not been generated yet</h2>"
            f"<p>They are read from <code>{docs_dir()}/index.html</code>, which does not exist.</p>"
            "<p>Locally: run <code>make dbt-docs</code>, then restart <code>make dev</code> (Airflow reads its "
            "plugins at start). In an image: <code>dbt docs generate --target-path target/docs</code> at build "
            "time, or set <code>AIRLOCK_DBT_DOCS_DIR</code> to where they are (<code>s3://</code> works too).</p>"
            "</body></html>"
        )

    return app


# Through the environment, not conf.set(): Cosmos reads the option with the Task SDK's config parser,
# a different object from airflow.configuration.conf; both read AIRFLOW__* variables at lookup time.
CONFIGURED_ELSEWHERE = bool(conf.get("cosmos", "dbt_docs_projects", fallback=None))
if not CONFIGURED_ELSEWHERE and not docs_missing():
    os.environ.setdefault(DOCS_ENV, json.dumps(docs_projects()))


class AirlockDbtDocsPlugin(AirflowPlugin):
    """Configures Cosmos's own dbt docs plugin; until the docs exist, a menu entry that says how to make them."""

    name = "airlock_dbt_docs"
    if not CONFIGURED_ELSEWHERE and docs_missing():
        fastapi_apps = [{"app": not_generated_app(), "url_prefix": "/airlock/dbt-docs", "name": "airlock dbt docs"}]
        external_views = [{"name": MENU_NAME, "href": "airlock/dbt-docs/", "destination": "nav", "category": "browse"}]
