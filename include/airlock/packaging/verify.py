"""Prove that an MWAA package imports on its own, as far as a local machine can.

MWAA cannot be reached from a laptop or CI, so this rebuilds the parts that matter: a clean
virtualenv holding only Airflow plus the packaged requirements.txt, the packaged startup.sh run as
MWAA runs it, and a DagBag over the packaged dags/ folder with the environment startup.sh exported.
It also checks that nothing was imported from the repository checkout (a package that only works
because the repo is on sys.path would fail on MWAA).

Offline, the `--constraint` URL cannot be fetched: the venv installs with a local constraints file
instead (the dev venv's resolution, which the rest of the tests already exercise).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from airlock.errors import AirlockError

# Run by the clean venv's interpreter: load the DagBag, time it, list modules from forbidden roots.
_DAGBAG_SCRIPT = r"""
import json, os, sys, time
dags, forbidden = sys.argv[1], [os.path.realpath(p) for p in sys.argv[2:]]
started = time.perf_counter()
import airflow  # noqa: F401  (imported first: Cosmos registers a policy hook)
imported, imported_cpu = time.perf_counter(), time.process_time()
# The DAG processor parses with BundleDagBag, which puts the bundle (dags/) on sys.path: the same
# mechanism that makes dags/airlock importable on MWAA.
from airflow.dag_processing.dagbag import BundleDagBag
bag = BundleDagBag(dag_folder=dags, bundle_path=dags)
loaded, loaded_cpu = time.perf_counter(), time.process_time()
prefix = os.path.realpath(sys.prefix)
leaks = []
for name, module in list(sys.modules.items()):
    path = getattr(module, "__file__", None)
    if not path:
        continue
    real = os.path.realpath(path)
    if real.startswith(prefix + os.sep):
        continue
    if any(real.startswith(root + os.sep) for root in forbidden):
        leaks.append(f"{name}: {real}")
import airlock
print(json.dumps({
    "dag_ids": sorted(bag.dag_ids),
    "import_errors": {k: v.splitlines()[-1] if v else v for k, v in bag.import_errors.items()},
    "import_errors_full": bag.import_errors,
    "files": len(bag.dagbag_stats),
    "file_seconds": {os.path.basename(s.file): round(s.duration.total_seconds(), 3) for s in bag.dagbag_stats},
    "import_airflow_seconds": round(imported - started, 3),
    "dagbag_seconds": round(loaded - imported, 3),
    "dagbag_cpu_seconds": round(loaded_cpu - imported_cpu, 3),
    "airlock_file": os.path.realpath(airlock.__file__),
    "python": sys.version.split()[0],
    "leaks": sorted(leaks),
}))
"""


@dataclass(frozen=True)
class CleanVenv:
    """A virtualenv built from the packaged requirements only."""

    python: Path
    seconds: float
    reused: bool
    key: str


def local_constraints(python: str = sys.executable) -> str:
    """The dev venv's resolution as a constraints file (stands in for the official one offline).

    Read from the interpreter's installed distributions, not `pip freeze`: a venv made by uv has no pip.
    Editable installs and airlock itself (also seen through an `airlock.egg-info` on the path) are left
    out, as `pip freeze --exclude-editable` would.
    """
    listing = subprocess.run([python, "-c", _LIST_DISTRIBUTIONS], capture_output=True, text=True, check=True).stdout
    pins = sorted({line for line in listing.splitlines() if line and not line.lower().startswith("airlock==")})
    return "".join(pin + "\n" for pin in pins)


_LIST_DISTRIBUTIONS = """
import importlib.metadata as m, json
for d in m.distributions():
    if not json.loads(d.read_text("direct_url.json") or "{}").get("dir_info", {}).get("editable"):
        print(f"{d.metadata['Name']}=={d.version}")
