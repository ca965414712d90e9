"""The local development stack: moto, the landing-zone wiring and real Airflow processes.

`LocalStack` is the entry point (used by `airlock dev`, the demo and tests/e2e); the modules
below it can also be used alone: `processes` (supervision), `local_aws` (moto + wiring),
`airflow_stack` (Airflow components), `airflow_api` (REST client).
"""

from airlock.devstack.airflow_api import AirflowApi, AirflowApiError
from airlock.devstack.processes import ProcessError, StopReport, Supervisor, reap_stale
from airlock.devstack.stack import LocalStack

__all__ = [
    "AirflowApi",
    "AirflowApiError",
    "LocalStack",
    "ProcessError",
    "StopReport",
    "Supervisor",
    "reap_stale",
]
