"""Airflow plugin: the airlock tenant x batch status page, a page of Airflow 3's own UI.

Thin on purpose: the app and the page live in airlock.observability.web (and its static/status.js).
The api-server mounts the FastAPI app at /airlock/status; the React app entry puts the page in the
UI's Browse menu at /plugin/airlock-status, rendered by the UI itself (Airflow's React and Chakra UI).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airlock.observability.web import PAGE_ROUTE, app_from_env


class AirlockStatusPlugin(AirflowPlugin):
    name = "airlock_status"
    fastapi_apps = [{"app": app_from_env(), "url_prefix": "/airlock/status", "name": "airlock status"}]
    react_apps = [
        {
            "name": "Tenant batches",
            "bundle_url": "airlock/status/static/status.js",
            "destination": "nav",
            "category": "browse",
            "url_route": PAGE_ROUTE,
        }
    ]
