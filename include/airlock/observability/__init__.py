"""Observability for airlock: tenant batch status, lineage, Datadog monitors, StatsD and JSON logs.

Airflow shows runs; these modules show tenants and batches, from the storage markers alone.
"""
