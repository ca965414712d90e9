"""How dbt runs in this deployment, read once from AIRLOCK_DBT_* variables and checked before any batch is claimed.

Everything here is plain Python (no Airflow, no dbt): DAG parsing reads it, and so can the runner.

Which project: AIRLOCK_DBT_PROJECT_DIR (default: the kit's dbt_project/), AIRLOCK_DBT_PROFILES_DIR (default:
the project dir), AIRLOCK_DBT_PROFILE (default: the `profile:` of its dbt_project.yml), AIRLOCK_DBT_TARGET.
A team that brings its own dbt project sets these (docs/byo-dbt-project.md); the profile and target are
checked when the DAGs parse, so a typo is an import error naming the fix, never a failed batch.

How it runs: AIRLOCK_DBT_MODE=build (default: one isolated `dbt build` per run) or local (Cosmos, one
`dbt build` per model task in the worker); with build, AIRLOCK_DBT_MODEL_STATUS=events (default: one task,
one partitioned asset event per model) or tasks (one task per model, started and ended in the triggerer).
Why these defaults: docs/adr/0009-one-dbt-build-per-run.md.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from airlock.errors import AirlockError, ConfigError

if TYPE_CHECKING:
    from airlock.settings import Settings

DbtMode = Literal["build", "local"]
ModelStatus = Literal["events", "tasks"]
MODES: tuple[DbtMode, ...] = ("build", "local")
MODEL_STATUSES: tuple[ModelStatus, ...] = ("events", "tasks")
HEAVY_TAG = "heavy"
"""A dataflow whose selection holds a model tagged `heavy` gets the bigger build size (CPU, memory)."""

_PATH_KEYS = {  # dbt_project.yml keys of the folders dbt reads, with dbt's defaults
    "model-paths": ["models"],
    "seed-paths": ["seeds"],
    "test-paths": ["tests"],
    "macro-paths": ["macros"],
    "snapshot-paths": ["snapshots"],
    "analysis-paths": ["analyses"],
}
_ROOT_FILES = ("dbt_project.yml", "selectors.yml", "packages.yml", "dependencies.yml")
_SOURCE_SUFFIXES = {".sql", ".yml", ".yaml", ".csv", ".py"}
_RETIRED_MODES = {
    "watcher": "use AIRLOCK_DBT_MODE=build with AIRLOCK_DBT_MODEL_STATUS=tasks (model tasks in the triggerer)",
    "virtualenv": "use AIRLOCK_DBT_MODE=build: the build always runs in dbt's own virtualenv",
}


class ManifestError(AirlockError):
    """The prebuilt dbt manifest is missing or older than the project: the DAG must not render from it."""


@dataclass(frozen=True)
class DbtProject:
    """The dbt project airlock runs: the kit's own, or a team's (docs/byo-dbt-project.md)."""

    project_dir: Path
    profiles_dir: Path
    profile: str
    target: str
    is_kit_project: bool = True

    @property
    def manifest_path(self) -> Path:
        return self.project_dir / "target" / "manifest.json"

    def manifest_command(self, dbt_executable: str) -> str:
        """The command that rebuilds this project's manifest (what stale/missing-manifest errors tell people)."""
        if self.is_kit_project:
            return "make manifest"
        return shlex.join(
            [
                dbt_executable,
                "parse",
                "--project-dir",
                str(self.project_dir),
                "--profiles-dir",
                str(self.profiles_dir),
                "--profile",
                self.profile,
                "--target",
                self.target,
            ]
        )


@dataclass(frozen=True)
class DbtRuntime:
    """How dbt runs here: chosen by the environment, read once (see `load_dbt_runtime`)."""

    project: DbtProject
    dbt_executable: str
    dbt_python: str
    mode: DbtMode
    model_status: ModelStatus
    manifest_check: Literal["mtime", "exists"]
    container_project_dir: str
    container_profiles_dir: str
    retries: int = 2
    retry_delay: timedelta = timedelta(seconds=30)
    pythonpath: str = ""

    @property
    def target(self) -> str:
        return self.project.target

    @property
    def project_dir(self) -> Path:
        return self.project.project_dir


