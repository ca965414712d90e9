"""`airlock package mwaa`: build the S3 layout an MWAA environment reads, in a local folder.

Astro needs no such step (the Dockerfile is its package); MWAA syncs only dags/, so the package
moves include/ and the dbt project inside dags/ and generates requirements.txt and startup.sh.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from airlock.errors import ConfigError
from airlock.settings import project_home

DEFAULT_OUT = Path(".airlock/dist/mwaa")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "package",
        help="build a deployable package for a hosted Airflow (mwaa)",
        description="Build a deployable package. Astro deploys the Docker image (see docs/deploy.md); "
        "MWAA needs the S3 layout built by `airlock package mwaa`.",
    )
    targets = parser.add_subparsers(dest="target", metavar="TARGET")
    mwaa = targets.add_parser(
        "mwaa",
        help="the MWAA source-bucket layout: dags/ (with the package inside), requirements.txt, startup.sh",
        description="Build the folder MWAA expects in its source bucket: dags/ holding the DAG files, the "
        "airlock package, include/ registries and dbt_project/ with its manifest (MWAA syncs only "
        "dags/); requirements.txt with the --constraint line for the Airflow/Python version; startup.sh, "
        "which exports AIRLOCK_* and creates the dbt virtualenv; plugins.zip only when plugins/ has files. "
        "Upload it with `airlock deploy mwaa`.",
    )
    mwaa.add_argument(
        "--airflow-version",
        required=True,
        metavar="X.Y.Z",
        help="the environment's Airflow version (MWAA --airflow-version), e.g. 3.3.1",
    )
    mwaa.add_argument(
        "--python-version",
        metavar="X.Y",
        default=None,
        help="MWAA's Python for that version (default: 3.12 for Airflow 3)",
    )
    mwaa.add_argument(
        "--out", type=Path, default=None, help=f"output folder, emptied first (default: <project>/{DEFAULT_OUT})"
    )
    mwaa.add_argument("--zip", action="store_true", help="also write <out>.zip (a CI artifact)")
    mwaa.add_argument(
        "--constraints-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="ship this constraints file inside dags/ (the kit's pins win) instead of the "
        "official URL: MWAA's fix when a pinned provider is newer than the release's constraints",
    )
    mwaa.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="AIRLOCK_X=VALUE",
        help="export this setting from startup.sh (repeatable), e.g. AIRLOCK_ENV=prod",
    )
    mwaa.add_argument(
        "--project", type=Path, default=None, help="project root (default: AIRLOCK_HOME or this checkout)"
    )
    mwaa.add_argument("--json", action="store_true", help="print the build summary as JSON")
    mwaa.set_defaults(func=run_mwaa)
    parser.set_defaults(func=lambda _args: parser.print_help() or 2)


def parse_settings(items: list[str]) -> dict[str, str]:
    """`KEY=VALUE` strings into a dict; ConfigError names the bad item."""
    settings = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: use AIRLOCK_NAME=value.")
        settings[key.strip()] = value
    return settings


def run_mwaa(args: argparse.Namespace) -> int:
    from airlock.packaging.mwaa import build_mwaa_package

    project = (args.project or project_home()).resolve()
    out = args.out or project / DEFAULT_OUT
    if args.constraints_file and not args.constraints_file.is_file():
        raise ConfigError(f"--constraints-file {args.constraints_file}: not found.")
    print(f"==> packaging {project} for MWAA (Airflow {args.airflow_version}) into {out}")
    package = build_mwaa_package(
        project,
        out,
        args.airflow_version,
        python_version=args.python_version,
        constraints_file=args.constraints_file,
        settings=parse_settings(args.settings),
        make_zip=args.zip,
        progress=lambda message: print(f"    {message}", flush=True),
    )
    if args.json:
        print(json.dumps(package.summary(), indent=2))
        return 0
    print(f"==> {package.files} files, {package.size_bytes / 1e6:.2f} MB, built in {package.build_seconds:.2f} s")
    print(f"    DAG files: {', '.join(package.dag_files) or '(none)'}")
    print(f"    --constraint {package.constraint}")
    print(f"    plugins.zip: {'yes' if package.plugins_zip else 'not needed (plugins/ is empty)'}")
    if package.zip_path:
        print(f"    zip: {package.zip_path} ({(package.zip_bytes or 0) / 1e6:.2f} MB)")
    print(f"next: airlock deploy mwaa --env <env> --package {out}")
    return 0
