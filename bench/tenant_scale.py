"""tenant_scale: DAG-folder parse time with 10 and 1,000 tenants, ours vs a DAG-per-tenant factory.

"Parse" is what the DAG processor pays per pass: filling a DagBag from the folder plus serializing
its DAGs, measured in a fresh process (the median of REPEATS) after `import airflow`. Ours reads
only the tenant files' *names* at parse time (the router's one SQS watcher per tenant queue);
the baseline reads every tenant's YAML and builds a DAG per tenant and dataflow.
Target: ours grows by at most 1.2x from 10 to 1,000 tenants.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench._parse import parse_in_fresh_process

ROOT = Path(__file__).resolve().parents[1]
COUNTS = (10, 1000)
REPEATS = 3
TARGET_GROWTH = 1.2


def make_registry(folder: Path, count: int) -> Path:
    """`count` tenants shaped like the demo's acme, named t0000, t0001, ..."""
    tenants = folder / f"tenants_{count}"
    tenants.mkdir(parents=True)
    template = (ROOT / "dags" / "registry" / "tenants" / "acme.yaml").read_text()
    for i in range(count):
        tid = f"t{i:04d}"
        text = template.replace("tenant_id: acme", f"tenant_id: {tid}").replace("tenant_acme", f"tenant_{tid}")
        (tenants / f"{tid}.yaml").write_text(text)
    return tenants


def probe(dags: Path, tenants: Path) -> dict[str, Any]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "include"),
        "AIRLOCK_TENANTS_DIR": str(tenants),
        "AIRLOCK_QUEUE_URL_TEMPLATE": "https://sqs.eu-west-1.amazonaws.com/123456789012/airlock-prod-{tenant}-landing",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "600",  # the baseline at 1,000 tenants takes longer than 30 s
        "AIRFLOW_HOME": str(tenants.parent / "airflow_home"),
    }
    runs = [parse_in_fresh_process(dags, env) for _ in range(REPEATS)]
    return {
        "parse_s": round(statistics.median(r["parse_s"] for r in runs), 3),
        "dagbag_s": round(statistics.median(r["dagbag_s"] for r in runs), 3),
        "serialize_s": round(statistics.median(r["serialize_s"] for r in runs), 3),
        "dags": runs[0]["dags"],
    }


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-tenant-scale-") as tmp:
        work = Path(tmp)
        baseline = work / "baseline_dags"
        shutil.copytree(ROOT / "bench" / "baseline_dags", baseline)
        figures: dict[str, Any] = {"repeats": REPEATS, "ours": {}, "baseline": {}}
        for count in COUNTS:
            tenants = make_registry(work, count)
            figures["ours"][count] = probe(ROOT / "dags", tenants)
            figures["baseline"][count] = probe(baseline, tenants)
            print(f"    {count} tenants: ours {figures['ours'][count]}, baseline {figures['baseline'][count]}")
    low, high = COUNTS
    ours = figures["ours"][high]["parse_s"] / figures["ours"][low]["parse_s"]
    base = figures["baseline"][high]["parse_s"] / figures["baseline"][low]["parse_s"]
    figures["growth_ours"] = round(ours, 2)
    figures["growth_baseline"] = round(base, 2)
    figures["target_met"] = ours <= TARGET_GROWTH
    figures["summary"] = (
        f"parse {figures['ours'][low]['parse_s']}s -> {figures['ours'][high]['parse_s']}s ({ours:.2f}x) for "
        f"{low} -> {high} tenants; DAG-per-tenant baseline {figures['baseline'][low]['parse_s']}s -> "
        f"{figures['baseline'][high]['parse_s']}s ({base:.1f}x)"
    )
    return figures