def _project_file(project_dir: Path) -> dict[str, Any]:
    """dbt_project.yml (a small YAML file: cheap to read when DAGs parse)."""
    import yaml

    try:
        doc = yaml.safe_load((project_dir / "dbt_project.yml").read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(
            f"AIRLOCK_DBT_PROJECT_DIR={project_dir}: no dbt_project.yml there. Fix: point it at the folder that "
            "holds your dbt_project.yml."
        ) from None
    return doc if isinstance(doc, dict) else {}


def _project_profile(project_dir: Path) -> str | None:
    profile = _project_file(project_dir).get("profile")
    return str(profile) if profile else None


def load_dbt_runtime(settings: Settings, environ: Mapping[str, str] | None = None) -> DbtRuntime:
    """Read the AIRLOCK_DBT_* variables; raise ConfigError naming the variable and the fix."""
    env = os.environ if environ is None else environ
    mode = env.get("AIRLOCK_DBT_MODE") or "build"
    if mode in _RETIRED_MODES:
        raise ConfigError(f"AIRLOCK_DBT_MODE={mode} was retired: {_RETIRED_MODES[mode]} (docs/adr/0009).")
    if mode not in MODES:
        raise ConfigError(f"AIRLOCK_DBT_MODE={mode!r}: use one of {', '.join(MODES)}.")
    status = env.get("AIRLOCK_DBT_MODEL_STATUS") or "events"
    if status not in MODEL_STATUSES:
        raise ConfigError(f"AIRLOCK_DBT_MODEL_STATUS={status!r}: use one of {', '.join(MODEL_STATUSES)}.")
    check = env.get("AIRLOCK_DBT_MANIFEST_CHECK", "mtime")
    if check not in ("mtime", "exists"):
        raise ConfigError(f"AIRLOCK_DBT_MANIFEST_CHECK={check!r}: use mtime (default) or exists.")
    kit_dir = settings.home / "dbt_project"
    project_dir = Path(env.get("AIRLOCK_DBT_PROJECT_DIR") or kit_dir)
    profiles_dir = Path(env.get("AIRLOCK_DBT_PROFILES_DIR") or project_dir)
    profile = env.get("AIRLOCK_DBT_PROFILE") or _project_profile(project_dir)
    if not profile:
        raise ConfigError(
            f"{project_dir / 'dbt_project.yml'} names no `profile:`. Fix: add one, or set AIRLOCK_DBT_PROFILE."
        )
    venv = settings.home / ".venv-dbt" / "bin"
    dbt_executable = env.get("AIRLOCK_DBT_EXECUTABLE") or str(venv / "dbt")
    return DbtRuntime(
        project=DbtProject(
            project_dir=project_dir,
            profiles_dir=profiles_dir,
            profile=profile,
            target=env.get("AIRLOCK_DBT_TARGET", "local"),
            is_kit_project=project_dir.resolve() == kit_dir.resolve() and profiles_dir == project_dir,
        ),
        dbt_executable=dbt_executable,
        dbt_python=env.get("AIRLOCK_DBT_PYTHON") or str(Path(dbt_executable).with_name("python")),
        mode=mode,  # type: ignore[arg-type]
        model_status=status,  # type: ignore[arg-type]
        manifest_check=check,  # type: ignore[arg-type]
        container_project_dir=env.get("AIRLOCK_CONTAINER_DBT_PROJECT_DIR", "/opt/airlock/dbt_project"),
        container_profiles_dir=env.get("AIRLOCK_CONTAINER_DBT_PROFILES_DIR", "/opt/airlock/dbt_project"),
        retries=int(env.get("AIRLOCK_DBT_RETRIES", "2")),
        retry_delay=timedelta(seconds=float(env.get("AIRLOCK_DBT_RETRY_DELAY", "30"))),
        pythonpath=env.get("AIRLOCK_DBT_PYTHONPATH") or str(settings.home / "include"),
    )


def check_profile(project: DbtProject) -> None:
    """Refuse a profile or target that profiles.yml does not define (before any batch is claimed).

    Reads the YAML only: values may be Jinja (`env_var(...)`), which dbt renders at run time.
    """
    import yaml

    path = project.profiles_dir / "profiles.yml"
    fix = "Fix: set AIRLOCK_DBT_PROFILES_DIR / AIRLOCK_DBT_PROFILE / AIRLOCK_DBT_TARGET (docs/byo-dbt-project.md)."
    try:
        doc: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"dbt profiles file {path} is missing. {fix}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"dbt profiles file {path} is not valid YAML: {exc}") from None
    profiles = sorted(k for k in doc if k != "config") if isinstance(doc, dict) else []
    if project.profile not in profiles:
        raise ConfigError(
            f"dbt profile {project.profile!r} is not in {path} (it has: {', '.join(profiles) or 'none'}). {fix}"
        )
    outputs = (doc[project.profile] or {}).get("outputs") or {}
    if project.target not in outputs:
        raise ConfigError(
            f"dbt profile {project.profile!r} in {path} has no target {project.target!r} "
            f"(it has: {', '.join(sorted(outputs)) or 'none'}). {fix}"
        )


def check_manifest(runtime: DbtRuntime) -> Path:
    """Return the manifest path, or raise ManifestError naming the command that rebuilds it.

    Stale means a model, macro, seed, test or dbt_project.yml changed after the manifest was built: the
    DAG would show (and run) yesterday's graph while dbt runs today's files.
    """
    project = runtime.project
    manifest = project.manifest_path
    fix = f"Fix: run `{project.manifest_command(runtime.dbt_executable)}` and deploy the manifest with the project."
    try:
        built = manifest.stat().st_mtime
    except FileNotFoundError:
        raise ManifestError(f"{manifest} is missing: the DAG renders dbt from it. {fix}") from None
    if runtime.manifest_check == "exists":
        return manifest
    newest, newest_path = _newest_source(project.project_dir)
    if newest > built:
        raise ManifestError(f"{manifest} is older than {newest_path} (changed after the last parse). {fix}")
    return manifest


def _newest_source(project_dir: Path) -> tuple[float, Path]:
    """The newest file dbt parses: the project's configured folders (a team's own layout too) and root files."""
    newest, newest_path = 0.0, project_dir / "dbt_project.yml"
    for name in _ROOT_FILES:
        with contextlib.suppress(FileNotFoundError):
            if (mtime := (project_dir / name).stat().st_mtime) > newest:
                newest, newest_path = mtime, project_dir / name
    doc = _project_file(project_dir)
    folders = {folder for key, default in _PATH_KEYS.items() for folder in (doc.get(key) or default)}
    folders.add("data-tests")  # the kit's test-paths; harmless where absent
    stack = [project_dir / str(folder) for folder in sorted(folders)]
    while stack:  # os.scandir: about 10x cheaper than Path.rglob on a 600-model project
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            elif entry.name[entry.name.rfind(".") :] in _SOURCE_SUFFIXES:
                mtime = entry.stat().st_mtime
                if mtime > newest:
                    newest, newest_path = mtime, Path(entry.path)
    return newest, newest_path
