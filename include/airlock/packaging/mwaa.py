"""Build the folder an MWAA source bucket expects, from this checkout.

MWAA syncs only `dags/` to its containers and installs `requirements.txt` (with a `--constraint`
line), runs `startup.sh` and unpacks `plugins.zip`. So the package puts everything the DAGs import
inside dags/, laid out like the repository so that `dags/` can serve as AIRLOCK_HOME:

    <out>/dags/*.py                  the DAG files (thin)
    <out>/dags/registry/             the tenant registry, as in the repository (it ships with the DAGs)
    <out>/dags/airlock/              the package (imported as `import airlock`: dags/ is on sys.path)
    <out>/dags/include/<name>/       any other folder next to the package in include/
    <out>/dags/dbt_project/          the dbt project with target/manifest.json (parse needs no dbt)
    <out>/dags/.airflowignore        keeps the DAG processor out of the folders above
    <out>/requirements.txt           requirements.txt + the --constraint line for Airflow/Python
    <out>/startup.sh                 exports AIRLOCK_* and creates the dbt virtualenv
    <out>/plugins.zip                only when plugins/ holds something
    <out>/BUILD.json                 what was built from what (not uploaded)
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import shutil
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from airlock import __version__
from airlock.errors import ConfigError
from airlock.packaging.pins import canonical, pins, requirement_lines
from airlock.settings import REGISTRY_DIR

MWAA_AIRFLOW_HOME = "/usr/local/airflow"
MANIFEST = Path("dbt_project/target/manifest.json")
BUILD_INFO = "BUILD.json"
CONSTRAINT_URL = "https://raw.githubusercontent.com/apache/airflow/constraints-{airflow}/constraints-{python}.txt"
# The package's own folders inside dags/: never DAG files, so the DAG processor skips them.
PACKAGED_DIRS = ("airlock", "include", "dbt_project")
# Build output and local state that must never reach a bucket (dbt's target/ except the manifest).
_IGNORE = shutil.ignore_patterns(
    "__pycache__", "*.pyc", ".pytest_cache", "*.duckdb", "*.duckdb.wal", ".user.yml", "logs", ".DS_Store"
)
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_SETTING = re.compile(r"^AIRLOCK_[A-Z0-9_]+$")
# Lint-only tools pinned in requirements-dbt.txt that a worker never runs (the Dockerfile skips them too).
DBT_DEV_ONLY = ("sqlfluff",)

Progress = Callable[[str], None]

# startup.sh: map AIRFLOW__AIRLOCK__<NAME> (Terraform's Airflow options `airlock.<name>`) to AIRLOCK_<NAME>.
_TERRAFORM_SETTINGS = r"""for airlock_name in $(env | sed -n 's/^AIRFLOW__AIRLOCK__\([A-Z0-9_]*\)=.*/\1/p'); do
    eval "export AIRLOCK_${airlock_name}=\"\${AIRFLOW__AIRLOCK__${airlock_name}}\""
done
unset airlock_name
"""


def _quiet(_: str) -> None:
    """Default progress sink: the library stays silent; the CLI passes print."""


@dataclass(frozen=True)
class MwaaPackage:
    """What `build_mwaa_package` produced, with the figures the CLI and the bench report."""

    root: Path
    airflow_version: str
    python_version: str
    constraint: str
    dag_files: list[str]
    files: int
    size_bytes: int
    build_seconds: float
    plugins_zip: bool
    zip_path: Path | None = None
    zip_bytes: int | None = None
    settings: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        """JSON-friendly view (paths as strings)."""
        data = asdict(self)
        data["root"] = str(self.root)
        data["zip_path"] = str(self.zip_path) if self.zip_path else None
        return data


def default_python(airflow_version: str) -> str:
    """MWAA's Python for an Airflow line: 3.12 for Airflow 3 images, 3.11 for the late 2.x ones."""
    return "3.12" if int(airflow_version.split(".")[0]) >= 3 else "3.11"


def constraint_url(airflow_version: str, python_version: str) -> str:
    """Apache Airflow's published constraints for that release and Python (what MWAA expects)."""
    return CONSTRAINT_URL.format(airflow=airflow_version, python=python_version)


