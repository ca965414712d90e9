"""fresh_setup: seconds from a clean clone to `demo ok`, as a new engineer's first `make demo`. Target <= 180 s.

In a temp dir: `git clone` of this checkout's HEAD, then `make demo` with empty uv and pip caches
(UV_CACHE_DIR / PIP_CACHE_DIR in the temp dir), so every package is downloaded from the registry.
In the same run, pip installs the same lock files into fresh venvs with an empty cache of its own
(pip's local wheel folder, PIP_FIND_LINKS, is switched off: uv does not see it either), so the two
installers are compared on one machine at one load. The demo's own figures (its upload→run p50 on a
fresh stack, its stop) are parsed from its output.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from airlock.devstack.local_aws import free_port

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 180.0
TIMEOUT_SECONDS = 1800
LOCKS = {".venv": "requirements-dev.lock", ".venv-dbt": "requirements-dbt.lock"}


def _clean_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PIP_FIND_LINKS", "AIRLOCK_"))}
    env.pop("PYTHONPATH", None)
    env.update(UV_CACHE_DIR=str(work / "uv-cache"), PIP_CACHE_DIR=str(work / "pip-cache"))
    return env


def _make_demo(work: Path) -> dict[str, Any]:
    repo = work / "repo"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(repo)], check=True, timeout=120)
    env = _clean_env(work)
    started = time.monotonic()
    lines: list[tuple[float, str]] = []
    proc = subprocess.Popen(
        ["make", "demo", f"DEMO_ARGS=--port {free_port()}"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append((time.monotonic() - started, line.rstrip()))
        print(f"    [{lines[-1][0]:6.1f}s] {line.rstrip()}", flush=True)
    code = proc.wait(timeout=TIMEOUT_SECONDS)
    total = time.monotonic() - started
    ok = next((t for t, line in lines if line.startswith("demo ok:")), None)
    text = "\n".join(line for _, line in lines)
    if code != 0 or ok is None:
        raise RuntimeError(f"make demo failed (exit {code}); last lines:\n" + "\n".join(text.splitlines()[-30:]))

    def seconds_of(pattern: str) -> float | None:
        found = re.search(pattern, text)
        return float(found.group(1)) if found else None

    first_python = next((t for t, line in lines if "[devstack]" in line), None)
    return {
        "seconds_to_demo_ok": round(ok, 1),
        "seconds_make_demo_exit": round(total, 1),
        "seconds_install_and_manifest": round(first_python, 1) if first_python is not None else None,
        "venv_seconds_uv": {venv: seconds_of(rf"{re.escape(venv)} ready in (\d+)s") for venv in LOCKS},
        "demo_upload_to_run_p50_s": seconds_of(r"upload→run p50 ([\d.]+)s"),
        "demo_stop_seconds": seconds_of(r"\[devstack\] stopped .* in ([\d.]+)s"),
        "demo_stop_line": next((line for _, line in lines if line.startswith("[devstack] stopped")), None),
        "sigkill_at_stop": "SIGKILL" in (next((line for _, line in lines if "[devstack] stopped" in line), "")),
        "uv": subprocess.run(["uv", "--version"], capture_output=True, text=True, check=False).stdout.strip(),
    }


def _pip_install(work: Path) -> dict[str, Any]:
    """pip, the same locks, fresh venvs and an empty cache: what `make venv INSTALLER=pip` does."""
    env = _clean_env(work)
    env["PIP_CACHE_DIR"] = str(work / "pip-cache-2")
    seconds: dict[str, float] = {}
    failures: dict[str, str] = {}
    for venv, lock in LOCKS.items():
        target = work / "pip" / venv
        started = time.monotonic()
        subprocess.run(["python3", "-m", "venv", str(target)], check=True)
        done = subprocess.run(
            [str(target / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r",
             str(ROOT / lock)],
            env=env, timeout=TIMEOUT_SECONDS, capture_output=True, text=True,
        )  # fmt: skip
        seconds[venv] = round(time.monotonic() - started, 1)
        if done.returncode != 0:  # recorded, not raised: the uv figures of the same run still count
            errors = [line for line in done.stderr.splitlines() if "is ignored: it is neither" not in line]
            failures[venv] = "\n".join(errors[-15:])
        print(f"    pip: {venv} from {lock} in {seconds[venv]}s{' FAILED' if venv in failures else ''}", flush=True)
    return {
        "venv_seconds_pip": seconds,
        "seconds_pip_total": round(sum(seconds.values()), 1),
        "pip_failures": failures,
    }


def run() -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-fresh-setup-") as tmp:
        work = Path(tmp)
        figures = _make_demo(work)
        figures.update(_pip_install(work))
        shutil.rmtree(work / "repo" / "var", ignore_errors=True)
    uv_total = sum(v for v in figures["venv_seconds_uv"].values() if v is not None)
    return {
        **figures,
        "seconds_uv_total": uv_total,
        "load_average_1m_before": round(load_before, 1),
        "load_average_1m_after": round(os.getloadavg()[0], 1),
        "target_seconds": TARGET_SECONDS,
        "target_met": figures["seconds_to_demo_ok"] <= TARGET_SECONDS,
        "summary": f"clean clone -> demo ok in {figures['seconds_to_demo_ok']}s (uv venvs {uv_total:.0f}s; pip "
        f"{figures['seconds_pip_total']}s for the same locks), demo p50 {figures['demo_upload_to_run_p50_s']}s",
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
