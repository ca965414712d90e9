"""Parse one DAG folder in this (fresh) process and print the timings as JSON: DagBag fill, serialization.

Run by bench/tenant_scale.py as `python bench/_parse_probe.py <dags_folder>`; a fresh process
per measurement, because Airflow and Cosmos cache aggressively within one.
"""

import json
import sys
import time

started = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag  # noqa: E402
from airflow.serialization.serialized_objects import DagSerialization  # noqa: E402

imported = time.perf_counter()
bag = (
    DagBag(sys.argv[1], include_examples=False)
    if "include_examples" in DagBag.__init__.__code__.co_varnames
    else DagBag(sys.argv[1])
)
filled = time.perf_counter()
for dag in bag.dags.values():
    DagSerialization.serialize_dag(dag)
serialized = time.perf_counter()
print(
    json.dumps(
        {
            "import_s": imported - started,
            "dagbag_s": filled - imported,
            "serialize_s": serialized - filled,
            "parse_s": serialized - imported,
            "dags": len(bag.dags),
            "import_errors": {k: v[-300:] for k, v in bag.import_errors.items()},
        }
    )
)
