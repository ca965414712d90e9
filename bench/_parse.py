"""DAG-folder parse time in a fresh process (bench/_parse_probe.py), shared by the benches that measure it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def parse_in_fresh_process(dags: Path, env: dict[str, str]) -> dict[str, Any]:
    """Parse `dags` as the DAG processor would, in a new interpreter; raise on import errors."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "_parse_probe.py"), str(dags)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["import_errors"]:
        raise RuntimeError(f"import errors while parsing {dags}: {result['import_errors']}")
    return result