def _check_inputs(project: Path, airflow_version: str, python_version: str, settings: dict[str, str]) -> None:
    if not _VERSION.match(airflow_version):
        raise ConfigError(f"--airflow-version {airflow_version!r}: use the MWAA version, e.g. 3.3.1.")
    if not re.match(r"^3\.\d+$", python_version):
        raise ConfigError(f"--python-version {python_version!r}: use MAJOR.MINOR, e.g. 3.12.")
    for folder in ("dags", "include/airlock"):
        if not (project / folder).is_dir():
            raise ConfigError(f"{project / folder}: missing; run from the project root or set AIRLOCK_HOME.")
    if not (project / MANIFEST).is_file():
        raise ConfigError(f"{project / MANIFEST}: missing; run `make manifest` first (MWAA parses from it).")
    for key, value in settings.items():
        if not _SETTING.match(key):
            raise ConfigError(f"--set {key}=...: only AIRLOCK_* settings belong in startup.sh.")
        if "\n" in value:
            raise ConfigError(f"--set {key}: the value must be one line.")


def _prepare_out(out: Path) -> None:
    """Empty out, but only if it is a previous package or empty: never delete someone's folder."""
    if out.exists():
        if any(out.iterdir()) and not (out / BUILD_INFO).is_file():
            raise ConfigError(f"{out}: exists and is not an airlock package; choose an empty --out folder.")
        shutil.rmtree(out)
    out.mkdir(parents=True)


def _copy_dbt_project(src: Path, dest: Path) -> None:
    """The dbt project without its build output, plus the manifest Cosmos parses from."""
    shutil.copytree(
        src,
        dest,
        ignore=shutil.ignore_patterns("target", "logs", "*.duckdb", "*.duckdb.wal", "__pycache__", ".user.yml"),
    )
    (dest / "target").mkdir()
    shutil.copy2(src / "target" / "manifest.json", dest / "target" / "manifest.json")


def _airflowignore(dags: Path) -> None:
    """Append the package folders to any existing .airflowignore (Airflow 3 default: glob syntax)."""
    path = dags / ".airflowignore"
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    lines = [f"{name}/" for name in PACKAGED_DIRS if f"{name}/" not in existing.splitlines()]
    if lines:
        note = "# airlock package: support folders, not DAGs (parse time is a product feature)\n"
        path.write_text(
            existing + ("\n" if existing and not existing.endswith("\n") else "") + note + "\n".join(lines) + "\n",
            encoding="utf-8",
        )


def merged_constraints(constraints: str, our_pins: dict[str, str]) -> str:
    """Official constraints with the kit's own pins winning (MWAA's documented way to use newer providers)."""
    out, seen = [], set()
    for line in constraints.splitlines():
        name = re.split(r"[=<>!~\[ ;]", line.strip(), maxsplit=1)[0]
        key = canonical(name) if name and not line.lstrip().startswith("#") else None
        if key in our_pins:
            out.append(f"{name}=={our_pins[key]}")
            seen.add(key)
        else:
            out.append(line)
    out += [f"{key}=={version}" for key, version in sorted(our_pins.items()) if key not in seen]
    return "\n".join(out) + "\n"


def _requirements(project: Path, constraint: str, airflow_version: str, python_version: str) -> str:
    header = (
        f"# Generated by `airlock package mwaa` (airlock {__version__}) from requirements.txt for MWAA\n"
        f"# Airflow {airflow_version} / Python {python_version}. Edit requirements.txt, not this file.\n"
    )
    body = "\n".join(requirement_lines(project / "requirements.txt"))
    return f'{header}--constraint "{constraint}"\n{body}\n'


def dbt_runtime_requirements(project: Path) -> list[str]:
    """requirements-dbt.txt less the lint tools: what a worker needs to run dbt."""
    return [
        line
        for line in requirement_lines(project / "requirements-dbt.txt")
        if not canonical(line).startswith(DBT_DEV_ONLY)
    ]


