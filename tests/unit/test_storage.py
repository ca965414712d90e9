"""The storage interface behaves the same on a folder and on S3 (moto in-process)."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from airlock.errors import StorageError, UnsafeKeyError
from airlock.storage import LocalStorage, S3Storage, open_storage


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path, monkeypatch):
    if request.param == "local":
        yield LocalStorage(tmp_path / "root")
        return
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="airlock-test")
        yield S3Storage("airlock-test", "pre/fix", client=client)


def test_write_list_read(store):
    assert store.write_bytes("a/b/one.csv", b"1")
    assert store.write_bytes("a/c/two.csv", b"22")
    assert store.write_bytes("z.csv", b"333")
    assert [(o.key, o.size) for o in store.list("a/")] == [("a/b/one.csv", 1), ("a/c/two.csv", 2)]
    assert [o.key for o in store.list()] == ["a/b/one.csv", "a/c/two.csv", "z.csv"]
    assert store.read_bytes("a/c/two.csv") == b"22"
    assert store.head("missing") is None


def test_conditional_write_is_create_only(store):
    assert store.write_bytes("m/_SNAPSHOT.json", b"first", if_absent=True) is True
    assert store.write_bytes("m/_SNAPSHOT.json", b"second", if_absent=True) is False
    assert store.read_bytes("m/_SNAPSHOT.json") == b"first"
    assert store.write_bytes("m/_SNAPSHOT.json", b"third") is True  # an unconditional write overwrites


def test_copy_and_delete(store, tmp_path):
    other = LocalStorage(tmp_path / "other")
    other.write_bytes("src.csv", b"payload")
    store.copy_from(other, "src.csv", "dst/copy.csv")
    store.copy_from(store, "dst/copy.csv", "dst/copy2.csv")
    assert store.read_bytes("dst/copy2.csv") == b"payload"
    store.delete("dst/copy.csv")
    assert not store.exists("dst/copy.csv")
    with pytest.raises(StorageError):
        store.read_bytes("dst/copy.csv")


@pytest.mark.parametrize("key", ["../escape", "a/../../b", "/etc/passwd", "", "a\x00b"])
def test_local_storage_refuses_keys_that_escape(tmp_path, key):
    with pytest.raises(UnsafeKeyError):
        LocalStorage(tmp_path).write_bytes(key, b"x")


def test_open_storage_urls(tmp_path):
    assert isinstance(open_storage(str(tmp_path)), LocalStorage)
    assert isinstance(open_storage(f"file://{tmp_path}"), LocalStorage)
    s3 = open_storage("s3://bucket/some/prefix")
    assert isinstance(s3, S3Storage) and (s3.bucket, s3.prefix) == ("bucket", "some/prefix/")
    for bad in ("s3://", "gs://bucket/x"):
        with pytest.raises(StorageError, match="Fix"):
            open_storage(bad)


def test_writes_into_an_object_lock_bucket(monkeypatch):
    """The raw bucket has Object Lock (GOVERNANCE): S3 refuses writes without a checksum there."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="airlock-landing")
        client.create_bucket(Bucket="airlock-raw", ObjectLockEnabledForBucket=True)
        client.put_object_lock_configuration(
            Bucket="airlock-raw",
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 365}},
            },
        )
        landing, raw = S3Storage("airlock-landing", client=client), S3Storage("airlock-raw", client=client)
        landing.write_bytes("a/b/1/f.csv", b"x,y\n")
        raw.copy_from(landing, "a/b/1/f.csv", "a/b/1/ts/f.csv")
        assert raw.write_bytes("a/b/1/_MANIFEST.json", b"{}", if_absent=True)
        assert not raw.write_bytes("a/b/1/_MANIFEST.json", b"{}", if_absent=True)
        assert raw.read_bytes("a/b/1/ts/f.csv") == b"x,y\n"


@pytest.fixture
def s3_client(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("s3", region_name="us-east-1")


def test_s3_slices_of_the_key_space_hold_every_key_once(s3_client):
    """Slices listed side by side (status at 1,000 tenants) must add up to the listing, whatever the keys."""
    s3_client.create_bucket(Bucket="airlock-test")
    s3_client.put_object(Bucket="airlock-test", Key="outside/t1/x.csv", Body=b"-")  # not under the store's prefix
    store = S3Storage("airlock-test", "pre", client=s3_client)
    keys = ["a", "t1", "t1/a.csv", "t1/b/c.csv", "t10/a.csv", "t1_x/a.csv", "t2", "t2/a.csv", "zz/a.csv"]
    for key in keys:
        store.write_bytes(key, b"1")
    everything = [o.key for o in store.list()]
    assert everything == sorted(keys)
    for bounds in (["t1"], ["t1", "t10", "t2"], ["b", "t1_x", "z"], ["t2", "zzz"]):
        edges = ["", *bounds]
        slices = [
            [o.key for o in store.list_slice(edge, edges[i + 1] if i + 1 < len(edges) else None)]
            for i, edge in enumerate(edges)
        ]
        assert [k for part in slices for k in part] == everything, (bounds, slices)
    assert [o.key for o in store.list_slice("t1", "t10/a.csv")] == ["t1/a.csv", "t1/b/c.csv", "t10/a.csv"]
