"""Upload an MWAA package to the environment's versioned source bucket.

MWAA reads dags/ continuously but pins requirements.txt, startup.sh and plugins.zip by S3 object
version: an environment update must name those versions. So the upload reports them, and skips
objects whose bytes are already there (same MD5 ETag), which keeps the version unchanged and spares
an environment update that would restart every worker.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airlock.errors import AirlockError, ConfigError, StorageError
from airlock.packaging.mwaa import BUILD_INFO

# Objects MWAA pins by version, with the update-environment option that takes the version.
VERSIONED = {
    "requirements.txt": "--requirements-s3-object-version",
    "startup.sh": "--startup-script-s3-object-version",
    "plugins.zip": "--plugins-s3-object-version",
}
# Terraform outputs the deploy reads (infra/terraform/envs/<env>): the env's `mwaa` object output
# (environment_name, source_bucket_name; null when MWAA is disabled there).
MWAA_OUTPUT = "mwaa"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class UploadedObject:
    """One object of the package as it now stands in the bucket."""

    key: str
    version_id: str | None
    changed: bool
    size: int


def terraform_outputs(project: Path, env: str) -> dict[str, Any]:
    """`terraform output -json` of infra/terraform/envs/<env> (through the infra area's runner), as values."""
    from airlock.infra.runner import TerraformRunner

    folder = project / "infra" / "terraform" / "envs" / env
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such Terraform environment; pass --bucket instead.")
    try:
        outputs = TerraformRunner(folder, echo=lambda _: None).output()
    except AirlockError as exc:
        raise ConfigError(f"reading Terraform outputs of {folder} failed ({exc}); pass --bucket.") from None
    return {name: item.get("value") if isinstance(item, dict) else item for name, item in outputs.items()}


def source_bucket(project: Path, env: str) -> tuple[str, str | None]:
    """(bucket, environment name) from the env's Terraform `mwaa` output."""
    mwaa = terraform_outputs(project, env).get(MWAA_OUTPUT)
    if not isinstance(mwaa, dict) or not mwaa.get("source_bucket_name"):
        raise ConfigError(
            f"Terraform env {env!r} has no `{MWAA_OUTPUT}` output with a source_bucket_name (MWAA disabled "
            "there, or not applied yet); apply it or pass --bucket."
        )
    return str(mwaa["source_bucket_name"]), mwaa.get("environment_name")


def package_files(package: Path) -> list[tuple[str, Path]]:
    """(key, path) for every object to upload: dags/** and the root files MWAA reads."""
    if not (package / BUILD_INFO).is_file():
        raise ConfigError(f"{package}: not an MWAA package; run `airlock package mwaa` first.")
    items = [(str(p.relative_to(package)), p) for p in sorted((package / "dags").rglob("*")) if p.is_file()]
    items += [(name, package / name) for name in VERSIONED if (package / name).is_file()]
    return items


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def upload_package(
    s3: Any, package: Path, bucket: str, *, prefix: str = "", progress: Progress = lambda _: None
) -> list[UploadedObject]:
    """Upload `package` to `bucket` (under `prefix`), skipping unchanged objects; return every object.

    Refuses an unversioned bucket: MWAA cannot pin requirements/startup/plugins without versions.
    """
    try:
        status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    except Exception as exc:  # botocore's errors are generated classes; name the bucket and the cause
        raise StorageError(f"s3://{bucket}: cannot read versioning ({exc}); check the name and credentials.") from exc
    if status != "Enabled":
        raise StorageError(
            f"s3://{bucket}: versioning is {status or 'off'}; MWAA needs a versioned "
            "source bucket (the Terraform mwaa module enables it)."
        )
    prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def one(item: tuple[str, Path]) -> UploadedObject:
        rel, path = item
        key = prefix + rel
        try:
            head = s3.head_object(Bucket=bucket, Key=key)
        except Exception:  # 404: a new object
            head = None
        if head and head.get("ETag", "").strip('"') == _md5(path):
            return UploadedObject(key, head.get("VersionId"), False, path.stat().st_size)
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        with path.open("rb") as body:
            put = s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=kind)
        progress(f"uploaded s3://{bucket}/{key} (version {put.get('VersionId')})")
        return UploadedObject(key, put.get("VersionId"), True, path.stat().st_size)

    # A few hundred small files: round trips dominate, so overlap them (boto3 clients are thread-safe).
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, package_files(package)))


def update_command(environment: str | None, objects: list[UploadedObject], prefix: str = "") -> str:
    """The `aws mwaa update-environment` call that makes MWAA pick up the new versions."""
    prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
    parts = ["aws mwaa update-environment", f"--name {environment or '<environment-name>'}"]
    by_key = {o.key: o for o in objects}
    for name, option in VERSIONED.items():
        if obj := by_key.get(prefix + name):
            path_option = option.replace("-object-version", "-path")
            parts += [f"{path_option} {obj.key}", f"{option} {obj.version_id}"]
    return " \\\n    ".join(parts)