def render_startup(dbt_requirements: list[str], settings: dict[str, str]) -> str:
    """startup.sh: MWAA may source it, so it never `exit`s or `set -e`s, and it keeps what it exports."""
    reqs = "\n".join(dbt_requirements)
    digest = hashlib.sha256(reqs.encode()).hexdigest()
    exports = "".join(f"export {key}={shlex.quote(value)}\n" for key, value in sorted(settings.items()))
    return f"""#!/bin/sh
# Generated by `airlock package mwaa` (airlock {__version__}) from requirements-dbt.txt: edit that file,
# then re-package; do not edit this one. MWAA runs it on every component before Airflow starts
# (5-minute limit) and keeps the variables it exports. It may be sourced: no `exit`, no `set -e`.

airlock_root="${{AIRFLOW_HOME:-{MWAA_AIRFLOW_HOME}}}"
# MWAA syncs only dags/, so the package ships inside it and dags/ is the project home.
export AIRLOCK_HOME="${{airlock_root}}/dags"
export AIRLOCK_DATA_DIR="${{AIRLOCK_DATA_DIR:-${{airlock_root}}/airlock_var}}"
# dbt runs from its own virtualenv so that its pins never fight Airflow's (Cosmos dbt_executable_path).
export AIRLOCK_DBT_VENV="${{AIRLOCK_DBT_VENV:-${{airlock_root}}/dbt_venv}}"
export AIRLOCK_DBT_EXECUTABLE="${{AIRLOCK_DBT_VENV}}/bin/dbt"
# The S3 sync sets file times, so "manifest older than the models" means nothing here: the package
# was built from a fresh `make manifest`; only check that the manifest exists.
export AIRLOCK_DBT_MANIFEST_CHECK="${{AIRLOCK_DBT_MANIFEST_CHECK:-exists}}"
# The registry ships with the DAG files (dags/registry in the repository), and dags/ is the home here.
export AIRLOCK_TENANTS_DIR="${{AIRLOCK_TENANTS_DIR:-${{AIRLOCK_HOME}}/{REGISTRY_DIR}/tenants}}"
export AIRLOCK_DATAFLOWS_DIR="${{AIRLOCK_DATAFLOWS_DIR:-${{AIRLOCK_HOME}}/{REGISTRY_DIR}/dataflows}}"
{exports}
# Per-environment settings from Terraform arrive as Airflow options `airlock.<name>`, which MWAA
# exposes as AIRFLOW__AIRLOCK__<NAME>; the kit reads AIRLOCK_<NAME>. They win over --set values.
{_TERRAFORM_SETTINGS}
airlock_dbt_sha256="{digest}"

airlock_create_dbt_venv() {{
    PIP_USER=false python3 -m venv "${{AIRLOCK_DBT_VENV}}" || return 1
    cat > "${{AIRLOCK_DBT_VENV}}/requirements-dbt.txt" <<'AIRLOCK_REQUIREMENTS'
{reqs}
AIRLOCK_REQUIREMENTS
    PIP_USER=false "${{AIRLOCK_DBT_VENV}}/bin/python" -m pip install --quiet --disable-pip-version-check \\
        -r "${{AIRLOCK_DBT_VENV}}/requirements-dbt.txt" || return 1
    "${{AIRLOCK_DBT_EXECUTABLE}}" --version >/dev/null || return 1
    echo "${{airlock_dbt_sha256}}" > "${{AIRLOCK_DBT_VENV}}/.airlock-requirements.sha256"
}}

if [ "${{MWAA_AIRFLOW_COMPONENT:-}}" = "webserver" ]; then
    echo "airlock startup: webserver: no dbt virtualenv needed"
elif [ -x "${{AIRLOCK_DBT_EXECUTABLE}}" ] && \\
     [ "$(cat "${{AIRLOCK_DBT_VENV}}/.airlock-requirements.sha256" 2>/dev/null)" = "${{airlock_dbt_sha256}}" ]; then
    echo "airlock startup: dbt virtualenv ${{AIRLOCK_DBT_VENV}} is up to date"
elif airlock_create_dbt_venv; then
    echo "airlock startup: created dbt virtualenv ${{AIRLOCK_DBT_VENV}}"
else
    echo "airlock startup: ERROR: could not create ${{AIRLOCK_DBT_VENV}}; dbt tasks will fail" >&2
fi
unset -f airlock_create_dbt_venv
unset airlock_root airlock_dbt_sha256
"""


