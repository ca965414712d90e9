"""dbt in a processing run: one isolated `dbt build` per batch, and how Airflow shows its models.

Modules (imported by name; this package imports nothing, so the runner can load in dbt's own venv):
- config      which project, profile, target and mode (AIRLOCK_DBT_*), checked when DAGs parse
- selection   a dataflow's nodes, read from the prebuilt manifest (no dbt at parse time)
- runner      the build itself, run by `python -m airlock.isolation` in dbt's venv, a pod or an ECS task
- results     dbt's JSON log stream → per-node results, failure kind and resume selection
- operators   the build task per target (subprocess, Kubernetes pod, ECS task)
- model_tasks per-model status tasks that start and end in the triggerer
- per_model   LOCAL per model (Cosmos), kept available by configuration
- steps       the dbt part of a processing DAG, for the configured mode
"""
