"""Point Cosmos's dbt docs page (Airflow 3 UI, Browse menu) at the kit's dbt project.

Cosmos ships the page as an entry-point plugin configured by `[cosmos] dbt_docs_projects`. Airflow loads
this folder's plugins before entry-point ones, so setting the option here (unless the deployment already
set it) is early enough, and no deployment has to spell out the JSON.
The docs themselves come from `make dbt-docs` (local) or the image build
(`dbt docs generate --target-path target/docs`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from airflow.configuration import conf
from airflow.plugins_manager import AirflowPlugin

DOCS_SLUG = "airlock"
DOCS_ENV = "AIRFLOW__COSMOS__DBT_DOCS_PROJECTS"


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
    return {DOCS_SLUG: {"dir": location, "conn_id": conn_id, "index": "index.html", "name": "dbt Docs (airlock)"}}


# Through the environment, not conf.set(): Cosmos reads the option with the Task SDK's config parser,
# a different object from airflow.configuration.conf; both read AIRFLOW__* variables at lookup time.
if not conf.get("cosmos", "dbt_docs_projects", fallback=None):
    os.environ.setdefault(DOCS_ENV, json.dumps(docs_projects()))


class AirlockDbtDocsPlugin(AirflowPlugin):
    """Registers nothing itself: importing this module configures Cosmos's own dbt docs plugin."""

    name = "airlock_dbt_docs"
