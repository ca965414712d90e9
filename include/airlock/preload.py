"""Load once, in the scheduler's forkserver, what every task process would otherwise load again.

Airflow 3 runs each task in a fresh fork of a LocalExecutor worker, and the task first parses its DAG
file. Measured on the local stack: `processing.py` took 0.7-1.3 s to parse in each of a batch's four
task processes (Cosmos, the manifest, Airflow's models), the router's file 0.5-0.7 s, and the router's
task then spent ~0.3 s importing `airlock.tasks` and boto3. With these modules already in the worker
the same parses take 0.04 s and 0.01 s.

Airflow's documented hook does this: `[scheduler] mp_start_method = forkserver` starts the workers
from a forkserver, and `mp_forkserver_preload = airlock.preload` imports this module there first,
so every worker, and every task forked from one, inherits it copy-on-write. DAG files are still
parsed in each task (a tenant added a second ago is seen); only their imports come ready.

This runs in the forkserver before any worker exists: it must never raise (the forkserver survives
only an ImportError), and it opens no connection and starts no thread, which would not survive
the fork. On Celery or Kubernetes executors (Astro Hosted, MWAA) the setting has no effect.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)

# Imported by the tasks' callables at run time rather than by the DAG files.
RUNTIME_MODULES = ("airflow.sdk.execution_time.task_runner", "airlock.tasks", "boto3", "botocore.client")


def warm() -> float:
    """Import the runtime modules and parse the DAG folder the way a task does; return the seconds."""
    started = time.monotonic()
    for module in RUNTIME_MODULES:
        __import__(module)
    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import BundleDagBag  # the class the task runner parses with
    from airflow.sdk.listener import get_listener_manager
    from airflow.sdk.plugins_manager import integrate_macros_plugins

    # What the task runner does first: load the plugins (cached per process; Cosmos's imports its
    # operators, 1.2-2.8 s in a task on the local stack) and integrate their listeners and macros.
    get_listener_manager()
    integrate_macros_plugins()

    dags_folder = conf.get("core", "dags_folder")
    bag = BundleDagBag(dag_folder=dags_folder, safe_mode=True, load_op_links=False, bundle_path=dags_folder)
    if bag.import_errors:
        log.warning("airlock.preload: DAG files with import errors: %s", sorted(bag.import_errors))
    return time.monotonic() - started


try:
    log.info("airlock.preload: task modules loaded in %.2fs", warm())
except Exception:  # a preload that raises would take the scheduler's workers down with it
    log.warning("airlock.preload: skipped (each task will load its own modules)", exc_info=True)
