"""A small client for Airflow's REST API (v2), for the dev stack, the demo and end-to-end tests.

The local stack runs the simple auth manager with every user an admin, so no token is needed.
Field names follow the API server's /openapi.json (Airflow 3.3).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from airlock.errors import AirlockError


class AirflowApiError(AirlockError):
    """The API server refused a request or did not answer."""


class AirflowApi:
    """Thin wrapper over /api/v2: each method is one endpoint, returning the decoded JSON."""

    def __init__(self, base_url: str, *, timeout: float = 30.0, attempts: int = 3, token: str | None = None) -> None:
        """`token`: a bearer token where the API wants one (an Astro deployment API token, a JWT from /auth/token)."""
        self.attempts = attempts
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else None
        self._http = httpx.Client(base_url=f"{self.base_url}/api/v2", timeout=timeout, headers=headers)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AirflowApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        # A busy 2-core machine can stall the API server for a while: retry transport errors
        # (timeouts, resets); every call this client makes is safe to repeat.
        for attempt in range(1, self.attempts + 1):
            try:
                response = self._http.request(method, path, **kwargs)
                break
            except httpx.TransportError as exc:
                if attempt == self.attempts:
                    raise AirflowApiError(f"{method} {self.base_url}/api/v2{path}: {exc}") from None
                time.sleep(attempt)
        if response.status_code >= 400:
            raise AirflowApiError(
                f"{method} {self.base_url}/api/v2{path}: HTTP {response.status_code}: {response.text[:500]}"
            )
        return response.json() if response.content else None

    # -- monitoring ---------------------------------------------------------------------------------
    def health(self, *, timeout: float | None = None) -> dict[str, Any]:
        """GET /monitor/health: metadatabase, scheduler, triggerer, dag_processor, each with a status."""
        return self._request("GET", "/monitor/health", **({"timeout": timeout} if timeout else {}))

    def openapi(self) -> dict[str, Any]:
        """The server's own OpenAPI document: the authority on the field names used here."""
        try:
            response = self._http.get(f"{self.base_url}/openapi.json")
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise AirflowApiError(f"GET {self.base_url}/openapi.json: {exc}") from None
        return response.json()

    def import_errors(self) -> list[dict[str, Any]]:
        """GET /importErrors: each with filename, bundle_name, stack_trace, timestamp."""
        return self._request("GET", "/importErrors", params={"limit": 100})["import_errors"]

    # -- DAGs ---------------------------------------------------------------------------------------
    def dags(self) -> list[dict[str, Any]]:
        return self._request("GET", "/dags", params={"limit": 1000})["dags"]

    def dag(self, dag_id: str) -> dict[str, Any] | None:
        """The DAG, or None if the DAG processor has not (yet) stored it."""
        try:
            return self._request("GET", f"/dags/{dag_id}")
        except AirflowApiError as exc:
            if "HTTP 404" in str(exc):
                return None
            raise

    def set_paused(self, dag_id: str, paused: bool = False) -> dict[str, Any]:
        return self._request("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})

    def unpause(self, dag_id: str) -> dict[str, Any]:
        return self.set_paused(dag_id, False)

    # -- DAG runs -----------------------------------------------------------------------------------
    def dag_runs(
        self,
        dag_id: str = "~",
        *,
        limit: int = 100,
        state: str | list[str] | None = None,
        partition_key: str | None = None,
        partition_key_prefix: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first. Each has dag_run_id, state, start_date, end_date, run_type, conf, partition_key.

        dag_id "~" lists the runs of every DAG; `partition_key` is an exact match (e.g. "acme|b-1");
        `partition_key_prefix` a literal prefix (e.g. "acme|": every run of a tenant).
        """
        params: dict[str, Any] = {"limit": limit, "order_by": "-run_after"}
        if state:
            params["state"] = state
        if partition_key_prefix is not None:
            params["partition_key_prefix_pattern"] = partition_key_prefix
        if partition_key is not None:
            # The server's filter is ILIKE '%term%' with '|' meaning OR, so "acme|b-1" matches a superset
            # (any key containing acme or b-1): narrow it server-side, then keep exact matches here.
            params["partition_key_pattern"] = partition_key
        runs = self._request("GET", f"/dags/{dag_id}/dagRuns", params=params)["dag_runs"]
        if partition_key is not None:
            runs = [r for r in runs if r.get("partition_key") == partition_key]
        return runs

    def trigger(
        self,
        dag_id: str,
        *,
        conf: dict[str, Any] | None = None,
        run_id: str | None = None,
        partition_key: str | None = None,
    ) -> dict[str, Any]:
        """POST /dags/{dag_id}/dagRuns with no logical date (runs now, as a manual run)."""
        body: dict[str, Any] = {"logical_date": None, "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        if partition_key is not None:
            body["partition_key"] = partition_key
        return self._request("POST", f"/dags/{dag_id}/dagRuns", json=body)

    def clear_partition(
        self, dag_id: str, partition_key: str, *, note: str | None = None, dry_run: bool = False
    ) -> list[dict[str, Any]]:
        """POST /dags/{dag_id}/clearDagRuns by `partition_key` (Airflow 3.3's partition-aware clear).

        Every run of the DAG with that exact key is re-queued; returns the cleared runs (with `dry_run`, the
        task instances it would clear). The REST twin of `airflow dags clear DAG --partition-key KEY`.
        """
        body: dict[str, Any] = {"partition_key": partition_key, "dry_run": dry_run}
        if note:
            body["note"] = note
        answer = self._request("POST", f"/dags/{dag_id}/clearDagRuns", json=body)
        return answer.get("task_instances" if dry_run else "dag_runs", [])

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self._request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]

    def wait_for_runs(
        self,
        dag_id: str,
        predicate: Callable[[list[dict[str, Any]]], bool],
        *,
        timeout: float = 60.0,
        interval: float = 0.5,
    ) -> list[dict[str, Any]]:
        """Poll the DAG's runs until `predicate(runs)` holds; AirflowApiError with the runs seen at the deadline.

        `timeout` is for an idle machine: it stretches with the load (devstack.processes.load_patience).
        """
        from airlock.devstack.processes import load_patience

        timeout *= load_patience()
        deadline = time.monotonic() + timeout
        runs: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            runs = self.dag_runs(dag_id)
            if predicate(runs):
                return runs
            time.sleep(interval)
        states = [(r["dag_run_id"], r["state"]) for r in runs[:5]]
        raise AirflowApiError(f"{dag_id}: condition not met within {timeout:.0f}s; latest runs: {states}")

    # -- assets -------------------------------------------------------------------------------------
    def assets(self, *, name_pattern: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": 1000}
        if name_pattern:
            params["name_pattern"] = name_pattern
        return self._request("GET", "/assets", params=params)["assets"]

    def asset_id(self, name: str) -> int | None:
        return next((a["id"] for a in self.assets(name_pattern=name) if a["name"] == name), None)

    def asset_events(
        self, *, asset_id: int | None = None, limit: int = 100, source_dag_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Newest first. Each has asset_id, name, uri, extra, partition_key, source_dag_id, timestamp."""
        params: dict[str, Any] = {"limit": limit, "order_by": "-timestamp"}
        if asset_id is not None:
            params["asset_id"] = asset_id
        if source_dag_id:
            params["source_dag_id"] = source_dag_id
        return self._request("GET", "/assets/events", params=params)["asset_events"]

    def create_asset_event(
        self, asset_id: int, *, extra: dict[str, Any] | None = None, partition_key: str | None = None
    ) -> dict[str, Any]:
        """POST /assets/events: the push path (an external system announces an asset update)."""
        body: dict[str, Any] = {"asset_id": asset_id, "extra": extra or {}}
        if partition_key is not None:
            body["partition_key"] = partition_key
        return self._request("POST", "/assets/events", json=body)
