"""Check a landed file's contents against its contract, in one streaming pass.

The same pass yields what the snapshot manifest records (sha256, size, rows), so a file is read
once whether it turns out good or bad. A bad file yields a `FileProblem` (reason + detail), which
the intake quarantines; a traceback is never the answer to bad input.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from airlock.landing import Reason
from airlock.tenants import FileContract, FileFormat


@dataclass(frozen=True)
class FileFacts:
    """What the manifest records about a good file."""

    size: int
    sha256: str
    rows: int


@dataclass(frozen=True)
class FileProblem:
    reason: Reason
    detail: str


class _Hashing(io.RawIOBase):
    """A read-through wrapper that hashes and counts what passes, enforcing the size limit."""

    def __init__(self, stream: BinaryIO, limit: int) -> None:
        self.stream, self.limit = stream, limit
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        chunk = self.stream.read(len(buffer))
        self.size += len(chunk)
        if self.size > self.limit:
            raise _Oversize
        self.digest.update(chunk)
        buffer[: len(chunk)] = chunk
        return len(chunk)


class _Oversize(Exception):
    pass


class _Bad(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        self.problem = FileProblem(reason, detail)


def _lines(text: io.TextIOBase) -> Iterator[str]:
    try:
        yield from text
    except UnicodeDecodeError as exc:
        raise _Bad(Reason.UNDECODABLE, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _check_csv(text: io.TextIOBase, columns: list[str]) -> int:
    lines = _lines(text)
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        raise _Bad(Reason.EMPTY, "the file holds only blank lines")
    if first.lstrip().startswith(("{", "[")):
        raise _Bad(Reason.WRONG_FORMAT, "looks like JSON, but the contract says csv")
    header = next(csv.reader([first]))
    header = [h.strip() for h in header]
    if missing := [c for c in columns if c not in header]:
        raise _Bad(Reason.WRONG_COLUMNS, f"header {header} lacks {missing}")
    rows = 0
    for number, row in enumerate(csv.reader(lines), start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise _Bad(Reason.WRONG_FORMAT, f"line {number} has {len(row)} fields, the header has {len(header)}")
        rows += 1
    return rows


def _check_jsonl(text: io.TextIOBase, columns: list[str]) -> int:
    rows = 0
    for number, line in enumerate(_lines(text), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _Bad(Reason.WRONG_FORMAT, f"line {number} is not JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise _Bad(Reason.WRONG_FORMAT, f"line {number} is not a JSON object")
        if missing := [c for c in columns if c not in record]:
            raise _Bad(Reason.WRONG_COLUMNS, f"line {number} lacks {missing}")
        rows += 1
    if rows == 0:
        raise _Bad(Reason.EMPTY, "the file holds only blank lines")
    return rows


def check_file(stream: BinaryIO, contract: FileContract, columns: list[str]) -> FileFacts | FileProblem:
    """Validate one file's bytes; return its facts or the problem that sends it to quarantine."""
    hashing = _Hashing(stream, int(contract.max_bytes))
    text = io.TextIOWrapper(io.BufferedReader(hashing), encoding="utf-8-sig", newline="")
    try:
        check = _check_csv if contract.format is FileFormat.CSV else _check_jsonl
        rows = check(text, columns)
        if hashing.size == 0:
            return FileProblem(Reason.EMPTY, "the file has zero bytes")
    except _Bad as bad:
        if hashing.size == 0:
            return FileProblem(Reason.EMPTY, "the file has zero bytes")
        return bad.problem
    except _Oversize:
        return FileProblem(Reason.OVERSIZE, f"larger than the contract's max_bytes ({int(contract.max_bytes)})")
    except csv.Error as exc:
        return FileProblem(Reason.WRONG_FORMAT, f"not parseable as csv: {exc}")
    return FileFacts(size=hashing.size, sha256=hashing.digest.hexdigest(), rows=rows)
