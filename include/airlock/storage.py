"""One storage interface over an S3 bucket and a local folder.

The same router, snapshot and quarantine code runs against AWS, the local AWS endpoint and a
plain directory: only the URL differs (`s3://bucket/prefix` or a path). Writes can be
conditional (create-only), which is what makes snapshots idempotent: S3 `If-None-Match: *`,
and an atomic hard link on a local disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from airlock.errors import StorageError, UnsafeKeyError

_TMP_PREFIX = ".airlock-tmp-"


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: datetime


def check_key(key: str) -> str:
    """Refuse keys that could escape their root when mapped to a path; return the key.

    Only what is dangerous for a path is refused here; what merely breaks a tenant contract
    (control characters, backslashes) is the landing module's business, so it can be quarantined.
    """
    if not key or key.startswith("/") or "\x00" in key:
        raise UnsafeKeyError(f"unsafe object key {key!r}: empty, absolute or NUL")
    if ".." in key.split("/"):
        raise UnsafeKeyError(f"unsafe object key {key!r}: '..' path segment")
    return key


class Storage(ABC):
    """A flat namespace of keys (`a/b/c.csv`) with create-only writes."""

    url: str

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object whose key starts with prefix, in key order."""

    @abstractmethod
    def head(self, key: str) -> ObjectInfo | None: ...

    @abstractmethod
    def open_read(self, key: str) -> BinaryIO:
        """A readable binary stream; the caller closes it."""

    @abstractmethod
    def write_bytes(self, key: str, data: bytes, *, if_absent: bool = False, kms_key_id: str | None = None) -> bool:
        """Write an object. With if_absent, return False (and write nothing) if it already exists."""

    @abstractmethod
    def delete(self, key: str) -> None: ...

    def read_bytes(self, key: str) -> bytes:
        with self.open_read(key) as stream:
            return stream.read()

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def copy_from(self, src: Storage, src_key: str, dst_key: str, *, kms_key_id: str | None = None) -> None:
        """Copy one object in (streamed through this process; subclasses copy server-side when they can)."""
        with src.open_read(src_key) as stream:
            self.write_bytes(dst_key, stream.read(), kms_key_id=kms_key_id)

    def download(self, key: str, dest: Path) -> Path:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with self.open_read(key) as stream, dest.open("wb") as out:
            shutil.copyfileobj(stream, out, 1024 * 1024)
        return dest