def _has_plugins(plugins: Path) -> bool:
    ignored = {".gitkeep", "README.md", "__pycache__"}
    return plugins.is_dir() and any(p.name not in ignored for p in plugins.iterdir())


def _zip_dir(src: Path, dest: Path) -> None:
    """A deterministic zip (sorted entries, fixed timestamps): same input, same bytes, same S3 ETag."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(src.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                info = zipfile.ZipInfo(str(path.relative_to(src)), date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, path.read_bytes())


def build_mwaa_package(
    project: Path,
    out: Path,
    airflow_version: str,
    *,
    python_version: str | None = None,
    constraints_file: Path | None = None,
    settings: dict[str, str] | None = None,
    make_zip: bool = False,
    progress: Progress = _quiet,
) -> MwaaPackage:
    """Build the MWAA source-bucket layout for `project` into `out` (emptied first).

    With `constraints_file` (e.g. the official file, downloaded and reviewed) the constraints are
    shipped inside dags/ with the kit's pins winning, and requirements.txt points at that local path:
    MWAA's documented fix when a pinned provider is newer than the release's constraints.
    """
    started = time.perf_counter()
    project, out = project.resolve(), out.resolve()
    python_version = python_version or default_python(airflow_version)
    settings = dict(settings or {})
    _check_inputs(project, airflow_version, python_version, settings)
    _prepare_out(out)
    dags = out / "dags"

    progress(f"copying DAG files from {project / 'dags'}")
    shutil.copytree(project / "dags", dags, ignore=_IGNORE)
    dag_files = sorted(p.name for p in dags.glob("*.py"))
    progress(f"copying the airlock package into dags/airlock ({len(dag_files)} DAG files)")
    shutil.copytree(project / "include" / "airlock", dags / "airlock", ignore=_IGNORE)
    for folder in sorted(p for p in (project / "include").iterdir() if p.is_dir() and p.name != "airlock"):
        if folder.name.startswith((".", "__")):
            continue
        progress(f"copying include/{folder.name} into dags/include/{folder.name}")
        shutil.copytree(folder, dags / "include" / folder.name, ignore=_IGNORE)
    progress("copying dbt_project/ with target/manifest.json")
    _copy_dbt_project(project / "dbt_project", dags / "dbt_project")
    _airflowignore(dags)

    if constraints_file:
        name = f"constraints-{python_version}-airlock.txt"
        our = pins(project / "requirements.txt")
        (dags / name).write_text(
            merged_constraints(constraints_file.read_text(encoding="utf-8"), our), encoding="utf-8"
        )
        constraint = f"{MWAA_AIRFLOW_HOME}/dags/{name}"
    else:
        constraint = constraint_url(airflow_version, python_version)
    progress(f"writing requirements.txt (--constraint {constraint})")
    (out / "requirements.txt").write_text(
        _requirements(project, constraint, airflow_version, python_version), encoding="utf-8"
    )
    progress("writing startup.sh (dbt virtualenv from requirements-dbt.txt)")
    startup = out / "startup.sh"
    startup.write_text(render_startup(dbt_runtime_requirements(project), settings), encoding="utf-8")
    startup.chmod(0o755)

    plugins = _has_plugins(project / "plugins")
    if plugins:
        progress("zipping plugins/ into plugins.zip")
        _zip_dir(project / "plugins", out / "plugins.zip")

    files = [p for p in out.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    zip_path = zip_bytes = None
    if make_zip:
        zip_path = out.with_suffix(".zip")
        progress(f"zipping the package into {zip_path}")
        _zip_dir(out, zip_path)
        zip_bytes = zip_path.stat().st_size
    package = MwaaPackage(
        root=out,
        airflow_version=airflow_version,
        python_version=python_version,
        constraint=constraint,
        dag_files=dag_files,
        files=len(files),
        size_bytes=size,
        build_seconds=round(time.perf_counter() - started, 3),
        plugins_zip=plugins,
        zip_path=zip_path,
        zip_bytes=zip_bytes,
        settings=settings,
    )
    (out / BUILD_INFO).write_text(json.dumps(package.summary(), indent=2) + "\n", encoding="utf-8")
    return package
