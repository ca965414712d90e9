"""Registers airlock.run_notes: each processing run's note names its tenant and batch (Airflow's UI)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from airlock import run_notes


class AirlockRunNotesPlugin(AirflowPlugin):
    name = "airlock_run_notes"
    listeners = [run_notes]
