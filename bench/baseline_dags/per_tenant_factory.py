"""Airflow DAG factory, one DAG per tenant and dataflow: the baseline `tenant_scale` compares against.

This is the pattern teams fall back to without partitions: read every tenant file at parse time
and stamp out a DAG each. It is here to be measured, not used.
"""

import os
from pathlib import Path

import yaml
from airflow.sdk import DAG, task

for path in sorted(Path(os.environ["AIRLOCK_TENANTS_DIR"]).glob("*.yaml")):
    tenant = yaml.safe_load(path.read_text())
    for dataflow in tenant["dataflows"]:
        with DAG(dag_id=f"process_{tenant['tenant_id']}_{dataflow}", schedule=None, tags=["baseline"]):

            @task
            def claim() -> str:
                return "claimed"

            @task
            def load(_: str) -> str:
                return "loaded"

            @task
            def transform(_: str) -> str:
                return "transformed"

            @task
            def publish(_: str) -> None:
                return None

            publish(transform(load(claim())))
