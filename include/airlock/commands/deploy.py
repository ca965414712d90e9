"""`airlock deploy mwaa`: upload a built package to the environment's versioned source bucket.

It prints the object versions an environment update needs (MWAA pins requirements.txt, startup.sh
and plugins.zip by version) and the `aws mwaa update-environment` call that applies them. Astro is
deployed with `astro deploy` (docs/deploy.md), not from here.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from airlock.commands.package import DEFAULT_OUT
from airlock.errors import ConfigError
from airlock.settings import project_home


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "deploy",
        help="upload a built package to a hosted Airflow (mwaa)",
        description="Upload a package built by `airlock package`. Astro deploys with `astro deploy` "
        "(see docs/deploy.md).",
    )
    targets = parser.add_subparsers(dest="target", metavar="TARGET")
    mwaa = targets.add_parser(
        "mwaa",
        help="upload the MWAA package to the environment's source bucket and print the object versions",
        description="Upload dags/, requirements.txt, startup.sh and plugins.zip to the MWAA source bucket "
        "(from the env's Terraform output `mwaa`, or --bucket). Unchanged objects are "
        "skipped, so their versions stay and no environment update is needed for them. Prints the object "
        "versions and the `aws mwaa update-environment` call that makes MWAA use them. Credentials: "
        "boto3's default chain (in CI, the OIDC role).",
    )
    mwaa.add_argument("--env", required=True, help="environment name: infra/terraform/envs/<env>")
    mwaa.add_argument("--bucket", default=None, help="source bucket name (skips reading Terraform outputs)")
    mwaa.add_argument(
        "--environment-name",
        default=None,
        help="MWAA environment name for the printed update command (default: from the Terraform output `mwaa`)",
    )
    mwaa.add_argument("--package", type=Path, default=None, help=f"package folder (default: <project>/{DEFAULT_OUT})")
    mwaa.add_argument("--prefix", default="", help="key prefix inside the bucket (default: the bucket root)")
    mwaa.add_argument("--endpoint-url", default=None, help="S3 endpoint (a local AWS endpoint in tests)")
    mwaa.add_argument("--region", default=None, help="AWS region (default: boto3's configuration)")
    mwaa.add_argument("--json", action="store_true", help="print the objects and versions as JSON")
    mwaa.add_argument(
        "--json-out",
        type=Path,
        default=None,
        metavar="PATH",
        help="also write the objects and versions as JSON to PATH (for a CI step)",
    )
    mwaa.add_argument(
        "--project", type=Path, default=None, help="project root (default: AIRLOCK_HOME or this checkout)"
    )
    mwaa.set_defaults(func=run_mwaa)
    parser.set_defaults(func=lambda _args: parser.print_help() or 2)


def run_mwaa(args: argparse.Namespace) -> int:
    import boto3

    from airlock.packaging.upload import VERSIONED, source_bucket, update_command, upload_package

    project = (args.project or project_home()).resolve()
    package = (args.package or project / DEFAULT_OUT).resolve()
    if not package.is_dir():
        raise ConfigError(f"{package}: no package; run `airlock package mwaa --airflow-version X.Y.Z` first.")
    environment = args.environment_name
    if args.bucket:
        bucket = args.bucket
    else:
        bucket, tf_environment = source_bucket(project, args.env)
        environment = environment or tf_environment
    print(f"==> uploading {package} to s3://{bucket}/{args.prefix} (env {args.env})", flush=True)
    s3 = boto3.client("s3", endpoint_url=args.endpoint_url, region_name=args.region)
    objects = upload_package(
        s3, package, bucket, prefix=args.prefix, progress=lambda message: print(f"    {message}", flush=True)
    )
    changed = [o for o in objects if o.changed]
    report = json.dumps({"bucket": bucket, "prefix": args.prefix, "objects": [asdict(o) for o in objects]}, indent=2)
    if args.json_out:
        args.json_out.write_text(report + "\n", encoding="utf-8")
    if args.json:
        print(report)
        return 0
    print(f"==> {len(changed)} of {len(objects)} objects uploaded, {len(objects) - len(changed)} unchanged")
    pinned = [o for o in objects if o.key.rsplit("/", 1)[-1] in VERSIONED]
    for obj in pinned:
        print(f"    {obj.key}: version {obj.version_id}{'' if obj.changed else ' (unchanged)'}")
    if any(o.changed for o in pinned):
        print("==> MWAA pins these by version; apply them with:")
        print(update_command(environment, objects, args.prefix))
    else:
        print("==> requirements/startup/plugins unchanged: no environment update needed (dags/ syncs by itself)")
    return 0
