"""Airflow plugin: the airlock tenant x batch status page inside the Airflow UI.

Thin on purpose: the app lives in airlock.observability.web. The FastAPI app is mounted by the
api-server at /airlock/status; the external view puts it in the UI's Browse menu (rendered in an
iframe at /plugin/airlock-status).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airlock.observability.web import app_from_env


class AirlockStatusPlugin(AirflowPlugin):
    name = "airlock_status"
    fastapi_apps = [{"app": app_from_env(), "url_prefix": "/airlock/status", "name": "airlock status"}]
    external_views = [
        {
            "name": "Tenant batches",
            "href": "airlock/status/",
            "destination": "nav",
            "category": "browse",
            "url_route": "airlock-status",
        }
    ]
