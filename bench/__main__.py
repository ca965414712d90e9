"""Run benchmarks and record their figures with the machine they ran on.

Each module bench/<name>.py (not starting with '_') defines `run() -> dict` returning figures,
among them `target_met` (bool) where the issue sets a target. Results go to
bench/results/<name>.json; a table of the headline figures is printed at the end.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        cpu = platform.processor()
    try:
        mem_kib = int(
            next(
                line.split()[1]
                for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")
            )
        )
    except (OSError, StopIteration):
        mem_kib = 0
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": os.getloadavg(),
        "git_commit": commit,
    }


def available() -> list[str]:
    return sorted(
        p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_") and "def run(" in p.read_text(encoding="utf-8")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {available()})")
    args = parser.parse_args(argv)
    names = args.names or available()
    unknown = set(names) - set(available())
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; choose from {available()}")
    RESULTS.mkdir(exist_ok=True)
    summary = []
    failed = False
    for name in names:
        print(f"==> bench {name}", flush=True)
        started = time.monotonic()
        try:
            figures = importlib.import_module(f"bench.{name}").run()
        except Exception as exc:  # report and go on: one broken benchmark must not hide the others
            print(f"    {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            failed = True
            continue
        record = {
            "name": name,
            "recorded_at": datetime.now(UTC).isoformat(),
            "seconds": round(time.monotonic() - started, 1),
            "machine": machine(),
            "figures": figures,
        }
        (RESULTS / f"{name}.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
        summary.append((name, figures.get("summary", ""), figures.get("target_met")))
    print()
    width = max((len(n) for n, _, _ in summary), default=4)
    for name, text, met in summary:
        mark = {True: "target met", False: "TARGET MISSED", None: ""}[met]
        print(f"{name.ljust(width)}  {mark:<13}  {text}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
