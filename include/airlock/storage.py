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

from airlock.errors import StorageError, StorageNotFound, UnsafeKeyError

_TMP_PREFIX = ".airlock-tmp-"
MAX_KEY_BYTES = 1024
"""S3's limit on an object key, in UTF-8 bytes."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: datetime
    etag: str | None = None
    """Names this version of the object (S3's ETag; size and mtime in ns on a disk): a re-upload differs."""


def _local_etag(stat: os.stat_result) -> str:
    return f"{stat.st_mtime_ns:x}-{stat.st_size:x}"


def key_problem(key: object) -> str | None:
    """Why `key` cannot name an object in any store (None if it can): checked before any lookup."""
    if not isinstance(key, str):
        return f"the key is a {type(key).__name__}, not a string"
    if not key:
        return "the key is empty"
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return "the key is not valid Unicode (a lone surrogate)"
    if size > MAX_KEY_BYTES:
        return f"the key is {size} bytes; object keys are at most {MAX_KEY_BYTES}"
    if "\x00" in key:
        return "the key contains a NUL character"
    return None


def _path_problem(key: str) -> str | None:
    """What stops a key from being a path under a folder root (None if nothing).

    Unlike S3, a folder may hold names that are not UTF-8: Python lists them with surrogate
    escapes, and such a key must stay addressable so that its file can be quarantined.
    """
    if not key:
        return "the key is empty"
    if "\x00" in key:
        return "the key contains a NUL character"
    if key.startswith("/"):
        return "an absolute key"
    if any(part in ("", ".", "..") for part in key.split("/")):
        # '..' escapes the root; '' and '.' alias another path ('a//b' and 'a/./b' are 'a/b')
        return "an empty, '.' or '..' path segment"
    return None


def check_key(key: str) -> str:
    """Refuse keys that could escape their root when mapped to a path; return the key.

    Only what is dangerous for a path is refused here; what merely breaks a tenant contract
    (control characters, backslashes) is the landing module's business, so it can be quarantined.
    """
    if problem := _path_problem(key):
        raise UnsafeKeyError(f"unsafe object key {key!r}: {problem}")
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
    def delete(self, key: str, *, if_etag: str | None = None) -> bool:
        """Delete an object; with if_etag, only that version of it. False if it changed (or is gone)."""

    @abstractmethod
    def top_level(self) -> tuple[list[str], list[ObjectInfo]]:
        """The first-level prefixes (`acme/`, `Acme/`, `/`) and the objects at the root, without recursing."""

    def unaddressable(self, key: object) -> str | None:
        """Why this store cannot hold `key` (None if it can): a hint's key is checked before a lookup."""
        return key_problem(key)

    def locate(self, bucket: str, object_key: str) -> str | None:
        """The key in this store of an object a notification names (bucket + full key), or None."""
        return object_key

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

    def unaddressable(self, key: object) -> str | None:
        return _path_problem(key) if isinstance(key, str) else key_problem(key)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        # Walk only the folders the prefix can reach, with scandir's cached stats and string keys:
        # a sweep of one tenant stays cheap, and `airlock status` lists 75,000 objects in about a second.
        folder = prefix.rpartition("/")[0]
        if folder and _path_problem(folder):
            return
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
                        found.append(
                            ObjectInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC), _local_etag(stat))
                        )
        yield from sorted(found, key=lambda info: info.key)

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            stat = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise StorageError(f"{self.url}: cannot read {key!r}: {exc}") from None
        if not path.is_file():
            return None  # a folder is not an object
        return ObjectInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC), _local_etag(stat))

    def open_read(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise StorageNotFound(f"{self.url}: no object {key!r}") from None
        except OSError as exc:
            raise StorageError(f"{self.url}: cannot read {key!r}: {exc}") from None

    def write_bytes(self, key: str, data: bytes, *, if_absent: bool = False, kms_key_id: str | None = None) -> bool:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=path.parent)
        except OSError as exc:  # e.g. a file where the key needs a folder (NotADirectoryError)
            raise StorageError(f"{self.url}: cannot write {key!r}: {exc}") from None
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
        except OSError as exc:
            raise StorageError(f"{self.url}: cannot write {key!r}: {exc}") from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                Path(tmp).unlink()

    def delete(self, key: str, *, if_etag: str | None = None) -> bool:
        path = self._path(key)
        try:
            if if_etag is not None and _local_etag(path.stat()) != if_etag:
                return False  # replaced since it was listed: the new file is someone's upload
            path.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as exc:
            raise StorageError(f"{self.url}: cannot delete {key!r}: {exc}") from None
        return True

    def top_level(self) -> tuple[list[str], list[ObjectInfo]]:
        prefixes, objects = [], []
        if not self.root.is_dir():
            return prefixes, objects
        with os.scandir(self.root) as entries:
            for entry in entries:
                if entry.name.startswith(_TMP_PREFIX):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    prefixes.append(entry.name + "/")
                else:
                    stat = entry.stat(follow_symlinks=False)
                    when = datetime.fromtimestamp(stat.st_mtime, UTC)
                    objects.append(ObjectInfo(entry.name, stat.st_size, when, _local_etag(stat)))
        return sorted(prefixes), sorted(objects, key=lambda o: o.key)


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

    def locate(self, bucket: str, object_key: str) -> str | None:
        """Strip this store's prefix: a notification names the full key (`prefix/acme/...`)."""
        if bucket != self.bucket or not object_key.startswith(self.prefix):
            return None
        return object_key[len(self.prefix) :] or None

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        with _s3_errors(f"{self.url}: cannot list {prefix!r}"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._full(prefix)):
                for item in page.get("Contents", []):
                    yield ObjectInfo(
                        item["Key"][len(self.prefix) :], item["Size"], item["LastModified"], item.get("ETag")
                    )

    def list_slice(self, after: str, through: str | None) -> Iterator[ObjectInfo]:
        """The keys k with after < k <= through (through None: to the end), in key order.

        A listing is a chain of 1,000-key pages, each asked for after the last: 55 round trips for a
        root of 55,000 keys. Slices that partition the key space ("" < k <= b1, b1 < k <= b2, ...,
        bn < k) can be listed side by side, and together hold every key exactly once.
        """
        paginator = self.client.get_paginator("list_objects_v2")
        args = {"Bucket": self.bucket, "Prefix": self.prefix}
        if after:
            args["StartAfter"] = self._full(after)
        with _s3_errors(f"{self.url}: cannot list from {after!r}"):
            for page in paginator.paginate(**args):
                for item in page.get("Contents", []):
                    key = item["Key"][len(self.prefix) :]
                    if through is not None and key > through:
                        return
                    yield ObjectInfo(key, item["Size"], item["LastModified"], item.get("ETag"))

    def top_level(self) -> tuple[list[str], list[ObjectInfo]]:
        prefixes: list[str] = []
        objects: list[ObjectInfo] = []
        paginator = self.client.get_paginator("list_objects_v2")
        with _s3_errors(f"{self.url}: cannot list the top level"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix, Delimiter="/"):
                prefixes += [p["Prefix"][len(self.prefix) :] for p in page.get("CommonPrefixes", [])]
                objects += [
                    ObjectInfo(o["Key"][len(self.prefix) :], o["Size"], o["LastModified"], o.get("ETag"))
                    for o in page.get("Contents", [])
                ]
        return prefixes, objects

    def head(self, key: str) -> ObjectInfo | None:
        from botocore.exceptions import ClientError

        try:
            with _s3_errors(f"{self.url}: cannot read {key!r}", passthrough=ClientError):
                meta = self.client.head_object(Bucket=self.bucket, Key=self._full(key))
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise StorageError(f"{self.url}: cannot read {key!r}: {exc}") from None
        return ObjectInfo(key, meta["ContentLength"], meta["LastModified"], meta.get("ETag"))

    def open_read(self, key: str) -> BinaryIO:
        from botocore.exceptions import ClientError

        try:
            with _s3_errors(f"{self.url}: cannot read {key!r}", passthrough=ClientError):
                return self.client.get_object(Bucket=self.bucket, Key=self._full(key))["Body"]
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                raise StorageNotFound(f"{self.url}: no object {key!r}") from None
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
            with _s3_errors(f"{self.url}: cannot write {key!r}", passthrough=ClientError):
                self.client.put_object(
                    Bucket=self.bucket, Key=self._full(key), Body=data, **extra, **self._write_args(kms_key_id)
                )
        except ClientError as exc:
            if if_absent and _code(exc) in ("PreconditionFailed", "ConditionalRequestConflict", "412"):
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
            with _s3_errors(f"cannot copy {src.url}{src_key} to {self.url}{dst_key}", passthrough=ClientError):
                self.client.copy(
                    {"Bucket": src.bucket, "Key": src._full(src_key)},
                    self.bucket,
                    self._full(dst_key),
                    ExtraArgs=self._write_args(kms_key_id),
                )
        except ClientError as exc:
            if _code(exc) == "MissingUploadObjectWithObjectLockHeaders":
                # An Object Lock bucket may insist on a checksum header that a server-side copy
                # cannot carry (the local endpoint does): copy through this process instead.
                super().copy_from(src, src_key, dst_key, kms_key_id=kms_key_id)
                return
            raise StorageError(f"cannot copy {src.url}{src_key} to {self.url}{dst_key}: {exc}") from None

    def delete(self, key: str, *, if_etag: str | None = None) -> bool:
        from botocore.exceptions import ClientError

        condition = {"IfMatch": if_etag} if if_etag else {}
        try:
            with _s3_errors(f"{self.url}: cannot delete {key!r}", passthrough=ClientError):
                self.client.delete_object(Bucket=self.bucket, Key=self._full(key), **condition)
        except ClientError as exc:
            if _code(exc) in ("PreconditionFailed", "412", "NoSuchKey", "404"):
                return False  # replaced or removed since it was listed
            raise StorageError(f"{self.url}: cannot delete {key!r}: {exc}") from None
        return True


def _code(exc: Any) -> str | None:
    return exc.response.get("Error", {}).get("Code")


@contextlib.contextmanager
def _s3_errors(what: str, passthrough: type[BaseException] | None = None) -> Iterator[None]:
    """Turn boto errors (an endpoint down, a refused request) into StorageError naming the operation."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except BotoCoreError as exc:
        raise StorageError(f"{what}: {exc}") from None
    except ClientError as exc:
        if passthrough is not None and isinstance(exc, passthrough):
            raise
        raise StorageError(f"{what}: {exc}") from None


def read_json(store: Storage, key: str) -> dict[str, Any] | None:
    """A JSON marker or manifest, or None if absent: one GET, no HEAD first."""
    try:
        data = store.read_bytes(key)
    except StorageNotFound:
        return None
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise StorageError(f"{store.url}{key}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise StorageError(f"{store.url}{key}: expected a JSON object")
    return doc


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