"""


def offline_requirements(packaged: Path, constraints: Path) -> str:
    """The packaged requirements.txt with its --constraint line pointed at a local file."""
    lines = [
        f'--constraint "{constraints}"' if line.startswith("--constraint") else line
        for line in packaged.read_text(encoding="utf-8").splitlines()
    ]
    return "\n".join(lines) + "\n"


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise AirlockError(f"`{' '.join(cmd[:4])} ...` failed (exit {done.returncode}):\n{tail}")
    return done


def clean_venv(
    package: Path,
    airflow_version: str,
    constraints: str,
    cache_dir: Path | None,
    base_python: str | None = None,
) -> CleanVenv:
    """A venv with Airflow (MWAA's base image) and the packaged requirements, nothing else.

    With `cache_dir`, the venv is kept under `<cache_dir>/mwaa-venv-<hash>` keyed by the requirements,
    the constraints, the Airflow version and the interpreter, and reused when the key matches.
    """
    base_python = (
        base_python or os.environ.get("AIRLOCK_MWAA_PYTHON") or getattr(sys, "_base_executable", sys.executable)
    )
    packaged = (package / "requirements.txt").read_text(encoding="utf-8")
    body = "\n".join(line for line in packaged.splitlines() if not line.startswith(("#", "--constraint")))
    key = hashlib.sha256("\0".join([body, constraints, airflow_version, str(base_python)]).encode()).hexdigest()[:16]
    root = (cache_dir / f"mwaa-venv-{key}") if cache_dir else Path(tempfile.mkdtemp(prefix="mwaa-venv-"))
    python = root / "bin" / "python"
    if cache_dir and (root / ".complete").is_file():
        return CleanVenv(python, 0.0, True, key)
    started = time.perf_counter()
    if cache_dir:  # one venv per key is enough: drop the stale ones (about 700 MB each)
        for stale in cache_dir.glob("mwaa-venv-*"):
            shutil.rmtree(stale, ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    _run([str(base_python), "-m", "venv", str(root)])  # no --system-site-packages: nothing leaks in
    work = Path(tempfile.mkdtemp(prefix="mwaa-reqs-"))
    (work / "constraints.txt").write_text(constraints, encoding="utf-8")
    (work / "requirements.txt").write_text(
        offline_requirements(package / "requirements.txt", work / "constraints.txt"), encoding="utf-8"
    )
    _run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            f"apache-airflow=={airflow_version}",
            "-r",
            str(work / "requirements.txt"),
        ],
        timeout=900,
    )
    shutil.rmtree(work, ignore_errors=True)
    (root / ".complete").write_text(key + "\n", encoding="utf-8")
    return CleanVenv(python, round(time.perf_counter() - started, 1), False, key)


def run_startup(package: Path, airflow_home: Path, dbt_venv: Path | None = None) -> tuple[dict[str, str], float]:
    """Source the packaged startup.sh as MWAA does; return the AIRLOCK_* it exports and its duration.

    `AIRFLOW_HOME` stands for /usr/local/airflow: the packaged dags/ is linked at <airflow_home>/dags.
    """
    airflow_home.mkdir(parents=True, exist_ok=True)
    dags = airflow_home / "dags"
    if not dags.exists():
        dags.symlink_to(package / "dags", target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRLOCK_", "PYTHON", "VIRTUAL_ENV"))}
    env["AIRFLOW_HOME"] = str(airflow_home)
    env["MWAA_AIRFLOW_COMPONENT"] = "worker"
    if dbt_venv:
        env["AIRLOCK_DBT_VENV"] = str(dbt_venv)
    started = time.perf_counter()
    done = _run(["sh", "-c", f". {package / 'startup.sh'} && env -0"], env=env, cwd=str(airflow_home), timeout=600)
    seconds = round(time.perf_counter() - started, 1)
    if "ERROR" in done.stderr:
        raise AirlockError(f"startup.sh reported an error:\n{done.stderr.strip()[-2000:]}")
    exported = dict(item.split("=", 1) for item in done.stdout.split("\0") if "=" in item)
    return {k: v for k, v in exported.items() if k.startswith("AIRLOCK_")}, seconds


def load_dagbag(
    python: Path, dags: Path, settings: dict[str, str], airflow_home: Path, forbidden: list[Path]
) -> dict[str, object]:
    """Load every DAG under `dags` with the clean venv; report DAG ids, import errors, time and leaks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRLOCK_", "AIRFLOW", "PYTHON", "VIRTUAL_ENV"))}
    env.update(settings)
    env.update(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    script = airflow_home / "load_dagbag.py"
    script.write_text(_DAGBAG_SCRIPT, encoding="utf-8")
    done = _run(
        [str(python), "-s", str(script), str(dags), *map(str, forbidden)], env=env, cwd=str(airflow_home), timeout=300
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def _cache_lock(cache: Path | None) -> Iterator[None]:
    """An exclusive lock on the cache folder (a no-op without one)."""
    if cache is None:
        yield
        return
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cache_dir(project: Path) -> Path | None:
    """Where the proof keeps its venvs: AIRLOCK_CACHE_DIR, else <project>/.airlock/cache.

    AIRLOCK_FRESH_VENV=1 returns None (build in a temp folder: times a cold run). .ci/run points
    AIRLOCK_CACHE_DIR outside the clone so that a fresh clone on the same machine reuses the venvs.
    """
    if os.environ.get("AIRLOCK_FRESH_VENV"):
        return None
    return Path(os.environ.get("AIRLOCK_CACHE_DIR") or project / ".airlock" / "cache")


def prove_import(project: Path, work: Path, *, cache_dir: Path | None) -> dict[str, object]:
    """Build the package, a clean venv and the dbt venv (via startup.sh), then load the packaged DAGs.

    Builds for the Airflow pinned in requirements-dev.txt (the only one whose resolution is known
    here). Returns the figures and the DagBag result; raises AirlockError when a step fails.
    """
    from airlock.packaging.mwaa import build_mwaa_package, dbt_runtime_requirements
    from airlock.packaging.pins import airflow_pin

    airflow_version = airflow_pin(project)
    package = build_mwaa_package(project, work / "package", airflow_version)
    dbt_key = hashlib.sha256("\n".join(dbt_runtime_requirements(project)).encode()).hexdigest()[:16]
    dbt_venv = (cache_dir / f"dbt-venv-{dbt_key}") if cache_dir else work / "dbt_venv"
    if cache_dir:
        for stale in cache_dir.glob("dbt-venv-*"):
            if stale != dbt_venv:
                shutil.rmtree(stale, ignore_errors=True)
    home = work / "usr-local-airflow"
    # The two installs are independent and mostly wait on downloads: run them side by side. Engineers
    # sharing a work tree share the cache, so one process at a time builds (or prunes) it.
    with _cache_lock(cache_dir), ThreadPoolExecutor(max_workers=2) as pool:
        venv_job = pool.submit(clean_venv, package.root, airflow_version, local_constraints(), cache_dir)
        startup_job = pool.submit(run_startup, package.root, home, dbt_venv)
        venv = venv_job.result()
        settings, startup_seconds = startup_job.result()
    result = load_dagbag(venv.python, home / "dags", settings, home, [project])
    return {
        "airflow_version": airflow_version,
        "package_bytes": package.size_bytes,
        "package_files": package.files,
        "package_build_seconds": package.build_seconds,
        "venv_seconds": venv.seconds,
        "venv_reused": venv.reused,
        "startup_seconds": startup_seconds,
        "settings": settings,
        "dbt_executable_ok": Path(settings["AIRLOCK_DBT_EXECUTABLE"]).is_file(),
        **result,
    }
