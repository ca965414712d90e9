"""airlock: multi-tenant, event-driven dbt pipelines on Apache Airflow 3.

The package holds all logic; DAG files under dags/ only wire it up, so everything here is
importable and testable without a scheduler.
"""

__version__ = "0.1.0"
