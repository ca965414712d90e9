"""package_mwaa: size and build time of the MWAA package, and the packaged DAGs' DagBag load time.

The DagBag is loaded by the clean venv of the import proof (Airflow + the packaged requirements only,
startup.sh's environment), so the figure is what MWAA's DAG processor pays per parse of the kit's
DAGs, on top of `import airflow`. Target: DagBag <= 2 s. The clean venv is reused from
.airlock/cache when the requirements are unchanged (AIRLOCK_FRESH_VENV=1 times a cold build).
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

from airlock.packaging.mwaa import build_mwaa_package
from airlock.packaging.verify import cache_dir, prove_import

ROOT = Path(__file__).resolve().parents[1]
MWAA_AIRFLOW_VERSION = "3.3.1"
TARGET_DAGBAG_SECONDS = 2.0
BUILDS = 5


def run() -> dict[str, Any]:
    """Build the package BUILDS times (median build time), then run the import proof once."""
    with tempfile.TemporaryDirectory(prefix="bench-mwaa-") as tmp:
        work = Path(tmp)
        builds = [
            build_mwaa_package(ROOT, work / f"pkg{i}", MWAA_AIRFLOW_VERSION, make_zip=True) for i in range(BUILDS)
        ]
        last = builds[-1]
        proof = prove_import(ROOT, work / "proof", cache_dir=cache_dir(ROOT))
    dagbag = float(proof["dagbag_seconds"])
    return {
        "name": "package_mwaa",
        "airflow_version": MWAA_AIRFLOW_VERSION,
        "package_files": last.files,
        "package_bytes": last.size_bytes,
        "package_mb": round(last.size_bytes / 1e6, 3),
        "zip_bytes": last.zip_bytes,
        "build_seconds_median": round(statistics.median(b.build_seconds for b in builds), 3),
        "build_seconds_all": [b.build_seconds for b in builds],
        "dag_files": last.dag_files,
        "dag_ids": proof["dag_ids"],
        "import_errors": proof["import_errors"],
        "dagbag_seconds": dagbag,
        "dagbag_cpu_seconds": proof["dagbag_cpu_seconds"],
        "dagbag_file_seconds": proof.get("file_seconds"),
        "import_airflow_seconds": proof["import_airflow_seconds"],
        "dagbag_target_seconds": TARGET_DAGBAG_SECONDS,
        "dagbag_within_target": dagbag <= TARGET_DAGBAG_SECONDS,
        "clean_venv_seconds": proof["venv_seconds"],
        "clean_venv_reused": proof["venv_reused"],
        "startup_sh_seconds": proof["startup_seconds"],
        "python": proof["python"],
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
