"""`airlock deploy mwaa` against a local AWS endpoint (moto server on 127.0.0.1, started here).

Per FIELD-NOTES, moto misbehaves on deletes in versioned buckets, so each test uses its own bucket
and never deletes; the server dies with the fixture.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from airlock.cli import main
from airlock.devstack.local_aws import ACCESS_KEY, REGION, SECRET_KEY, start_moto
from airlock.devstack.processes import Supervisor
from airlock.packaging.mwaa import MwaaPackage


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with Supervisor(tmp_path_factory.mktemp("moto"), log=None) as supervisor:
        yield start_moto(supervisor)


@pytest.fixture
def aws(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An S3 client on the local endpoint, with dummy credentials also visible to the CLI."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION)


def _bucket(s3: Any, name: str, *, versioned: bool = True) -> str:
    s3.create_bucket(Bucket=name)
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def _deploy(endpoint: str, package: Path, bucket: str, *extra: str) -> int:
    return main(
        [
            "deploy",
            "mwaa",
            "--env",
            "test",
            "--bucket",
            bucket,
            "--package",
            str(package),
            "--endpoint-url",
            endpoint,
            "--region",
            REGION,
            "--environment-name",
            "airlock-test",
            *extra,
        ]
    )


def test_upload_puts_every_object_at_the_right_key_with_a_version(
    package: MwaaPackage, aws: Any, endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = _bucket(aws, "airlock-test-mwaa-source")
    assert _deploy(endpoint, package.root, bucket, "--json-out", str(tmp_path / "deploy.json")) == 0
    printed = capsys.readouterr().out
    expected = {str(p.relative_to(package.root)) for p in (package.root / "dags").rglob("*") if p.is_file()}
    expected |= {"requirements.txt", "startup.sh"} | ({"plugins.zip"} if package.plugins_zip else set())
    listed = aws.list_object_versions(Bucket=bucket)["Versions"]
    assert {v["Key"] for v in listed} == expected, "keys must mirror the package (BUILD.json stays local)"
    assert all(v["VersionId"] not in (None, "null") for v in listed)
    report = json.loads((tmp_path / "deploy.json").read_text())
    by_key = {o["key"]: o for o in report["objects"]}
    head = aws.head_object(Bucket=bucket, Key="requirements.txt")
    assert by_key["requirements.txt"]["version_id"] == head["VersionId"]
    assert f"--requirements-s3-object-version {head['VersionId']}" in printed
    assert "--startup-script-s3-path startup.sh" in printed
    body = aws.get_object(Bucket=bucket, Key="dags/airlock/__init__.py")["Body"].read()
    assert body == (package.root / "dags/airlock/__init__.py").read_bytes()


def test_a_second_upload_changes_nothing_and_needs_no_update(
    package: MwaaPackage, aws: Any, endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = _bucket(aws, "airlock-test-mwaa-again")
    assert _deploy(endpoint, package.root, bucket) == 0
    first = aws.head_object(Bucket=bucket, Key="requirements.txt")["VersionId"]
    capsys.readouterr()
    assert _deploy(endpoint, package.root, bucket) == 0
    printed = capsys.readouterr().out
    assert "0 of" in printed and "no environment update needed" in printed
    assert aws.head_object(Bucket=bucket, Key="requirements.txt")["VersionId"] == first


def test_a_changed_requirements_file_gets_a_new_version(
    package: MwaaPackage, aws: Any, endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = _bucket(aws, "airlock-test-mwaa-change")
    copy = tmp_path / "pkg"
    shutil.copytree(package.root, copy)
    assert _deploy(endpoint, copy, bucket) == 0
    first = aws.head_object(Bucket=bucket, Key="requirements.txt")["VersionId"]
    (copy / "requirements.txt").write_text((copy / "requirements.txt").read_text() + "# bumped\n")
    capsys.readouterr()
    assert _deploy(endpoint, copy, bucket) == 0
    second = aws.head_object(Bucket=bucket, Key="requirements.txt")["VersionId"]
    assert second != first
    assert len(aws.list_object_versions(Bucket=bucket, Prefix="requirements.txt")["Versions"]) == 2
    assert f"--requirements-s3-object-version {second}" in capsys.readouterr().out


def test_refuses_an_unversioned_bucket_and_a_missing_package(
    package: MwaaPackage, aws: Any, endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = _bucket(aws, "airlock-test-unversioned", versioned=False)
    assert _deploy(endpoint, package.root, bucket) == 2
    assert "versioning is off" in capsys.readouterr().err
    assert aws.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    assert _deploy(endpoint, tmp_path / "nothing", bucket) == 2
    assert "airlock package mwaa" in capsys.readouterr().err


def test_without_bucket_it_reads_terraform_outputs(
    package: MwaaPackage,
    aws: Any,
    endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The bucket and environment name come from `terraform output -json` of infra/terraform/envs/<env>."""
    bucket = _bucket(aws, "airlock-test-mwaa-from-tf")
    project = tmp_path / "project"
    (project / "infra/terraform/envs/test").mkdir(parents=True)
    (project / "infra/terraform/envs/test/outputs.tf").write_text("# outputs of an applied env\n")
    fake = tmp_path / "bin" / "terraform"  # stands in for Terraform: prints what an applied env outputs
    fake.parent.mkdir()
    mwaa = {"environment_name": "airlock-tf", "source_bucket_name": bucket, "webserver_url": "x"}
    outputs = {"mwaa": {"sensitive": False, "type": ["object", {}], "value": mwaa}}
    fake.write_text(f"#!/bin/sh\ncat <<'EOF'\n{json.dumps(outputs)}\nEOF\n")
    fake.chmod(0o755)
    monkeypatch.setenv("AIRLOCK_TERRAFORM", str(fake))
    args = ["deploy", "mwaa", "--env", "test", "--project", str(project), "--package", str(package.root)]
    assert main([*args, "--endpoint-url", endpoint, "--region", REGION]) == 0
    printed = capsys.readouterr().out
    assert f"s3://{bucket}/" in printed and "--name airlock-tf" in printed
    assert aws.head_object(Bucket=bucket, Key="requirements.txt")["VersionId"]
    assert main(["deploy", "mwaa", "--env", "nope", "--project", str(project), "--package", str(package.root)]) == 2
    assert "pass --bucket" in capsys.readouterr().err
