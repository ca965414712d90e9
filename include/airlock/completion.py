"""When is a batch complete? The tenant contract's completion rule, applied to what landed.

A snapshot is final: a file that lands after it is quarantined as `after_snapshot`. So a batch
is called complete only when its contract says nothing more will come, by one of three rules
(docs/tenants.md#completion):

- settle (default): every required file is in, and no file of the batch arrived for the settle
  window; at once when every file the contract names is in and none is a glob;
- control_file: the tenant's control file (`_SUCCESS`, or a manifest of files and checksums) is in;
- count: the expected number of files per table is in.

Pure functions of a listing and a clock, so each rule is tested without storage or Airflow.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from airlock.landing import BatchFiles
from airlock.tenants import DataflowContract

_SHA256_LINE = re.compile(r"^(?P<sha256>[0-9a-fA-F]{64}) [ *](?P<file>[^/\r\n]+?)\r?$")
MAX_CONTROL_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Verdict:
    """Whether a batch is complete now; if not, what it waits for and when to look again."""

    complete: bool
    detail: str
    recheck_at: datetime | None = None
    """Settle rule: the moment the batch completes if nothing else arrives."""
    listed: dict[str, str | None] | None = None
    """Control file with a manifest: file name -> sha256 (None if the manifest gives none)."""


@dataclass
class ControlManifest:
    """What a control file that lists the batch says: file name -> sha256 (or None)."""

    files: dict[str, str | None] = field(default_factory=dict)


class ControlFileError(ValueError):
    """The control file cannot be read as a manifest; the message says why."""


def parse_control_manifest(data: bytes) -> ControlManifest:
    """Read a control manifest: JSON `{"files": [{"file": ..., "sha256": ...}]}`, or `sha256sum` output.

    `sha256sum orders.csv customers.csv > _MANIFEST` and a JSON document are both what tenants'
    tools write; anything else is refused with the reason, and the control file is quarantined.
    """
    if len(data) > MAX_CONTROL_BYTES:
        raise ControlFileError(f"{len(data)} bytes; a control manifest is at most {MAX_CONTROL_BYTES}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ControlFileError(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if text.lstrip().startswith("{"):
        return _json_manifest(text)
    files: dict[str, str | None] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _SHA256_LINE.match(line)
        if match is None:
            raise ControlFileError(f"line {number} is not '<sha256>  <file name>' (sha256sum's output)")
        files[match.group("file")] = match.group("sha256").lower()
    if not files:
        raise ControlFileError("it lists no files")
    return ControlManifest(files)


def _json_manifest(text: str) -> ControlManifest:
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ControlFileError(f"not valid JSON ({exc})") from None
    entries = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ControlFileError('expected {"files": [{"file": "<name>", "sha256": "<hex>"}, ...]}')
    files: dict[str, str | None] = {}
    for i, entry in enumerate(entries):
        name = entry.get("file") if isinstance(entry, dict) else None
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name or "/" in name:
            raise ControlFileError(f"files[{i}].file is not a file name")
        if digest is not None and not (isinstance(digest, str) and re.fullmatch(r"[0-9a-fA-F]{64}", digest)):
            raise ControlFileError(f"files[{i}].sha256 is not 64 hex digits")
        files[name] = digest.lower() if digest else None
    return ControlManifest(files)


def _missing(files: BatchFiles, contract: DataflowContract) -> list[str]:
    return files.missing_tables(contract.required_tables)


def assess(
    files: BatchFiles,
    contract: DataflowContract,
    now: datetime,
    *,
    control: ControlManifest | None = None,
) -> Verdict:
    """Apply the contract's completion rule to the batch's files as they are now.

    For the control_file rule with `manifest: true`, the caller reads and parses the control file
    and passes it as `control`; files it lists must all be present (checksums are checked when
    the files are validated).
    """
    rule = contract.completion
    if rule.rule == "control_file":
        return _control_file(files, contract, control)
    if rule.rule == "count":
        return _count(files, contract)
    return _settle(files, contract, now)


def _settle(files: BatchFiles, contract: DataflowContract, now: datetime) -> Verdict:
    if missing := _missing(files, contract):
        return Verdict(False, f"waiting for {missing}")
    present = set(files.counts())
    if present >= {f.table for f in contract.files} and not any(f.is_glob for f in contract.files):
        return Verdict(True, "every file the contract names is in")
    last = files.last_activity
    window = contract.completion.settle
    if last is None or now - last >= window:
        return Verdict(True, f"no file arrived for {window}")
    until = last + window
    return Verdict(False, f"settling: complete at {until.isoformat()} if nothing else arrives", recheck_at=until)


def _count(files: BatchFiles, contract: DataflowContract) -> Verdict:
    have = files.counts()
    short = {
        f.table: need - have.get(f.table, 0)
        for f in contract.files
        if (need := contract.expected_count(f.table)) > have.get(f.table, 0)
    }
    if short:
        return Verdict(False, "waiting for " + ", ".join(f"{n} more {t} file(s)" for t, n in sorted(short.items())))
    return Verdict(True, "the expected number of files is in")


def _control_file(files: BatchFiles, contract: DataflowContract, control: ControlManifest | None) -> Verdict:
    name = contract.completion.control_file
    if not files.controls:
        return Verdict(False, f"waiting for the control file {name}")
    if contract.completion.manifest:
        if control is None:
            return Verdict(False, f"waiting for a readable control manifest {name}")
        present = {a.file for a in files.arrivals}
        if absent := sorted(set(control.files) - present):
            return Verdict(False, f"waiting for {absent}, listed in {name}", listed=control.files)
        if missing := _missing(files, contract):
            return Verdict(
                False, f"waiting for {missing}: required, but {name} does not list them", listed=control.files
            )
        return Verdict(True, f"{name} is in and every file it lists is present", listed=control.files)
    if missing := _missing(files, contract):
        return Verdict(False, f"waiting for {missing} (the control file {name} is in)")
    return Verdict(True, f"the control file {name} is in")


def settle_wait(recheck_at: datetime, now: datetime, limit: timedelta) -> float | None:
    """Seconds until a settling batch completes, if that is within `limit` (worth waiting for in-task)."""
    seconds = (recheck_at - now).total_seconds()
    return max(seconds, 0.0) if seconds <= limit.total_seconds() else None