class LocalStorage(Storage):
    """A folder. Writes are atomic (temp file + rename/link), so readers never see half a file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = str(root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        # Walk only the folders the prefix can reach, with scandir's cached stats and string keys:
        # a sweep of one tenant stays cheap, and `airlock status` lists 75,000 objects in about a second.
        folder = prefix.rpartition("/")[0]
        base = self.root / folder if folder else self.root
        if not base.is_dir():
            return
        found: list[ObjectInfo] = []
        stack = [(str(base), f"{folder}/" if folder else "")]
        while stack:
            path, key_prefix = stack.pop()
            with os.scandir(path) as entries:
                for entry in entries:
                    key = key_prefix + entry.name
                    if entry.is_dir(follow_symlinks=False):
                        if key.startswith(prefix) or prefix.startswith(key + "/"):
                            stack.append((entry.path, key + "/"))
                    elif not entry.name.startswith(_TMP_PREFIX) and key.startswith(prefix):
                        stat = entry.stat(follow_symlinks=False)
                        found.append(ObjectInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC)))
        yield from sorted(found, key=lambda info: info.key)

    def head(self, key: str) -> ObjectInfo | None:
        try:
            stat = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return ObjectInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))

    def open_read(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except FileNotFoundError:
            raise StorageError(f"{self.url}: no object {key!r}") from None

    def write_bytes(self, key: str, data: bytes, *, if_absent: bool = False, kms_key_id: str | None = None) -> bool:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            if if_absent:
                try:
                    os.link(tmp, path)  # atomic create-only: fails if the key exists
                except FileExistsError:
                    return False
            else:
                Path(tmp).replace(path)
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):
                Path(tmp).unlink()

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()


class S3Storage(Storage):
    """A bucket (and optional key prefix), through boto3 from the Airflow AWS connection."""

    def __init__(self, bucket: str, prefix: str = "", client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}"
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from airlock.aws import client

            self._client = client("s3")
        return self._client

    def _full(self, key: str) -> str:
        return self.prefix + key

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._full(prefix)):
            for item in page.get("Contents", []):
                yield ObjectInfo(item["Key"][len(self.prefix) :], item["Size"], item["LastModified"])

    def head(self, key: str) -> ObjectInfo | None:
        from botocore.exceptions import ClientError

        try:
            meta = self.client.head_object(Bucket=self.bucket, Key=self._full(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise StorageError(f"{self.url}: cannot read {key!r}: {exc}") from None
        return ObjectInfo(key, meta["ContentLength"], meta["LastModified"])

    def open_read(self, key: str) -> BinaryIO:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._full(key))["Body"]
        except ClientError as exc:
            raise StorageError(f"{self.url}: cannot read {key!r}: {exc}") from None

    def _write_args(self, kms_key_id: str | None) -> dict[str, str]:
        """Encryption, and a checksum: S3 refuses writes without one into an Object Lock bucket (raw)."""
        args = {"ChecksumAlgorithm": "SHA256"}
        if kms_key_id:
            args.update(ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_key_id)
        return args

    def write_bytes(self, key: str, data: bytes, *, if_absent: bool = False, kms_key_id: str | None = None) -> bool:
        from botocore.exceptions import ClientError

        extra = {"IfNoneMatch": "*"} if if_absent else {}
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self._full(key), Body=data, **extra, **self._write_args(kms_key_id)
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if if_absent and code in ("PreconditionFailed", "ConditionalRequestConflict", "412"):
                return False
            raise StorageError(f"{self.url}: cannot write {key!r}: {exc}") from None
        return True

    def copy_from(self, src: Storage, src_key: str, dst_key: str, *, kms_key_id: str | None = None) -> None:
        if not isinstance(src, S3Storage):
            super().copy_from(src, src_key, dst_key, kms_key_id=kms_key_id)
            return
        from botocore.exceptions import ClientError

        # Managed copy: server-side, multipart above 8 MB, so large files never pass through Airflow.
        try:
            self.client.copy(
                {"Bucket": src.bucket, "Key": src._full(src_key)},
                self.bucket,
                self._full(dst_key),
                ExtraArgs=self._write_args(kms_key_id),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "MissingUploadObjectWithObjectLockHeaders":
                # An Object Lock bucket may insist on a checksum header that a server-side copy
                # cannot carry (the local endpoint does): copy through this process instead.
                super().copy_from(src, src_key, dst_key, kms_key_id=kms_key_id)
                return
            raise StorageError(f"cannot copy {src.url}{src_key} to {self.url}{dst_key}: {exc}") from None

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._full(key))


def read_json(store: Storage, key: str) -> dict[str, Any] | None:
    """A JSON marker or manifest, or None if absent."""
    if store.head(key) is None:
        return None
    return json.loads(store.read_bytes(key))


def write_json(store: Storage, key: str, doc: dict[str, Any], *, if_absent: bool = False) -> bool:
    return store.write_bytes(key, json.dumps(doc, indent=2, sort_keys=True, default=str).encode(), if_absent=if_absent)


def open_storage(url: str, client: Any = None) -> Storage:
    """`s3://bucket/prefix` → S3Storage; `file:///path` or a plain path → LocalStorage."""
    if url.startswith("s3://"):
        bucket, _, prefix = url[5:].partition("/")
        if not bucket:
            raise StorageError(f"{url!r}: no bucket name. Fix: write s3://<bucket>[/prefix].")
        return S3Storage(bucket, prefix, client)
    if "://" in url and not url.startswith("file://"):
        raise StorageError(f"{url!r}: unsupported scheme. Fix: use s3://bucket/prefix or a local folder path.")
    return LocalStorage(Path(url.removeprefix("file://")))
